/**
 * The reading side of the pipelined requests (`PUTS`, `GETS`) at both ends:
 * a growing buffer filled from the connection in large reads, from which
 * lines and whole small files are taken synchronously. One await per read
 * of the socket, not per file: a read of 256 KiB holds dozens of 4 KB files,
 * each handled without a promise.
 */
import { decodeLenient } from "../base/text.ts";
import type { Reader } from "../base/io.ts";
import { LineTooLong } from "../net/wire_reader.ts";
import { MAX_LINE } from "./protocol.ts";

/** Bytes read from the socket at a time (the buffer grows for a bigger file). */
const READ_SIZE = 256 * 1024;

/** Lines and byte runs taken from a connection's input without awaiting each. */
export class BatchInput {
  #reader: Reader;
  #buffer = new Uint8Array(READ_SIZE * 2);
  #start = 0;
  #end = 0;

  /** @param reader the connection's reader (its WireReader, which hands out what it buffered first) */
  constructor(reader: Reader) {
    this.#reader = reader;
  }

  /**
   * The next complete line (LF or CRLF cut off), or null when no complete
   * line is buffered yet. Throws LineTooLong past MAX_LINE bytes.
   */
  line(): string | null {
    const buffer = this.#buffer;
    const newline = buffer.subarray(this.#start, this.#end).indexOf(10);
    if (newline === -1) {
      if (this.#end - this.#start > MAX_LINE) throw new LineTooLong(MAX_LINE);
      return null;
    }
    if (newline > MAX_LINE) throw new LineTooLong(MAX_LINE);
    let stop = this.#start + newline;
    const next = stop + 1;
    if (stop > this.#start && buffer[stop - 1] === 13) stop--;
    const line = decodeLenient(buffer.subarray(this.#start, stop));
    this.#start = next;
    return line;
  }

  /**
   * The next `length` bytes if they are all buffered (a view, valid until
   * the next {@link fill}), else null.
   */
  bytes(length: number): Uint8Array | null {
    if (this.#end - this.#start < length) return null;
    const view = this.#buffer.subarray(this.#start, this.#start + length);
    this.#start += length;
    return view;
  }

  /** Bytes buffered and not yet taken. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Reads more from the connection, first making room for at least `need`
   * buffered bytes (a whole file and its line). Resolves to false at the
   * end of input.
   */
  async fill(need = 0): Promise<boolean> {
    const held = this.#end - this.#start;
    const size = Math.max(this.#buffer.length, need + READ_SIZE);
    if (size > this.#buffer.length) {
      const grown = new Uint8Array(size);
      grown.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = grown;
    } else if (this.#start > 0) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
    }
    this.#start = 0;
    this.#end = held;
    const n = await this.#reader.read(this.#buffer.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    return true;
  }
}
