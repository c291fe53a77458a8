/**
 * Splits a byte stream into lines (LF or CRLF) with a hard limit on line
 * length. An over-long line is reported once and the rest of it is skipped,
 * so a peer can never make the buffer grow past the limit.
 */

/** What the splitter hands back for each complete piece of input. */
export interface LineHandler {
  /** A complete line without its terminator. Valid only during the call. */
  line(bytes: Uint8Array): void;
  /** A line passed the limit; its remaining bytes will be discarded. */
  overflow(): void;
}

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = new Uint8Array(0);
/** Smallest buffer for an unfinished line once one is needed. */
const FIRST_PENDING = 1024;

/** Incremental line framing over chunks of bytes. */
export class LineSplitter {
  readonly maxLine: number;
  #pending: Uint8Array;
  #pendingLength = 0;
  #discarding = false;

  /** @param maxLine longest line accepted, in bytes, not counting CR/LF. */
  constructor(maxLine: number) {
    this.maxLine = maxLine;
    // Allocated on the first unfinished line: most idle connections never have one.
    this.#pending = EMPTY;
  }

  /** True when bytes of an unfinished line are buffered (or being discarded). */
  get hasPending(): boolean {
    return this.#pendingLength > 0 || this.#discarding;
  }

  /** Feeds a chunk; calls the handler for every line it completes. */
  push(chunk: Uint8Array, handler: LineHandler): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(LF, start);
      if (newline === -1) {
        this.#buffer(chunk.subarray(start), handler);
        return;
      }
      this.#finish(chunk.subarray(start, newline), handler);
      start = newline + 1;
    }
  }

  /**
   * Feeds a chunk whose end also ends a line: {@link push}, then
   * {@link flush}, without copying the tail when nothing was pending.
   */
  pushFinal(chunk: Uint8Array, handler: LineHandler): void {
    if (this.hasPending) {
      this.push(chunk, handler);
      this.flush(handler);
      return;
    }
    let start = 0;
    for (let newline = chunk.indexOf(LF); newline !== -1; newline = chunk.indexOf(LF, start)) {
      this.#finish(chunk.subarray(start, newline), handler);
      start = newline + 1;
    }
    if (start < chunk.length) this.#finish(chunk.subarray(start), handler);
  }

  /**
   * Ends the unfinished line as if a newline had arrived (the peer paused or
   * half-closed). Returns whether a line or a discarded remainder was pending.
   */
  flush(handler: LineHandler): boolean {
    if (!this.hasPending) return false;
    this.#finish(new Uint8Array(0), handler);
    return true;
  }

  #finish(tail: Uint8Array, handler: LineHandler): void {
    if (this.#discarding) {
      this.#discarding = false;
      return;
    }
    let line = tail;
    if (this.#pendingLength > 0) {
      if (this.#pendingLength + tail.length > this.maxLine + 1) {
        this.#pendingLength = 0;
        handler.overflow();
        return;
      }
      this.#append(tail);
      line = this.#pending.subarray(0, this.#pendingLength);
      this.#pendingLength = 0;
    }
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, -1);
    if (line.length > this.maxLine) {
      handler.overflow();
      return;
    }
    handler.line(line);
  }

  #buffer(part: Uint8Array, handler: LineHandler): void {
    if (this.#discarding) return;
    // +1 leaves room for a CR whose LF has not arrived yet.
    if (this.#pendingLength + part.length > this.maxLine + 1) {
      this.#pendingLength = 0;
      this.#discarding = true;
      handler.overflow();
      return;
    }
    this.#append(part);
  }

  #append(part: Uint8Array): void {
    const needed = this.#pendingLength + part.length;
    if (needed > this.#pending.length) {
      const grown = new Uint8Array(
        Math.min(Math.max(needed, this.#pending.length * 2, FIRST_PENDING), this.maxLine + 1),
      );
      grown.set(this.#pending.subarray(0, this.#pendingLength));
      this.#pending = grown;
    }
    this.#pending.set(part, this.#pendingLength);
    this.#pendingLength = needed;
  }
}
