/**
 * The part every TCP service shares: the gate (access control, TLS and the
 * AUTH line, supplied by the security layer), accepting, caps on open
 * connections (per service and per address), closing connections that stay
 * silent past their idle rule, and a stop that closes everything and waits
 * for the connection handlers to finish.
 */
import { within } from "../base/deadline.ts";
import { closeQuietly, isDisconnect } from "../base/io.ts";
import type { Logger } from "../base/logger.ts";
import { encode } from "../base/text.ts";
import { formatAddr } from "./address.ts";
import { ipKey } from "./ip.ts";
import { listenTcp, type StreamListener, type TlsKeyPair } from "./listen.ts";

// How long a refusal line (busy) may take to go out before the socket closes.
const REFUSAL_WRITE_MS = 1000;

/**
 * What a TcpService asks of the server's access control before its handler
 * sees a connection. The security layer implements it (security/gate.ts).
 */
export interface TcpGate {
  /** Certificate and key: the service listens with TLS. null: plain TCP. */
  readonly tls: TlsKeyPair | null;
  /** Connections one address may hold open per service; 0: no limit. */
  readonly maxConnsPerIp: number;
  /** True when clients must present the server's token (TrackedConn.authenticated). */
  readonly tokenRequired: boolean;
  /** Whether a new connection from `remote` may proceed, before any byte; false closes it. */
  admit(remote: Deno.NetAddr, label: string): boolean;
  /** What must happen before the handler (TLS, the AUTH line); false closes the connection. */
  handshake(conn: TrackedConn, label: string): Promise<boolean>;
}

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

/** One accepted connection with what the service needs to know about it. */
export class TrackedConn {
  /** Plain TCP or TLS; services read and write it the same way. */
  readonly conn: Deno.Conn<Deno.NetAddr>;
  /** "127.0.0.1:50412". */
  readonly peer: string;
  /** The peer's IP address alone. */
  readonly peerHost: string;
  readonly openedAt = Date.now();
  #tcp: Deno.TcpConn | null;
  #lastActive = Date.now();
  #closed = false;
  #authenticated = false;
  #handshaking = false;
  /** When silence ends this connection; see {@link IdleRule}. */
  idle: IdleRule;

  constructor(conn: Deno.TcpConn | Deno.TlsConn, idle: IdleRule = { ms: 0 }) {
    this.conn = conn;
    this.idle = idle;
    this.#tcp = "setNoDelay" in conn ? conn : null;
    const remote = conn.remoteAddr;
    this.peer = formatAddr(remote);
    this.peerHost = remote.hostname;
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
    this.#lastActive = Date.now();
  }

  get lastActive(): number {
    return this.#lastActive;
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
  /** Line sent to a connection refused for a cap (--max-conns, --max-conns-per-ip). */
  busyReply: string;
  /** Access control: --allow/--deny at accept, TLS and the AUTH line before `handle`. */
  gate: TcpGate;
  /**
   * Serves one connection, after the gate let it through (so after TLS and
   * authentication); the service closes it when this settles.
   */
  handle(conn: TrackedConn): Promise<void>;
}

/** A listening TCP service. */
export class TcpService {
  readonly port: number;
  readonly hostname: string;
  #listener: StreamListener;
  #options: TcpServiceOptions;
  #conns = new Set<TrackedConn>();
  /** Open connections per address (ipKey), for --max-conns-per-ip. */
  #perAddress = new Map<string, number>();
  #handlers = new Set<Promise<void>>();
  /** Refused TLS connections waiting for their handshake to settle before the close. */
  #parked = new Map<Deno.TlsConn, Promise<void>>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #acceptLoop: Promise<void>;
  #stopping = false;

  private constructor(listener: StreamListener, options: TcpServiceOptions) {
    this.#listener = listener;
    this.#options = options;
    const addr = listener.addr;
    this.port = addr.port;
    this.hostname = addr.hostname;
    const shortest = options.shortestIdle ?? options.idle.ms;
    if (shortest > 0) {
      const every = Math.max(20, Math.min(1000, shortest / 4));
      this.#sweeper = setInterval(() => this.#closeIdle(), every);
    }
    this.#acceptLoop = this.#accept();
  }

  /**
   * Binds (with TLS when the gate has a certificate) and starts accepting.
   * Throws RuntimeError if the address cannot be bound.
   */
  static listen(options: TcpServiceOptions): TcpService {
    const { service, hostname, port, gate } = options;
    return new TcpService(listenTcp(service, hostname, port, gate.tls), options);
  }

  /** Connections open now. */
  get connectionCount(): number {
    return this.#conns.size;
  }

  /** Stops accepting, closes every connection, resolves when all handlers finished. */
  async stop(): Promise<void> {
    if (this.#stopping) return await this.#acceptLoop;
    this.#stopping = true;
    clearInterval(this.#sweeper);
    closeQuietly(this.#listener);
    for (const conn of this.#conns) conn.close();
    for (const conn of this.#parked.keys()) closeQuietly(conn);
    await this.#acceptLoop;
    await Promise.allSettled([...this.#handlers, ...this.#parked.values()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #accept(): Promise<void> {
    const { log, label, gate } = this.#options;
    while (!this.#stopping) {
      let conn: Deno.TcpConn | Deno.TlsConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#stopping || error instanceof Deno.errors.BadResource) return;
        // Out of file descriptors and the like: say so, breathe, keep serving.
        log.error(`${label} Accept failed: ${error instanceof Error ? error.message : error}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      // Before any byte is sent.
      if (!gate.admit(conn.remoteAddr, label)) {
        this.#drop(conn);
        continue;
      }
      if (this.#conns.size >= this.#options.maxConnections) {
        this.#refuse(conn, `${this.#options.maxConnections} connections open`);
        continue;
      }
      const address = ipKey(conn.remoteAddr.hostname);
      const fromAddress = this.#perAddress.get(address) ?? 0;
      if (gate.maxConnsPerIp > 0 && fromAddress >= gate.maxConnsPerIp) {
        this.#refuse(conn, `${fromAddress} connections open from that address`);
        continue;
      }
      this.#perAddress.set(address, fromAddress + 1);
      const tracked = new TrackedConn(conn, this.#options.idle);
      this.#conns.add(tracked);
      const handler = this.#run(tracked, address);
      this.#handlers.add(handler);
      handler.finally(() => this.#handlers.delete(handler));
    }
  }

  async #run(tracked: TrackedConn, address: string): Promise<void> {
    try {
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
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(address, left);
      else this.#perAddress.delete(address);
    }
  }

  #refuse(conn: Deno.TcpConn | Deno.TlsConn, why: string): void {
    const { log, label, busyReply } = this.#options;
    log.error(`${label} Refused ${formatAddr(conn.remoteAddr)}: ${why}`);
    const sayBusy = async () => {
      // A fresh socket's send buffer is empty, so this write completes at once.
      const write = conn.write(encode(busyReply + "\n"));
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

  #closeIdle(): void {
    const now = Date.now();
    for (const conn of this.#conns) {
      const rule = conn.idle;
      if (rule.ms <= 0 || conn.handshaking) continue;
      const since = rule.from === "open" ? conn.openedAt : conn.lastActive;
      if (now - since <= rule.ms) continue;
      conn.idle = { ms: 0 }; // once
      if (rule.onExpire) {
        rule.onExpire();
      } else {
        this.#options.log.event(`${this.#options.label} Closing idle connection from ${conn.peer}`);
        conn.close();
      }
    }
  }
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
