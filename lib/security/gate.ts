/**
 * The one gate every service's traffic passes, so each service gets access
 * control, the shared secret and TLS without code of its own. It implements
 * the gates the network layer asks for:
 * - TcpService asks admit() before anything else (a refused peer is closed at
 *   once, no byte sent), then handshake() (TLS, then the AUTH line) before
 *   the service's handler sees the connection;
 * - UdpService passes each datagram through screen(), which drops refused
 *   peers, checks and strips the AUTH line, and hands back the request.
 * On SIGHUP, reload() re-reads the files its settings came from (--allow and
 * --deny @FILE, --token-file, the TLS pair) without touching open connections.
 * The AUTH exchange itself is server_auth.ts; what it counts, status.ts.
 */
import { importLazily } from "../base/lazy_import.ts";
import { Deadline, TIMED_OUT } from "../base/deadline.ts";
import { RuntimeError } from "../base/errors.ts";
import type { Logger } from "../base/logger.ts";
import { RateLimiter } from "../base/rate_limit.ts";
import type { StatusSection } from "../base/status.ts";
import { encode } from "../base/text.ts";
import { formatAddr } from "../net/address.ts";
import { ipKey, parseIp } from "../net/ip.ts";
import type { TlsKeyPair } from "../net/listen.ts";
import type { PerAddressLimit } from "../net/per_address.ts";
import type { TcpGate } from "../net/tcp_service.ts";
import type { TrackedConn } from "../net/tracked_conn.ts";
import type { AdmittedDatagram, RefusedDatagram, UdpGate } from "../net/udp_service.ts";
import { readFlagFile } from "../base/flag_file.ts";
import {
  AccessPolicy,
  type AccessRule,
  formatRule,
  parseAccessFile,
  ruleMatches,
} from "./access.ts";
import type { SecurityConfig } from "./config.ts";
import { DATAGRAM_AUTH_FAILED, DATAGRAM_AUTH_REQUIRED, splitDatagram } from "./protocol.ts";
import { authenticate, COOLING_DOWN } from "./server_auth.ts";
import { type GateCounters, securityStatus } from "./status.ts";
import { readKeyPair } from "./server_tls.ts";
import type { Token } from "./token_check.ts";
import { readToken } from "./token.ts";

/**
 * How fast an address regains failed authentications after using up
 * --max-auth-failures: one every 6 s.
 */
export const AUTH_FAILURE_RATE = 1 / 6;

/** What a Gate is built from; see {@link createGate}. */
export interface GateParts {
  access: AccessPolicy;
  token: Token | null;
  tls: TlsKeyPair | null;
  /** Milliseconds for the TLS handshake and the AUTH line. */
  authTimeout: number;
  /** Connections per TCP service from one address; 0: no limit; "auto": a fair share. */
  maxConnsPerIp: PerAddressLimit;
  /** Failed authentications in a burst before an address cools down; 0: no limit. */
  maxAuthFailures: number;
  /** Load balancers that send a PROXY protocol header (--proxy-protocol). */
  proxyFrom?: AccessRule[];
  /** Clock in milliseconds for the failure budget and the datagram refusals (default performance.now), for tests. */
  now?: () => number;
}

