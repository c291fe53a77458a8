/**
 * One accepted TCP connection as a service tracks it (its peer, its TLS
 * handshake, whether it authenticated) and the two rules that end it: the
 * idle rule (silence) and the request rule (one request taking too long),
 * timed on a clock the service may inject. {@link enforceRules} is the check
 * TcpService's sweeper runs.
 */
import { closeQuietly } from "../base/io.ts";
import type { Logger } from "../base/logger.ts";
import { formatAddr } from "./address.ts";

/**
 * When silence ends a connection. Every connection starts with its service's
 * rule; a handler may set another (chat: a deadline for the name from the
 * open, then none, or --chat-idle-timeout, once joined).
 */
export interface IdleRule {
  /** Milliseconds; 0: never. */
  ms: number;
  /** Counted from the last activity (touch()), or from the open. Default "activity". */
  from?: "activity" | "open";
  /** What to do when time is up (once). Default: log a line and close. */
  onExpire?: () => void;
}

/**
 * How long one request may take from its first byte to its end. Unlike the
 * idle rule, bytes arriving do not postpone it, so a peer trickling a line a
 * byte at a time is cut off as one that sends nothing would be. The handler
 * marks requests with {@link TrackedConn.requestStarted} and
 * {@link TrackedConn.requestDone}.
 */
export interface RequestRule {
  /** Milliseconds from a request's first byte; 0: no limit. */
  ms: number;
  /** What to do when time is up (once). Default: log a line and close. */
  onExpire?: () => void;
}

/** Options of {@link TrackedConn}. */
export interface TrackedConnOptions {
  /** The rule it starts with (default: none, `{ ms: 0 }`). */
  idle?: IdleRule;
  /** The rule its requests start with (default: none). */
  request?: RequestRule;
  /** Clock in milliseconds (default Date.now), the service's, for tests. */
  now?: () => number;
}

/** One accepted connection with what the service needs to know about it. */
export class TrackedConn {
  /** Plain TCP or TLS; services read and write it the same way. */
  readonly conn: Deno.Conn<Deno.NetAddr>;
  /** When it was accepted (on {@link TrackedConn.now}'s clock). */
  readonly openedAt: number;
  /** The clock its rules are timed by: Date.now unless the service was given another. */
  readonly now: () => number;
  #peerHost: string;
  #tcp: Deno.TcpConn | null;
  #peer: string | undefined;
  #lastActive: number;
  #requestSince: number | null = null;
  #closed = false;
  #authenticated = false;
  #handshaking = false;
  /** When silence ends this connection; see {@link IdleRule}. */
  idle: IdleRule;
  /** How long one request may take; see {@link RequestRule}. */
  request: RequestRule;

  constructor(conn: Deno.TcpConn | Deno.TlsConn, options: TrackedConnOptions = {}) {
    this.conn = conn;
    this.now = options.now ?? Date.now;
    this.openedAt = this.#lastActive = this.now();
    this.idle = options.idle ?? { ms: 0 };
    this.request = options.request ?? { ms: 0 };
    this.#tcp = "setNoDelay" in conn ? conn : null;
    this.#peerHost = conn.remoteAddr.hostname;
  }

  /** The peer's IP address alone (the client's, behind a trusted balancer). */
  get peerHost(): string {
    return this.#peerHost;
  }

  /** "127.0.0.1:50412" (formatted on first use: a short connection may never need it). */
  get peer(): string {
    return this.#peer ??= formatAddr(this.conn.remoteAddr);
  }

  /** The client a trusted balancer's PROXY header named: the peer from now on. */
  forwardedFor(client: Deno.NetAddr): void {
    this.#peerHost = client.hostname;
    this.#peer = formatAddr(client);
  }

  /** True when the peer presented the server's token (never, if the server has none). */
  get authenticated(): boolean {
    return this.#authenticated;
  }

  /** Called by the gate once the AUTH line was accepted. */
  markAuthenticated(): void {
    this.#authenticated = true;
  }

  /**
   * True while a TLS handshake is unfinished. Such a connection is never
   * closed by the idle sweep: Deno cannot abort an unfinished TLS handshake,
   * and closing it would only hide a socket that stays open until the peer
   * sends or closes (see {@link closeTlsWhenSettled}).
   */
  get handshaking(): boolean {
    return this.#handshaking;
  }

  /** Set by the gate around the TLS handshake. */
  set handshaking(value: boolean) {
    this.#handshaking = value;
  }

  /**
   * Sets TCP_NODELAY on a plain TCP connection. Deno's TLS connections offer
   * no such option, so there it does nothing; returns whether it applied.
   */
  setNoDelay(noDelay = true): boolean {
    if (this.#tcp === null || this.#closed) return false;
    this.#tcp.setNoDelay(noDelay);
    return true;
  }

  /** Turns TCP keepalive on (plain TCP only, as for {@link setNoDelay}). */
  setKeepAlive(keepAlive = true): boolean {
    if (this.#tcp === null || this.#closed) return false;
    this.#tcp.setKeepAlive(keepAlive);
    return true;
  }

  /** Marks activity, postponing the idle timeout. */
  touch(): void {
    this.#lastActive = this.now();
  }

  /** When it was last touched (on {@link now}'s clock). */
  get lastActive(): number {
    return this.#lastActive;
  }

  /**
   * The first byte of a request arrived: unless one is already running, its
   * {@link RequestRule} clock starts, from `at` (on {@link now}'s clock;
   * default now).
   */
  requestStarted(at: number = this.now()): void {
    this.#requestSince ??= at;
  }

  /** The request is complete: its clock stops until the next one starts. */
  requestDone(): void {
    this.#requestSince = null;
  }

  /** When the request being read started (on {@link now}'s clock), or null between requests. */
  get requestSince(): number | null {
    return this.#requestSince;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the socket once; pending reads and writes fail with BadResource. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.conn);
  }
}

/**
 * Applies each connection's request rule, then its idle rule, at `now`: a
 * rule whose time is up fires once (its onExpire, or a log line and a close)
 * and is then set to none. A connection in its TLS handshake is skipped (see
 * {@link TrackedConn.handshaking}). TcpService calls it every sweep.
 */
export function enforceRules(
  conns: Iterable<TrackedConn>,
  now: number,
  log: Logger,
  label: string,
): void {
  for (const conn of conns) {
    if (conn.handshaking) continue;
    const request = conn.request;
    const started = conn.requestSince;
    if (request.ms > 0 && started !== null && now - started > request.ms) {
      conn.request = { ms: 0 }; // once
      if (request.onExpire) {
        request.onExpire();
      } else {
        log.repeated(
          `${label} request timeout`,
          "event",
          `${label} Closing ${conn.peer}: a request took longer than ${request.ms} ms`,
          (n, s) => `${label} Closed ${n} more connections for slow requests in ${s}s`,
        );
        conn.close();
      }
      continue;
    }
    const rule = conn.idle;
    if (rule.ms <= 0) continue;
    const since = rule.from === "open" ? conn.openedAt : conn.lastActive;
    if (now - since <= rule.ms) continue;
    conn.idle = { ms: 0 }; // once
    if (rule.onExpire) {
      rule.onExpire();
    } else {
      log.event(`${label} Closing idle connection from ${conn.peer}`);
      conn.close();
    }
  }
}
