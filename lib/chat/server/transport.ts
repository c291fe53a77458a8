/**
 * What a chat session talks through: a TCP connection (netcat, our client)
 * or a WebSocket (the web page). The session reads lines from it and its
 * Outbox writes bytes of whole lines to it; everything else (names, rooms,
 * rate limits, the slow-member rule) is the same for both, because there is
 * one session and one hub.
 */
import type { Writer } from "../../base/io.ts";
import type { SyncWriter } from "./outbox.ts";
import { LineSplitter } from "../../net/line_splitter.ts";
import type { LineHandler } from "../../net/line_splitter.ts";
import type { IdleRule, TrackedConn } from "../../net/tracked_conn.ts";

/** A member's connection, whatever carries it. */
export interface ChatTransport {
  /** "127.0.0.1:50412", for the log. */
  readonly peer: string;
  /** True when the peer presented the server's token (never, if the server has none). */
  readonly authenticated: boolean;
  /** Only JSON objects go out (a WebSocket: one object per frame); `/json off` is refused. */
  readonly jsonOnly: boolean;
  /** When silence ends it (the chat sets a name deadline, then its idle rule). */
  idle: IdleRule;
  readonly closed: boolean;
  /** Marks activity, postponing the idle rule. */
  touch(): void;
  /** Closes at once; a pending read ends. Idempotent. */
  close(): void;
  /**
   * Where the Outbox writes: bytes of whole lines, each ending in LF. A write
   * resolves when the bytes are on their way (so a peer that does not read
   * fills the Outbox, and the slow-member rule applies).
   */
  readonly writer: Writer | SyncWriter;
  /**
   * Waits for input and hands each complete line (or overflow) to `handler`.
   * Returns false at the end of input (after the last line, even one without
   * a newline). Throws what the socket throws; see isDisconnect.
   */
  read(handler: LineHandler): Promise<boolean>;
}

// Small, so a thousand members cost little; a read holds at most this much.
const READ_SIZE = 4 * 1024;

/** A chat member over TCP (or TLS): lines end with LF, at most `maxLine` bytes. */
export class TcpTransport implements ChatTransport {
  readonly tracked: TrackedConn;
  readonly jsonOnly = false;
  #buffer = new Uint8Array(READ_SIZE);
  #splitter: LineSplitter;

  constructor(tracked: TrackedConn, maxLine: number) {
    this.tracked = tracked;
    this.#splitter = new LineSplitter(maxLine);
  }

  get peer(): string {
    return this.tracked.peer;
  }

  get authenticated(): boolean {
    return this.tracked.authenticated;
  }

  get idle(): IdleRule {
    return this.tracked.idle;
  }

  set idle(rule: IdleRule) {
    this.tracked.idle = rule;
  }

  get closed(): boolean {
    return this.tracked.closed;
  }

  get writer(): Writer {
    return this.tracked.conn;
  }

  touch(): void {
    this.tracked.touch();
  }

  close(): void {
    this.tracked.close();
  }

  async read(handler: LineHandler): Promise<boolean> {
    const n = await this.tracked.conn.read(this.#buffer);
    if (n === null) {
      this.#splitter.flush(handler); // a last line without a newline still counts
      return false;
    }
    this.tracked.touch();
    this.#splitter.push(this.#buffer.subarray(0, n), handler);
    return true;
  }
}
