/**
 * The part every TCP service shares: accepting, a cap on open connections,
 * closing idle ones, and a stop that closes everything and waits for the
 * connection handlers to finish.
 */
import type { Logger } from "../cli/logger.ts";
import { formatAddr } from "./address.ts";
import { closeQuietly, isDisconnect } from "./io.ts";
import { listenTcp } from "./listen.ts";
import { encode } from "./text.ts";

/** One accepted connection with what the service needs to know about it. */
export class TrackedConn {
  readonly conn: Deno.TcpConn;
  /** "127.0.0.1:50412". */
  readonly peer: string;
  /** The peer's IP address alone. */
  readonly peerHost: string;
  readonly openedAt = Date.now();
  #lastActive = Date.now();
  #closed = false;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    const remote = conn.remoteAddr;
    this.peer = formatAddr(remote);
    this.peerHost = remote.hostname;
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
  /** Milliseconds without reads before a connection is closed; 0 disables. */
  idleTimeout: number;
  /** Line sent to a connection refused for the cap. */
  busyReply: string;
  /** Serves one connection; the service closes it when this settles. */
  handle(conn: TrackedConn): Promise<void>;
}

/** A listening TCP service. */
export class TcpService {
  readonly port: number;
  readonly hostname: string;
  #listener: Deno.TcpListener;
  #options: TcpServiceOptions;
  #conns = new Set<TrackedConn>();
  #handlers = new Set<Promise<void>>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #acceptLoop: Promise<void>;
  #stopping = false;

  private constructor(listener: Deno.TcpListener, options: TcpServiceOptions) {
    this.#listener = listener;
    this.#options = options;
    const addr = listener.addr as Deno.NetAddr;
    this.port = addr.port;
    this.hostname = addr.hostname;
    if (options.idleTimeout > 0) {
      const every = Math.max(20, Math.min(1000, options.idleTimeout / 4));
      this.#sweeper = setInterval(() => this.#closeIdle(), every);
    }
    this.#acceptLoop = this.#accept();
  }

  /** Binds and starts accepting. Throws RuntimeError if the address cannot be bound. */
  static listen(options: TcpServiceOptions): TcpService {
    return new TcpService(listenTcp(options.service, options.hostname, options.port), options);
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
    await this.#acceptLoop;
    await Promise.allSettled([...this.#handlers]);
  }

  async #accept(): Promise<void> {
    const { log, label } = this.#options;
    while (!this.#stopping) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#stopping || error instanceof Deno.errors.BadResource) return;
        // Out of file descriptors and the like: say so, breathe, keep serving.
        log.error(`${label} Accept failed: ${error instanceof Error ? error.message : error}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (this.#conns.size >= this.#options.maxConnections) {
        this.#refuse(conn);
        continue;
      }
      const tracked = new TrackedConn(conn);
      this.#conns.add(tracked);
      const handler = this.#run(tracked);
      this.#handlers.add(handler);
      handler.finally(() => this.#handlers.delete(handler));
    }
  }

  async #run(tracked: TrackedConn): Promise<void> {
    try {
      await this.#options.handle(tracked);
    } catch (error) {
      if (!isDisconnect(error)) {
        const detail = error instanceof Error ? error.message : String(error);
        this.#options.log.error(`${this.#options.label} Error with ${tracked.peer}: ${detail}`);
      }
    } finally {
      tracked.close();
      this.#conns.delete(tracked);
    }
  }

  #refuse(conn: Deno.TcpConn): void {
    const { log, label, busyReply, maxConnections } = this.#options;
    log.error(
      `${label} Refused ${formatAddr(conn.remoteAddr)}: ${maxConnections} connections open`,
    );
    // A fresh socket's send buffer is empty, so this write completes at once.
    conn.write(encode(busyReply + "\n")).catch(() => {}).finally(() => closeQuietly(conn));
  }

  #closeIdle(): void {
    const deadline = Date.now() - this.#options.idleTimeout;
    for (const conn of this.#conns) {
      if (conn.lastActive < deadline) {
        this.#options.log.event(`${this.#options.label} Closing idle connection from ${conn.peer}`);
        conn.close();
      }
    }
  }
}
