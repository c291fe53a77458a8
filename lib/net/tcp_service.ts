/**
 * The part every TCP service shares: the gate (access control, TLS and the
 * AUTH line, supplied by the security layer), accepting, caps on open
 * connections (per service and per address), a sweeper that applies each
 * connection's idle and request rules (tracked_conn.ts), taking a new TLS
 * certificate without closing anything, and a stop that closes everything
 * and waits for the connection handlers to finish.
 */
import { TIMED_OUT, within } from "../base/deadline.ts";
import { closeQuietly, isDisconnect } from "../base/io.ts";
import type { Logger } from "../base/logger.ts";
import { encode } from "../base/text.ts";
import { formatAddr } from "./address.ts";
import {
  describeCap,
  perAddressCap,
  PerAddressCounter,
  type PerAddressLimit,
} from "./per_address.ts";
import { enforceRules, type IdleRule, type RequestRule, TrackedConn } from "./tracked_conn.ts";
import { listenTcp, type StreamListener, type TlsKeyPair } from "./listen.ts";
import { ProxyHeaderError, type ProxySource, readProxyHeader } from "./proxy_header.ts";

// How long a refusal line (busy) may take to go out before the socket closes.
const REFUSAL_WRITE_MS = 1000;
// How long a reload waits for an old TLS listener to be really closed.
const REBIND_WAIT_MS = 5000;
/** How long a trusted balancer has to send the PROXY header (it sends it at once). */
const PROXY_HEADER_MS = 5000;

/**
 * What a TcpService asks of the server's access control before its handler
 * sees a connection. The security layer implements it (security/gate.ts).
 */
export interface TcpGate {
  /** Certificate and key: the service listens with TLS. null: plain TCP. */
  readonly tls: TlsKeyPair | null;
  /**
   * Connections one address may hold open per service; 0: no limit; "auto": a
   * fair share of maxConnections (per_address.ts).
   */
  readonly maxConnsPerIp: PerAddressLimit;
  /** True when clients must present the server's token (TrackedConn.authenticated). */
  readonly tokenRequired: boolean;
  /** Whether a new connection from `remote` may proceed, before any byte; false closes it. */
  admit(remote: Deno.NetAddr, label: string): boolean;
  /**
   * True when `remote` is a load balancer trusted to send a PROXY protocol
   * header first: admit() and the per-address cap then apply to the client
   * the header names, once it is read.
   */
  proxied?(remote: Deno.NetAddr): boolean;
  /** What must happen before the handler (TLS, the AUTH line); false closes the connection. */
  handshake(conn: TrackedConn, label: string): Promise<boolean>;
  /**
   * Registers a TLS service for certificate reloads (SIGHUP): `rebind` opens
   * a listener with the new pair, closes the old one and resolves once it is
   * really closed; it rejects with RuntimeError (keeping the old one) when
   * the new one cannot be opened.
   */
  onTlsChange?(rebind: (tls: TlsKeyPair) => Promise<void>): void;
}

/** Options of {@link TcpService.listen}. */
export interface TcpServiceOptions {
  /** Console label, e.g. "[TCP Server]". */
  label: string;
  /** Name used in errors, e.g. "TCP message service". */
  service: string;
  hostname: string;
  port: number;
  log: Logger;
  /** Connections open at once; one more gets `busyReply` and is closed. */
  maxConnections: number;
  /** The rule every connection starts with (e.g. --idle-timeout since the last read). */
  idle: IdleRule;
  /**
   * The shortest rule a handler will set, in milliseconds, if shorter than
   * `idle` (it sets how often connections are checked). Default idle.ms.
   */
  shortestIdle?: number;
  /**
   * The rule every connection starts with for its requests (--line-timeout);
   * default none. The handler must mark requests for it to apply.
   */
  request?: RequestRule;
  /** Line sent to a connection refused for --max-conns. */
  busyReply: string;
  /**
   * Line sent to a connection refused for its address's share
   * (--max-conns-per-ip), in the service's own style; `cap` says how many
   * and why, e.g. "256 of 1024, --max-conns-per-ip auto".
   */
  perAddressReply(cap: string): string;
  /** Access control: --allow/--deny at accept, TLS and the AUTH line before `handle`. */
  gate: TcpGate;
  /**
   * Serves one connection, after the gate let it through (so after TLS and
   * authentication); the service closes it when this settles.
   */
  handle(conn: TrackedConn): Promise<void>;
  /** Clock in milliseconds for the idle and request rules (default Date.now), for tests. */
  now?: () => number;
  /**
   * Milliseconds between checks of the idle and request rules (default a
   * quarter of the shortest rule, within 20 ms to 1 s).
   */
  sweepEvery?: number;
}

