/**
 * A chat member over a WebSocket (the web page, `GET /chat`): each text
 * frame in is one line, each line out is one text frame (a JSON object: such
 * a member is in JSON mode from the start). Deno's `send()` never blocks, so
 * a write waits while the socket's `bufferedAmount` is over a small mark:
 * bytes a browser does not take stay in the member's Outbox, and the chat's
 * slow-member rule (--chat-buffer) drops it as it drops a TCP member.
 * Frames that arrive while the session is busy (a cluster step) wait here,
 * up to a bound; a peer that floods past it is closed.
 */
import type { SyncWriter } from "./outbox.ts";
import type { LineHandler } from "../../net/line_splitter.ts";
import type { IdleRule } from "../../net/tracked_conn.ts";
import type { ChatTransport } from "./transport.ts";

// Bytes the socket may hold unsent before a write waits (the rest waits in the Outbox).
const HIGH_WATER = 64 * 1024;
// How often a waiting write looks at bufferedAmount again: Deno has no "drain" event.
const DRAIN_POLL_MS = 5;
// Close code for a peer that sends more than the bound while the session is busy.
const POLICY_VIOLATION = 1008;

// A room hands every member the same bytes for an event: decoded once, not once per member.
const framesOfBytes = new WeakMap<Uint8Array, string[]>();
const decoder = new TextDecoder();

/** The lines in `bytes` (each ending in LF) as the text frames that carry them. */
function framesOf(bytes: Uint8Array): string[] {
  let frames = framesOfBytes.get(bytes);
  if (frames === undefined) {
    frames = [];
    let start = 0;
    for (let end = bytes.indexOf(0x0a); end !== -1; end = bytes.indexOf(0x0a, start)) {
      frames.push(decoder.decode(bytes.subarray(start, end)));
      start = end + 1;
    }
    framesOfBytes.set(bytes, frames);
  }
  return frames;
}

/** Options of {@link WebSocketTransport}. */
export interface WebSocketTransportOptions {
  /** "127.0.0.1:50412" (the peer, as the web service saw it). */
  peer: string;
  /** The request carried the server's token. Default false. */
  authenticated?: boolean;
  /** Longest line, in bytes (--chat-max-line); a longer frame is reported as an overflow. */
  maxLine: number;
  /** Clock in milliseconds for the idle rule (default Date.now), for tests. */
  now?: () => number;
}

/** One WebSocket as a chat member's connection. */
export class WebSocketTransport implements ChatTransport {
  readonly peer: string;
  readonly authenticated: boolean;
  readonly jsonOnly = true;
  readonly writer: SyncWriter;
  #socket: WebSocket;
  #maxLine: number;
  #now: () => number;
  #openedAt: number;
  #lastActive: number;
  #idle: IdleRule = { ms: 0 };
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Frames not yet read (null: one over --chat-max-line), and their bytes. */
  #frames: (Uint8Array | null)[] = [];
  #queued = 0;
  #ended = false;
  #closed = false;
  #wake: (() => void) | null = null;
  #encoder = new TextEncoder();

  /** Takes a socket from Deno.upgradeWebSocket; see {@link opened} before writing. */
  constructor(socket: WebSocket, options: WebSocketTransportOptions) {
    this.#socket = socket;
    this.peer = options.peer;
    this.authenticated = options.authenticated ?? false;
    this.#maxLine = options.maxLine;
    this.#now = options.now ?? Date.now;
    this.#openedAt = this.#lastActive = this.#now();
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (event) => this.#onFrame(event.data));
    socket.addEventListener("close", () => this.#end());
    socket.addEventListener("error", () => this.#end());
    this.writer = {
      write: (bytes) => this.#write(bytes),
      tryWrite: (bytes) => this.#tryWrite(bytes),
    };
  }

  /** Resolves true once the socket is open, false if it closed first. */
  opened(): Promise<boolean> {
    const socket = this.#socket;
    if (socket.readyState === WebSocket.OPEN) return Promise.resolve(true);
    if (socket.readyState !== WebSocket.CONNECTING) return Promise.resolve(false);
    return new Promise((resolve) => {
      socket.addEventListener("open", () => resolve(true), { once: true });
      socket.addEventListener("close", () => resolve(false), { once: true });
    });
  }

  get idle(): IdleRule {
    return this.#idle;
  }

  set idle(rule: IdleRule) {
    this.#idle = rule;
    this.#arm();
  }

  get closed(): boolean {
    return this.#closed;
  }

  touch(): void {
    this.#lastActive = this.#now();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    const state = this.#socket.readyState;
    if (state === WebSocket.OPEN || state === WebSocket.CONNECTING) this.#socket.close();
    this.#end();
  }

  async read(handler: LineHandler): Promise<boolean> {
    while (this.#frames.length === 0 && !this.#ended) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const frames = this.#frames;
    this.#frames = [];
    this.#queued = 0;
    for (const frame of frames) {
      if (frame === null) handler.overflow();
      else handler.line(frame);
    }
    return frames.length > 0 || !this.#ended;
  }

  #onFrame(data: unknown): void {
    if (this.#ended) return;
    this.touch();
    let bytes = typeof data === "string"
      ? this.#encoder.encode(data)
      : data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(0);
    // A frame is a line; a line end a script added anyway is not part of it.
    if (bytes.at(-1) === 0x0a) bytes = bytes.subarray(0, bytes.at(-2) === 0x0d ? -2 : -1);
    const frame = bytes.length > this.#maxLine ? null : bytes;
    this.#frames.push(frame);
    this.#queued += frame?.length ?? 0;
    // As much as a TCP reader would hold in its buffer and its splitter.
    if (this.#frames.length > 1024 || this.#queued > 16 * this.#maxLine + 64 * 1024) {
      this.#socket.close(POLICY_VIOLATION, "Too many lines at once");
      this.close();
      return;
    }
    this.#wakeReader();
  }

  #end(): void {
    this.#ended = true;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#wakeReader();
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Sends now if the socket is open and holds little; else sends nothing. */
  #tryWrite(bytes: Uint8Array): boolean {
    const socket = this.#socket;
    if (socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > HIGH_WATER) return false;
    for (const frame of framesOf(bytes)) socket.send(frame);
    return true;
  }

  async #write(bytes: Uint8Array): Promise<number> {
    const socket = this.#socket;
    for (const frame of framesOf(bytes)) {
      if (socket.readyState !== WebSocket.OPEN) throw new Deno.errors.BrokenPipe("closed");
      socket.send(frame);
    }
    while (socket.bufferedAmount > HIGH_WATER) {
      if (socket.readyState !== WebSocket.OPEN) throw new Deno.errors.BrokenPipe("closed");
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    return bytes.length;
  }

  /** Times the idle rule, as TcpService's sweep does for a TCP connection. */
  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const rule = this.#idle;
    if (rule.ms <= 0 || this.#closed) return;
    const since = rule.from === "open" ? this.#openedAt : this.#lastActive;
    const left = since + rule.ms - this.#now();
    if (left >= 0) {
      this.#timer = setTimeout(() => this.#arm(), left + 1);
      return;
    }
    this.#idle = { ms: 0 }; // once
    if (rule.onExpire) rule.onExpire();
    else this.close();
  }
}
