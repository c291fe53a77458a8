/**
 * The line framing core: every line reader in socketkit (the message and chat
 * services, `LineReader`, `WireReader`) splits bytes here, so they
 * all follow one rule:
 *
 * - A line ends at LF. One CR right before the LF is dropped with it (CRLF);
 *   a CR anywhere else is part of the line.
 * - The limit `maxLine` counts the line's bytes without its CR/LF. A line over
 *   it is over-long: `overflow()` is reported once, at its LF or as soon as
 *   more than `maxLine + 1` bytes of it are buffered (the one byte more is
 *   room for a CR), whichever comes first, and its bytes up to and including
 *   the next LF are discarded without a second report. Framing then goes on
 *   with the next line, so the buffer never grows past `maxLine + 1` bytes.
 *   (A reader may stop there instead: WireReader treats the connection as
 *   unusable.)
 * - A last line without a newline is held until the reader ends it with
 *   {@link LineSplitter.flush} (or {@link LineSplitter.pushFinal}), which
 *   frames it as if an LF had come; the core never guesses that input ended.
 *   Readers that deliver it at end of input (LineReader, the message and
 *   chat services) call flush; WireReader does not, because a request cut
 *   short must not run.
 *
 * @module
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
   * Feeds bytes until one line or one overflow has been reported, and
   * returns how many bytes of `chunk` that took; the rest are the caller's
   * (for a protocol that carries raw bytes after a line). Returns
   * `chunk.length` when no report came yet or the overflow was in the
   * unfinished part.
   */
  pushOne(chunk: Uint8Array, handler: LineHandler): number {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(LF, start);
      if (newline === -1) {
        this.#buffer(chunk.subarray(start), handler);
        return chunk.length;
      }
      const reported = this.#finish(chunk.subarray(start, newline), handler);
      start = newline + 1;
      if (reported) return start;
    }
    return start;
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

  /** Ends the current line at an LF; false when it was the rest of a discarded one. */
  #finish(tail: Uint8Array, handler: LineHandler): boolean {
    if (this.#discarding) {
      this.#discarding = false;
      return false;
    }
    let line = tail;
    if (this.#pendingLength > 0) {
      if (this.#pendingLength + tail.length > this.maxLine + 1) {
        this.#pendingLength = 0;
        handler.overflow();
        return true;
      }
      this.#append(tail);
      line = this.#pending.subarray(0, this.#pendingLength);
      this.#pendingLength = 0;
    }
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, -1);
    if (line.length > this.maxLine) {
      handler.overflow();
      return true;
    }
    handler.line(line);
    return true;
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
