/**
 * The one gate every service's traffic passes, so each service gets access
 * control, the shared secret and TLS without code of its own. It implements
 * the gates the network layer asks for:
 * - TcpService asks admit() before anything else (a refused peer is closed at
 *   once, no byte sent), then handshake() (TLS, then the AUTH line) before
 *   the service's handler sees the connection;
 * - UdpService passes each datagram through screen(), which drops refused
 *   peers, checks and strips the AUTH line, and hands back the request.
 */
import { Deadline, TIMED_OUT } from "../base/deadline.ts";
import { RuntimeError } from "../base/errors.ts";
import { isDisconnect, linger, writeAll } from "../base/io.ts";
import type { Logger } from "../base/logger.ts";
import { RateLimiter } from "../base/rate_limit.ts";
import type { StatusSection } from "../base/status.ts";
import { encode } from "../base/text.ts";
import { formatAddr } from "../net/address.ts";
import { ipKey } from "../net/ip.ts";
import type { TlsKeyPair } from "../net/listen.ts";
import type { TcpGate, TrackedConn } from "../net/tcp_service.ts";
import type { AdmittedDatagram, RefusedDatagram, UdpGate } from "../net/udp_service.ts";
import { AccessPolicy, formatRule } from "./access.ts";
import type { SecurityConfig } from "./config.ts";
import {
  AUTH_OK,
  AUTH_REQUIRED_LINE,
  authFailedLine,
  couldBeAuth,
  DATAGRAM_AUTH_FAILED,
  DATAGRAM_AUTH_REQUIRED,
  MAX_AUTH_LINE,
  parseAuthLine,
  splitDatagram,
} from "./protocol.ts";
import { readKeyPair } from "./server_tls.ts";
import { Token } from "./token_check.ts";
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
  /** Connections per TCP service from one address; 0: no limit. */
  maxConnsPerIp: number;
  /** Failed authentications in a burst before an address cools down; 0: no limit. */
  maxAuthFailures: number;
}

const LF = 0x0a;

/** What the gate counts, for STATUS. */
export interface GateCounters {
  /**
   * TCP connections closed at accept, before any byte: --allow/--deny, or an
   * address cooling down after repeated failed authentications.
   */
  refusedConnections: number;
  /** Datagrams dropped for --allow/--deny. */
  refusedDatagrams: number;
  /** Failed authentications: wrong, missing or malformed token, TCP and UDP. */
  authFailures: number;
  /** TLS handshakes that failed or did not finish within --auth-timeout. */
  tlsFailures: number;
}

/** The `security` part of STATUS. */
export function securityStatus(c: GateCounters): StatusSection {
  return {
    key: "security",
    text:
      `refused: ${c.refusedConnections} connections, ${c.refusedDatagrams} datagrams (--allow/--deny); failed: ${c.authFailures} authentications, ${c.tlsFailures} TLS handshakes`,
    json: { ...c },
  };
}

/** The server's access control, shared secret and TLS, in one place. */
export class Gate implements TcpGate, UdpGate {
  readonly tls: TlsKeyPair | null;
  readonly authTimeout: number;
  readonly maxConnsPerIp: number;
  #access: AccessPolicy;
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
  #datagramReplies = new RateLimiter({ rate: 2, burst: 4 });
  #challenge = encode(AUTH_REQUIRED_LINE + "\n");
  #ok = encode(AUTH_OK + "\n");
  #required = encode(DATAGRAM_AUTH_REQUIRED);
  #failed = encode(DATAGRAM_AUTH_FAILED);

