/** Reads whole lines from a Deno reader, with the same limits and framing rule (line_splitter.ts) as the servers. */
import { LineSplitter } from "./line_splitter.ts";
import type { Reader } from "../base/io.ts";

/** What readLine hands back for a line that passed the limit. */
export const OVERLONG = Symbol("overlong line");

/** Buffered line reader over a socket, a file or stdin. */
export class LineReader {
  #reader: Reader;
  #splitter: LineSplitter;
  #buffer: Uint8Array;
  #lines: (Uint8Array | typeof OVERLONG)[] = [];
  #eof = false;

  /**
   * @param reader where bytes come from
   * @param options.maxLine longest line kept, in bytes (default 1 MiB)
   * @param options.bufferSize read size (default 16 KiB)
   */
  constructor(reader: Reader, options: { maxLine?: number; bufferSize?: number } = {}) {
    this.#reader = reader;
    this.#splitter = new LineSplitter(options.maxLine ?? 1024 * 1024);
    this.#buffer = new Uint8Array(options.bufferSize ?? 16 * 1024);
  }

  /**
   * The next line without its terminator, OVERLONG for a line over the limit,
   * or null at end of input. A last line without a newline is still returned.
   */
  async readLine(): Promise<Uint8Array | typeof OVERLONG | null> {
    const handler = {
      line: (bytes: Uint8Array) => this.#lines.push(bytes.slice()),
      overflow: () => this.#lines.push(OVERLONG),
    };
    while (this.#lines.length === 0) {
      if (this.#eof) return null;
      const n = await this.#reader.read(this.#buffer);
      if (n === null) {
        this.#eof = true;
        this.#splitter.flush(handler);
      } else {
        this.#splitter.push(this.#buffer.subarray(0, n), handler);
      }
    }
    return this.#lines.shift()!;
  }
}
