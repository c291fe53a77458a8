/**
 * A connection that carries lines and raw bytes in turn: reading a line may
 * pull in bytes that follow it, so those are kept and handed out first by the
 * next raw read.
 */
import { type Reader, writeAll, type Writer } from "../base/io.ts";
import { decodeLenient, encode } from "../base/text.ts";

/** What readLine returns for a line over the limit (the connection is then unusable). */
export class LineTooLong extends Error {
  constructor(limit: number) {
    super(`Line longer than ${limit} bytes`);
    this.name = "LineTooLong";
  }
}

/** Line and byte reads over one reader, without losing bytes in between. */
export class WireReader {
  #reader: Reader;
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;
  #onRead: () => void;

  /**
   * @param reader the connection
   * @param options.lineBuffer bytes held for line framing (default 4 KiB); also the line limit
   * @param options.onRead called after every read that returned bytes (idle tracking)
   */
  constructor(reader: Reader, options: { lineBuffer?: number; onRead?: () => void } = {}) {
    this.#reader = reader;
    this.#buffer = new Uint8Array(options.lineBuffer ?? 4096);
    this.#onRead = options.onRead ?? (() => {});
  }

  /**
   * The next line without LF or CRLF, decoded as UTF-8 (invalid bytes become
   * U+FFFD), or null at end of input. A partial last line counts as end of
   * input: a request cut short is no request. Throws LineTooLong.
   */
  async readLine(): Promise<string | null> {
    let scanned = this.#start;
    while (true) {
      const newline = this.#buffer.subarray(scanned, this.#end).indexOf(0x0a);
      if (newline !== -1) {
        const lineEnd = scanned + newline;
        let line = this.#buffer.subarray(this.#start, lineEnd);
        if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, -1);
        this.#start = lineEnd + 1;
        return decodeLenient(line);
      }
      scanned = this.#end;
      if (this.#start > 0) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
        scanned -= this.#start;
        this.#end -= this.#start;
        this.#start = 0;
      }
      if (this.#end === this.#buffer.length) throw new LineTooLong(this.#buffer.length);
      const n = await this.#reader.read(this.#buffer.subarray(this.#end));
      if (n === null) return null;
      this.#onRead();
      this.#end += n;
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