  constructor(parts: GateParts, log: Logger) {
    this.tls = parts.tls;
    this.authTimeout = parts.authTimeout;
    this.maxConnsPerIp = parts.maxConnsPerIp;
    this.#access = parts.access;
    this.#token = parts.token;
    this.#log = log;
    // A rate of 0 turns the limiter off: no lockout.
    this.#failures = new RateLimiter({
      rate: parts.maxAuthFailures > 0 ? AUTH_FAILURE_RATE : 0,
      burst: parts.maxAuthFailures,
    });
  }

  /** True when clients must present the token. */
  get tokenRequired(): boolean {
    return this.#token !== null;
  }

  /** The refusals and failures counted so far. */
  status(): StatusSection {
    return securityStatus(this.#counters);
  }

  /**
   * Whether a new TCP connection from `remote` may proceed. A refusal is
   * counted (refusedConnections) and logged; the caller closes the socket.
   */
  admit(remote: Deno.NetAddr, label: string): boolean {
    const refusal = this.#access.check(remote.hostname);
    if (refusal !== null) {
      this.#counters.refusedConnections++;
      if (!this.#log.quiet) {
        const why = refusal === "denied" ? "matches --deny" : "not in --allow";
        this.#log.event(`${label} Refused ${formatAddr(remote)}: ${why}`);
      }
      return false;
    }
    if (this.#token !== null && !this.#failures.peek(ipKey(remote.hostname))) {
      this.#counters.refusedConnections++;
      if (!this.#log.quiet) {
        this.#log.event(
          `${label} Refused ${formatAddr(remote)}: too many failed authentications, cooling down`,
        );
      }
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
      return await this.#authenticate(tracked, label, deadline, this.#token);
    } finally {
      deadline.clear();
    }
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
    this.#log.info(`${label} Authentication failed for ${formatAddr(from)}: ${why}`);
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
      this.#tlsFailed(tracked, label, `not done within ${this.authTimeout} ms`);
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

  #tlsFailed(tracked: TrackedConn, label: string, detail: string): void {
    this.#counters.tlsFailures++;
    if (!this.#log.quiet) {
      this.#log.event(`${label} TLS handshake with ${tracked.peer} failed: ${detail}`);
    }
  }

  async #authenticate(
    tracked: TrackedConn,
    label: string,
    deadline: Deadline,
    token: Token,
  ): Promise<boolean> {
    const { conn } = tracked;
    // `drain`: the peer is sending, so lingering a little before the close
    // lets the failure line arrive instead of a reset.
    const fail = async (reason: string, drain = true) => {
      this.#counters.authFailures++;
      // Each failure takes one from the address's budget; an empty budget
      // refuses its next connections at accept (admit).
      this.#failures.allow(ipKey(tracked.peerHost));
      this.#log.info(`${label} Authentication failed for ${tracked.peer}: ${reason}`);
      try {
        const sent = await deadline.race(writeAll(conn, encode(authFailedLine(reason) + "\n")));
        if (sent !== TIMED_OUT && drain) await linger(conn);
      } catch {
        // The peer is gone already.
      }
      return false;
    };
    try {
      if (await deadline.race(writeAll(conn, this.#challenge)) === TIMED_OUT) {
        return await fail("timed out", false);
      }
      // One byte per read, so nothing after the AUTH line is consumed here:
      // those bytes are the service's (a netcat user sends "AUTH x\nhello\n").
      const one = new Uint8Array(1);
      const line = new Uint8Array(MAX_AUTH_LINE);
      let length = 0;
      while (true) {
        const n = await deadline.race(conn.read(one));
        if (n === TIMED_OUT) {
          return await fail(`no AUTH line within ${formatMs(this.authTimeout)}`, false);
        }
        if (n === null) {
          if (length > 0) return await fail("closed in the middle of the AUTH line", false);
          if (!this.#log.quiet) {
            this.#log.event(`${label} ${tracked.peer} left without authenticating`);
          }
          return false;
        }
        if (n === 0) continue;
        if (one[0] === LF) break;
        if (length === line.length) return await fail("AUTH line too long");
        line[length++] = one[0]!;
        if (!couldBeAuth(line.subarray(0, length))) return await fail('expected "AUTH <token>"');
      }
      const candidate = parseAuthLine(line.subarray(0, length));
      if (candidate === null) return await fail('expected "AUTH <token>"');
      if (!token.matches(candidate)) return await fail("wrong token");
      if (await deadline.race(writeAll(conn, this.#ok)) === TIMED_OUT) return false;
    } catch (error) {
      if (isDisconnect(error)) return false;
      throw error;
    }
    tracked.markAuthenticated();
    tracked.touch();
    return true;
  }
}

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
export function createGate(config: SecurityConfig, log: Logger): CreatedGate {
  const found = readToken(config.tokenFile ?? undefined);
  const tls = config.tls === null ? null : readKeyPair(config.tls);
  const access = new AccessPolicy(config.allow, config.deny);
  const notes: string[] = [];
  const warnings = found?.warnings ?? [];
  if (tls !== null) notes.push("[Server] TCP services speak TLS");
  if (found !== null) notes.push(`[Server] Clients must authenticate (token from ${found.source})`);
  if (config.allow.length > 0) {
    notes.push(`[Server] Only peers in --allow: ${config.allow.map(formatRule).join(", ")}`);
  }
  if (config.deny.length > 0) {
    notes.push(`[Server] Refusing peers in --deny: ${config.deny.map(formatRule).join(", ")}`);
  }
  let token: Token | null = null;
  if (found !== null) {
    try {
      token = new Token(found.secret);
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
    },
    log,
  );
  return { gate, notes, warnings };
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