/** A listening TCP service. */
export class TcpService {
  readonly port: number;
  readonly hostname: string;
  #listener: StreamListener;
  #options: TcpServiceOptions;
  #conns = new Set<TrackedConn>();
  /** Open connections per address, for --max-conns-per-ip. */
  #perAddress: PerAddressCounter;
  /** What a connection over its address's share is told. */
  #perAddressLine: string;
  #handlers = new Set<Promise<void>>();
  /** Refused TLS connections waiting for their handshake to settle before the close. */
  #parked = new Map<Deno.TlsConn, Promise<void>>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  /** One loop per listener: two for a moment while a new certificate takes over. */
  #acceptLoops = new Map<StreamListener, Promise<void>>();
  #stopping = false;
  #now: () => number;

  private constructor(listener: StreamListener, options: TcpServiceOptions) {
    this.#listener = listener;
    this.#options = options;
    const limit = options.gate.maxConnsPerIp;
    this.#perAddress = new PerAddressCounter(perAddressCap(limit, options.maxConnections));
    this.#perAddressLine = options.perAddressReply(describeCap(limit, options.maxConnections));
    this.#now = options.now ?? Date.now;
    const addr = listener.addr;
    this.port = addr.port;
    this.hostname = addr.hostname;
    const shortest = [options.shortestIdle ?? options.idle.ms, options.request?.ms ?? 0]
      .filter((ms) => ms > 0);
    if (shortest.length > 0) {
      const every = options.sweepEvery ??
        Math.max(20, Math.min(1000, Math.min(...shortest) / 4));
      this.#sweeper = setInterval(() => this.#sweep(), every);
    }
    this.#startAccepting(listener);
    if (options.gate.tls !== null) options.gate.onTlsChange?.((tls) => this.#rebind(tls));
  }

  /**
   * Binds (with TLS when the gate has a certificate) and starts accepting.
   * Throws RuntimeError if the address cannot be bound.
   */
  static listen(options: TcpServiceOptions): TcpService {
    const { service, hostname, port, gate } = options;
    // A TLS listener may have to hand over to one with a new certificate.
    const listener = listenTcp(service, hostname, port, gate.tls, { reusable: gate.tls !== null });
    return new TcpService(listener, options);
  }

  /** Connections open now. */
  get connectionCount(): number {
    return this.#conns.size;
  }

  /** Stops accepting, closes every connection, resolves when all handlers finished. */
  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      clearInterval(this.#sweeper);
      closeQuietly(this.#listener);
      for (const conn of this.#conns) conn.close();
      for (const conn of this.#parked.keys()) closeQuietly(conn);
    }
    await Promise.allSettled([...this.#acceptLoops.values()]);
    await Promise.allSettled([...this.#handlers, ...this.#parked.values()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Opens a listener on the same port with a new certificate, then closes the
   * old one; open connections are untouched. Resolves once the old socket is
   * really gone (its accept loop ended): until then the kernel still hands it
   * new connections, which its close resets. Throws RuntimeError (and keeps
   * the old listener) when the new one cannot be opened, e.g. a bad pair.
   */
  async #rebind(tls: TlsKeyPair): Promise<void> {
    if (this.#stopping) return;
    const { service, hostname } = this.#options;
    const listener = listenTcp(service, hostname, this.port, tls, {
      reusable: true,
      takeOver: true,
    });
    const old = this.#listener;
    this.#listener = listener;
    this.#startAccepting(listener);
    closeQuietly(old); // its accept loop ends with BadResource
    const ended = this.#acceptLoops.get(old);
    if (ended) await within(ended, REBIND_WAIT_MS);
  }

  #startAccepting(listener: StreamListener): void {
    const loop = this.#accept(listener);
    this.#acceptLoops.set(listener, loop);
    loop.finally(() => this.#acceptLoops.delete(listener));
  }

  async #accept(listener: StreamListener): Promise<void> {
    const { log, label, gate } = this.#options;
    let pause = 0;
    while (!this.#stopping) {
      let conn: Deno.TcpConn | Deno.TlsConn;
      try {
        conn = await listener.accept();
        pause = 0;
      } catch (error) {
        if (this.#stopping || error instanceof Deno.errors.BadResource) return;
        const detail = error instanceof Error ? error.message : String(error);
        if (isGoneBeforeAccept(error)) {
          // The peer reset the connection while it waited in the kernel's
          // queue: nothing to serve, nothing to wait for, the next one may
          // be a real client. Counted, summarised, never one line each.
          log.repeated(
            `${label} reset before accept`,
            "event",
            `${label} A connection was reset before it was accepted (${detail})`,
            (n, s) =>
              `${label} ${n} more connections were reset before they were accepted in ${s}s`,
          );
          continue;
        }
        // Out of file descriptors and the like: the listener stays readable,
        // so retrying at once would spin. Back off (5 ms, doubling to 100 ms),
        // say so once, summarise the rest, keep serving.
        pause = Math.min(100, pause === 0 ? 5 : pause * 2);
        log.repeated(
          `${label} accept failed`,
          "info",
          `${label} Accept failed: ${detail}; retrying`,
          (n, s) => `${label} Accept failed ${n} more times in ${s}s: ${detail}`,
        );
        await new Promise((resolve) => setTimeout(resolve, pause));
        continue;
      }
      // A trusted balancer's connections are judged by the client its header
      // names, once read (#run); everyone else's before any byte is sent.
      const proxied = gate.proxied?.(conn.remoteAddr) ?? false;
      if (!proxied && !gate.admit(conn.remoteAddr, label)) {
        this.#drop(conn);
        continue;
      }
      if (this.#conns.size >= this.#options.maxConnections) {
        this.#refuse(conn, "busy", `${this.#options.maxConnections} connections open`);
        continue;
      }
      let release: (() => void) | null = null;
      if (!proxied) {
        const claim = this.#perAddress.claim(conn.remoteAddr.hostname);
        if (!claim.ok) {
          this.#refuse(conn, "per address", `${claim.open} connections open from that address`);
          continue;
        }
        release = claim.release;
      }
      const tracked = new TrackedConn(conn, {
        idle: this.#options.idle,
        now: this.#now,
        ...(this.#options.request && { request: this.#options.request }),
      });
      this.#conns.add(tracked);
      const handler = this.#run(tracked, release, proxied);
      this.#handlers.add(handler);
      handler.finally(() => this.#handlers.delete(handler));
    }
  }

  /**
   * Reads the PROXY header of a connection from a trusted balancer and
   * applies admit() and the per-address cap to the client it names. False:
   * refused or malformed (said, summarised, in the log); the caller closes.
   * Otherwise: what gives the address's slot back.
   */
  async #admitForwarded(tracked: TrackedConn): Promise<(() => void) | false> {
    const { gate, label, log } = this.#options;
    let client: ProxySource;
    try {
      const read = readProxyHeader(tracked.conn);
      read.catch(() => {}); // settles when the close below ends the read
      const result = await within(read, PROXY_HEADER_MS);
      if (result === TIMED_OUT) {
        throw new ProxyHeaderError(`no PROXY header within ${PROXY_HEADER_MS} ms`);
      }
      client = result;
    } catch (error) {
      if (!(error instanceof ProxyHeaderError) && !isDisconnect(error)) throw error;
      const why = error instanceof Error ? error.message : String(error);
      log.repeated(
        `${label} bad proxy header`,
        "info",
        () => `${label} Closing ${tracked.peer} (a --proxy-protocol balancer): ${why}`,
        (n, s) => `${label} Closed ${n} more balancer connections in ${s}s: bad PROXY header`,
      );
      return false;
    }
    // LOCAL or UNKNOWN: the balancer speaks for itself (a health check).
    const from = client ?? tracked.conn.remoteAddr;
    if (client !== null) {
      tracked.forwardedFor(client);
      if (!gate.admit(client, label)) return false;
    }
    const claim = this.#perAddress.claim(from.hostname);
    if (claim.ok) return claim.release;
    log.repeated(
      `${label} refused per address`,
      "info",
      () =>
        `${label} Refused ${formatAddr(from)}: ${claim.open} connections open from that address`,
      (n, s) => `${label} Refused ${n} more connections in ${s}s: --max-conns-per-ip reached`,
    );
    const write = tracked.conn.write(encode(this.#perAddressLine + "\n"));
    write.catch(() => {});
    await within(write, REFUSAL_WRITE_MS);
    return false;
  }

  async #run(
    tracked: TrackedConn,
    release: (() => void) | null,
    proxied: boolean,
  ): Promise<void> {
    try {
      if (proxied) {
        const admitted = await this.#admitForwarded(tracked);
        if (admitted === false) return;
        release = admitted;
      }
      if (await this.#options.gate.handshake(tracked, this.#options.label)) {
        await this.#options.handle(tracked);
      }
    } catch (error) {
      if (!isDisconnect(error)) {
        const detail = error instanceof Error ? error.message : String(error);
        this.#options.log.error(`${this.#options.label} Error with ${tracked.peer}: ${detail}`);
      }
    } finally {
      tracked.close();
      this.#conns.delete(tracked);
      release?.();
    }
  }

  #refuse(conn: Deno.TcpConn | Deno.TlsConn, cap: "busy" | "per address", why: string): void {
    const { log, label } = this.#options;
    const what = cap === "busy" ? "--max-conns" : "--max-conns-per-ip";
    const line = cap === "busy" ? this.#options.busyReply : this.#perAddressLine;
    log.repeated(
      `${label} refused ${cap}`,
      "info",
      () => `${label} Refused ${formatAddr(conn.remoteAddr)}: ${why}`,
      (n, s) => `${label} Refused ${n} more connections in ${s}s: ${what} reached`,
    );
    const sayBusy = async () => {
      // A fresh socket's send buffer is empty, so this write completes at once.
      const write = conn.write(encode(line + "\n"));
      write.catch(() => {}); // settles after the close when the bound passed
      await within(write, REFUSAL_WRITE_MS);
    };
    if (isTls(conn)) return this.#park(conn, sayBusy);
    sayBusy().catch(() => {}).finally(() => closeQuietly(conn));
  }

  /** Closes a refused connection without a word (TLS: once its handshake settled). */
  #drop(conn: Deno.TcpConn | Deno.TlsConn): void {
    if (isTls(conn)) this.#park(conn);
    else closeQuietly(conn);
  }

  /**
   * Deno cannot abort an unfinished TLS handshake: closing such a connection
   * frees nothing, its socket stays open until the peer sends or closes, and
   * is no longer counted anywhere. So a refused TLS connection is kept (and
   * counted) until its handshake settles, then `then` runs and it is closed.
   * A normal client settles at once; a silent one keeps its place here, up
   * to --max-conns of them; past that it is closed (and Deno keeps it).
   */
  #park(conn: Deno.TlsConn, then?: () => Promise<void>): void {
    if (this.#parked.size >= this.#options.maxConnections) {
      closeQuietly(conn);
      return;
    }
    const parked = closeTlsWhenSettled(conn, then);
    this.#parked.set(conn, parked);
    parked.finally(() => this.#parked.delete(conn));
  }

  #sweep(): void {
    const { log, label } = this.#options;
    enforceRules(this.#conns, this.#now(), log, label);
  }
}

/**
 * Accept errors that concern one connection only, already gone: the peer
 * reset it in the kernel's queue (Deno then fails on its address, ENOTCONN)
 * or it was aborted (ECONNABORTED).
 */
function isGoneBeforeAccept(error: unknown): boolean {
  return error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.ConnectionReset;
}

function isTls(conn: Deno.TcpConn | Deno.TlsConn): conn is Deno.TlsConn {
  return "handshake" in conn;
}

/**
 * Waits (without a time limit) for a TLS connection's handshake to finish or
 * fail, runs `then` if it finished, and closes it. The only way to really
 * free a TLS socket whose handshake has started: see TcpService#park.
 */
export async function closeTlsWhenSettled(
  conn: Deno.TlsConn,
  then?: () => Promise<void>,
): Promise<void> {
  try {
    await conn.handshake();
    await then?.();
  } catch {
    // Failed handshake or a close from stop(): either way the socket is done.
  } finally {
    closeQuietly(conn);
  }
}
