/**
 * A connection that carries lines and raw bytes in turn: reading a line may
 * pull in bytes that follow it, so those are kept and handed out first by the
 * next raw read.
 */
import { Deadline, TIMED_OUT } from "../base/deadline.ts";
import { type Reader, writeAll, type Writer } from "../base/io.ts";
import { decodeLenient, encode } from "../base/text.ts";
import { OVERLONG } from "./line_reader.ts";
import { type LineHandler, LineSplitter } from "./line_splitter.ts";

/** What readLine returns for a line over the limit (the connection is then unusable). */
export class LineTooLong extends Error {
  constructor(limit: number) {
    super(`Line longer than ${limit} bytes`);
    this.name = "LineTooLong";
  }
}

/**
 * What readLine throws when a line was begun but not finished within the
 * line deadline (a trickle); the connection is then unusable.
 */
export class LineTimeout extends Error {
  readonly ms: number;
  constructor(ms: number) {
    super(`Line not completed within ${ms} ms`);
    this.name = "LineTimeout";
    this.ms = ms;
  }
}

/** Options of {@link WireReader}. */
export interface WireReaderOptions {
  /**
   * Bytes held for line framing (default 4 KiB); a line and its LF must fit
   * in it, so the line limit is one byte less (CR not counted, as everywhere).
   */
  lineBuffer?: number;
  /** Called after every read that returned bytes (idle tracking). */
  onRead?: () => void;
  /**
   * Milliseconds a line may take from its first byte to its newline; 0 (the
   * default): no limit. Waiting for a line's first byte is not limited here.
   */
  lineTimeout?: number;
}

/** What the splitter reported for the line being read. */
type Framed = string | typeof OVERLONG | undefined;

/**
 * Line and byte reads over one reader, without losing bytes in between.
 * Lines follow the framing rule of `line_splitter.ts`; an over-long line
 * ends the conversation (LineTooLong) and a cut-short last line is end of
 * input.
 */
export class WireReader {
  #reader: Reader;
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;
  #splitter: LineSplitter;
  #framed: Framed;
  #handler: LineHandler = {
    line: (bytes) => this.#framed = decodeLenient(bytes),
    overflow: () => this.#framed = OVERLONG,
  };
  #onRead: () => void;
  #lineTimeout: number;

  /** @param reader the connection */
  constructor(reader: Reader, options: WireReaderOptions = {}) {
    this.#reader = reader;
    this.#buffer = new Uint8Array(options.lineBuffer ?? 4096);
    this.#splitter = new LineSplitter(this.#buffer.length - 1);
    this.#onRead = options.onRead ?? (() => {});
    this.#lineTimeout = options.lineTimeout ?? 0;
  }

  /**
   * The next line without LF or CRLF, decoded as UTF-8 (invalid bytes become
   * U+FFFD), or null at end of input. A partial last line counts as end of
   * input: a request cut short is no request. Throws LineTooLong, and
   * LineTimeout when the line deadline passes.
   */
  async readLine(): Promise<string | null> {
    let deadline: Deadline | null = null;
    try {
      while (true) {
        if (this.#start < this.#end) {
          this.#framed = undefined;
          this.#start += this.#splitter.pushOne(
            this.#buffer.subarray(this.#start, this.#end),
            this.#handler,
          );
          const framed = this.#framed as Framed;
          if (framed === OVERLONG) throw new LineTooLong(this.#buffer.length);
          if (framed !== undefined) return framed;
        }
        // Everything buffered is now the splitter's.
        this.#start = this.#end = 0;
        // The clock starts with the line's first byte (perhaps already buffered).
        if (deadline === null && this.#splitter.hasPending && this.#lineTimeout > 0) {
          deadline = new Deadline(this.#lineTimeout);
        }
        const read = this.#reader.read(this.#buffer);
        const n = deadline === null ? await read : await deadline.race(read);
        if (n === TIMED_OUT) throw new LineTimeout(this.#lineTimeout);
        if (n === null) return null;
        this.#onRead();
        this.#end = n;
      }
    } finally {
      deadline?.clear();
    }
  }

  /** Reads up to `target.length` bytes: buffered ones first, then straight from the reader. */
  async read(target: Uint8Array): Promise<number | null> {
    if (this.#start < this.#end) {
      const n = Math.min(target.length, this.#end - this.#start);
      target.set(this.#buffer.subarray(this.#start, this.#start + n));
      this.#start += n;
      return n;
    }
    const n = await this.#reader.read(target);
    if (n !== null) this.#onRead();
    return n;
  }
}

/** Writes one line (LF added). */
export async function writeLine(writer: Writer, line: string): Promise<void> {
  await writeAll(writer, encode(line + "\n"));
}