/** The server's access control, shared secret and TLS, in one place. */
export class Gate implements TcpGate, UdpGate {
  readonly authTimeout: number;
  readonly maxConnsPerIp: PerAddressLimit;
  #tls: TlsKeyPair | null;
  #rebinds: ((tls: TlsKeyPair) => Promise<void>)[] = [];
  #access: AccessPolicy;
  #proxyFrom: AccessRule[];
  #token: Token | null;
  #counters: GateCounters = {
    refusedConnections: 0,
    refusedDatagrams: 0,
    authFailures: 0,
    tlsFailures: 0,
  };
  #log: Logger;
  #failures: RateLimiter;
  // Refusals to datagrams are tiny, but still rate-limited per source so a
  // flood of unauthenticated datagrams costs a few replies, not one each.
  #datagramReplies: RateLimiter;
  #required = encode(DATAGRAM_AUTH_REQUIRED);
  #failed = encode(DATAGRAM_AUTH_FAILED);

  constructor(parts: GateParts, log: Logger) {
    this.#tls = parts.tls;
    this.authTimeout = parts.authTimeout;
    this.maxConnsPerIp = parts.maxConnsPerIp;
    this.#access = parts.access;
    this.#proxyFrom = parts.proxyFrom ?? [];
    this.#token = parts.token;
    this.#log = log;
    // A rate of 0 turns the limiter off: no lockout.
    this.#failures = new RateLimiter({
      rate: parts.maxAuthFailures > 0 ? AUTH_FAILURE_RATE : 0,
      burst: parts.maxAuthFailures,
      ...(parts.now && { now: parts.now }),
    });
    this.#datagramReplies = new RateLimiter({
      rate: 2,
      burst: 4,
      ...(parts.now && { now: parts.now }),
    });
  }

  /** Certificate and key now (a reload may replace them); null: plain TCP. */
  get tls(): TlsKeyPair | null {
    return this.#tls;
  }

  /** True when clients must present the token. */
  get tokenRequired(): boolean {
    return this.#token !== null;
  }

  onTlsChange(rebind: (tls: TlsKeyPair) => Promise<void>): void {
    this.#rebinds.push(rebind);
  }

  /**
   * Re-reads what came from files: --allow/--deny @FILE, --token-file and the
   * TLS pair, each on its own: one that cannot be read or used keeps its old
   * value and says why. Open connections and sessions are not touched (they
   * were admitted, authenticated or handshaken under the old settings).
   * Resolves to the lines for the log: what changed, what was kept and why,
   * once every listener with an old certificate is closed. Never rejects.
   */
  async reload(config: SecurityConfig): Promise<string[]> {
    const lines: string[] = [];
    const say = (line: string) => lines.push(`[Server] SIGHUP: ${line}`);
    const keep = (what: string, error: unknown) =>
      say(`kept the old ${what}: ${error instanceof Error ? error.message : String(error)}`);

    if (config.allowFile !== null || config.denyFile !== null) {
      try {
        const access = readAccess(config);
        for (
          const [flag, before, after] of [
            ["allow", this.#access.allow, access.allow],
            ["deny", this.#access.deny, access.deny],
          ] as const
        ) {
          if (sameRules(before, after)) continue;
          say(`--${flag} now ${describeRules(after)} (was ${describeRules(before)})`);
        }
        this.#access = access;
      } catch (error) {
        keep("--allow/--deny lists", error);
      }
    }

    if (config.tokenFile !== null) {
      try {
        const found = readToken(config.tokenFile);
        const token = await newToken(found!.secret);
        for (const warning of found!.warnings) say(`warning: ${warning}`);
        if (this.#token === null || !this.#token.equals(token)) {
          say(`new token from ${found!.source}; open sessions keep going`);
        }
        this.#token = token;
      } catch (error) {
        keep("token", error);
      }
    }

    if (config.tls !== null && this.#tls !== null) {
      let rebound = 0;
      try {
        const tls = readKeyPair(config.tls);
        if (tls.cert !== this.#tls.cert || tls.key !== this.#tls.key) {
          // Each TLS service opens a listener with the new pair beside its
          // old one; the first proves the pair usable, and if it cannot, every
          // service keeps the old pair.
          for (const rebind of this.#rebinds) {
            await rebind(tls);
            rebound++;
          }
          this.#tls = tls;
          say(
            `new TLS certificate from --tls-cert "${config.tls.certFile}"; open sessions keep going`,
          );
        }
      } catch (error) {
        keep(
          rebound === 0
            ? "TLS certificate"
            : `TLS certificate on ${
              this.#rebinds.length - rebound
            } of ${this.#rebinds.length} services`,
          error,
        );
      }
    }
    const files = config.allowFile ?? config.denyFile ?? config.tokenFile ?? config.tls;
    if (files === null) {
      say("nothing to re-read (no --token-file, --allow/--deny @FILE or TLS files)");
    } else if (lines.length === 0) say("nothing changed");
    return lines;
  }

  /** The refusals and failures counted so far. */
  status(): StatusSection {
    return securityStatus(this.#counters);
  }

  /**
   * Whether a new TCP connection from `remote` may proceed. A refusal is
   * counted (refusedConnections) and logged; the caller closes the socket.
   */
  proxied(remote: Deno.NetAddr): boolean {
    if (this.#proxyFrom.length === 0) return false;
    const address = parseIp(remote.hostname);
    return address !== null && this.#proxyFrom.some((rule) => ruleMatches(rule, address));
  }

  admit(remote: Deno.NetAddr, label: string): boolean {
    const refusal = this.#access.check(remote.hostname);
    if (refusal !== null) {
      this.#counters.refusedConnections++;
      const why = refusal === "denied" ? "matches --deny" : "not in --allow";
      this.#log.repeated(
        `${label} refused ${why}`,
        "event",
        () => `${label} Refused ${formatAddr(remote)}: ${why}`,
        (n, s) => `${label} Refused ${n} more connections in ${s}s: ${why}`,
      );
      return false;
    }
    if (this.#token !== null && !this.#failures.peek(ipKey(remote.hostname))) {
      this.#counters.refusedConnections++;
      this.#log.repeated(
        `${label} refused cooling down`,
        "event",
        () => `${label} Refused ${formatAddr(remote)}: ${COOLING_DOWN}`,
        (n, s) => `${label} Refused ${n} more connections in ${s}s: ${COOLING_DOWN}`,
      );
      return false;
    }
    return true;
  }

  /**
   * Runs what must happen before a service sees a connection: the TLS
   * handshake, then the AUTH exchange, within --auth-timeout in all. Resolves
   * to true when the connection may proceed; on false the caller closes it
   * (the peer has been told why when it could be).
   */
  async handshake(tracked: TrackedConn, label: string): Promise<boolean> {
    if (this.tls === null && this.#token === null) return true;
    const deadline = new Deadline(this.authTimeout);
    try {
      if (this.tls !== null && !(await this.#tlsHandshake(tracked, label, deadline))) return false;
      if (this.#token === null) return true;
      return await authenticate(tracked, {
        token: this.#token,
        deadline,
        authTimeout: this.authTimeout,
        failures: this.#failures,
        log: this.#log,
        label,
        onFailure: () => this.#counters.authFailures++,
      });
    } finally {
      deadline.clear();
    }
  }

  /**
   * Checks a token presented over HTTP (a Bearer header or the web login
   * cookie) by a peer at `host`, under the same failure budget as the AUTH
   * line: "ok", "missing" (nothing presented, not counted), "failed"
   * (counted, logged) or "cooling" (the address used up its budget).
   * Without a token every request is "ok".
   */
  checkToken(presented: string | null, host: string, label: string): TokenVerdict {
    if (this.#token === null) return "ok";
    if (presented === null || presented === "") return "missing";
    const address = ipKey(host);
    if (!this.#failures.peek(address)) return "cooling";
    if (this.#token.matches(presented)) return "ok";
    this.#counters.authFailures++;
    this.#failures.allow(address);
    this.#log.repeated(
      `${label} auth failed: wrong token`,
      "info",
      () => `${label} Authentication failed for ${host}: wrong token`,
      (n, s) => `${label} ${n} more failed authentications in ${s}s: wrong token`,
    );
    return "failed";
  }

  /**
   * Screens one datagram: the request to serve, or a refusal: a refused peer
   * (counted, nothing sent back), or a missing or wrong token (counted; a
   * short, rate-limited refusal to send back).
   */
  screen(data: Uint8Array, from: Deno.NetAddr, label: string): AdmittedDatagram | RefusedDatagram {
    if (this.#access.check(from.hostname) !== null) {
      this.#counters.refusedDatagrams++;
      return { admitted: false, reply: null };
    }
    const { token, payload } = splitDatagram(data);
    // Without a token of its own the server still strips an AUTH line, so a
    // client's secret never reaches a log.
    if (this.#token === null) return { admitted: true, payload, authenticated: false };
    if (token !== null && this.#token.matches(token)) {
      return { admitted: true, payload, authenticated: true };
    }
    this.#counters.authFailures++;
    if (!this.#datagramReplies.allow(ipKey(from.hostname))) return { admitted: false, reply: null };
    const why = token === null ? "no token" : "wrong token";
    this.#log.repeated(
      `${label} datagram auth failed`,
      "info",
      () => `${label} Authentication failed for ${formatAddr(from)}: ${why}`,
      (n, s) => `${label} ${n} more datagrams failed authentication in ${s}s`,
    );
    return {
      admitted: false,
      reply: token === null ? this.#required : this.#failed,
    };
  }

  async #tlsHandshake(tracked: TrackedConn, label: string, deadline: Deadline): Promise<boolean> {
    const conn = tracked.conn as Deno.TlsConn;
    const handshake = conn.handshake();
    tracked.handshaking = true;
    try {
      const done = await deadline.race(handshake);
      if (done !== TIMED_OUT) return true;
      this.#tlsFailed(tracked, label, `not done within ${this.authTimeout} ms`, true);
      // Deno cannot abort an unfinished handshake: a close now would leave the
      // socket open, uncounted, until the peer acts. So the connection keeps
      // its place (under --max-conns and --max-conns-per-ip) until then.
      await handshake.catch(() => {});
      return false;
    } catch (error) {
      this.#tlsFailed(tracked, label, error instanceof Error ? error.message : String(error));
      return false;
    } finally {
      tracked.handshaking = false;
    }
  }

  #tlsFailed(tracked: TrackedConn, label: string, detail: string, late = false): void {
    this.#counters.tlsFailures++;
    const kind = late ? "not done in time" : "failed";
    this.#log.repeated(
      `${label} TLS ${kind}`,
      "event",
      () => `${label} TLS handshake with ${tracked.peer} failed: ${detail}`,
      (n, s) => `${label} ${n} more TLS handshakes ${kind} in ${s}s`,
    );
  }
}

/** What {@link Gate.checkToken} decided. */
export type TokenVerdict = "ok" | "missing" | "failed" | "cooling";

/** Startup notes for the log, and the gate itself. */
export interface CreatedGate {
  gate: Gate;
  /** Lines for the server log: what is enforced. */
  notes: string[];
  /** Things the operator should fix (printed as warnings). */
  warnings: string[];
}

/**
 * Builds the gate from the parsed flags: reads the token (--token-file or
 * SOCKETKIT_TOKEN) and the TLS files. Throws RuntimeError when one cannot be
 * read or used, before any service binds.
 */
export async function createGate(config: SecurityConfig, log: Logger): Promise<CreatedGate> {
  const found = readToken(config.tokenFile ?? undefined);
  const tls = config.tls === null ? null : readKeyPair(config.tls);
  const access = readAccess(config);
  const notes: string[] = [];
  const warnings = found?.warnings ?? [];
  if (tls !== null) notes.push("[Server] TCP services speak TLS");
  if (found !== null) notes.push(`[Server] Clients must authenticate (token from ${found.source})`);
  if (access.allowOnly) {
    notes.push(`[Server] Only peers in --allow: ${describeRules(access.allow)}`);
  }
  if (access.deny.length > 0) {
    notes.push(`[Server] Refusing peers in --deny: ${describeRules(access.deny)}`);
  }
  if (config.proxyFrom.length > 0) {
    notes.push(
      `[Server] TCP connections from ${
        describeRules(config.proxyFrom)
      } must start with a PROXY protocol header; the client it names is the peer`,
    );
  }
  let token: Token | null = null;
  if (found !== null) {
    try {
      token = await newToken(found.secret);
    } catch (error) {
      throw new RuntimeError(`Cannot use the token from ${found.source}`, { cause: error });
    }
  }
  const gate = new Gate(
    {
      access,
      token,
      tls,
      authTimeout: config.authTimeout,
      maxConnsPerIp: config.maxConnsPerIp,
      maxAuthFailures: config.maxAuthFailures,
      proxyFrom: config.proxyFrom,
    },
    log,
  );
  return { gate, notes, warnings };
}

/**
 * A Token, its module loaded only when there is a token: it hashes with
 * node:crypto, whose import would cost every server 20-60 ms of start-up.
 */
async function newToken(secret: string): Promise<Token> {
  const { Token } = await importLazily<typeof import("./token_check.ts")>(
    new URL("./token_check.ts", import.meta.url),
  );
  return new Token(secret);
}

/**
 * The access policy from the flags, reading --allow/--deny @FILE. Throws
 * RuntimeError naming the file when one cannot be read or holds a bad entry.
 */
function readAccess(config: SecurityConfig): AccessPolicy {
  const read = (flag: "allow" | "deny", file: string | null, inline: AccessRule[]) => {
    if (file === null) return inline;
    const text = readFlagFile(flag, file);
    try {
      return parseAccessFile(flag, file, text);
    } catch (error) {
      throw new RuntimeError(error instanceof Error ? error.message : String(error));
    }
  };
  const allow = read("allow", config.allowFile, config.allow);
  const deny = read("deny", config.denyFile, config.deny);
  return new AccessPolicy(allow, deny, config.allowFile !== null);
}

function describeRules(rules: AccessRule[]): string {
  return rules.length === 0 ? "(none)" : rules.map(formatRule).join(", ");
}

function sameRules(a: AccessRule[], b: AccessRule[]): boolean {
  return describeRules(a) === describeRules(b);
}
