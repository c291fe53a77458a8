/**
 * Text written in large chunks: a long report (a listing of 100,000 files)
 * goes out in a few writes instead of one per line, and with backpressure:
 * a pipe that reads slowly slows the producer instead of growing memory.
 */
import { writeAll, type Writer } from "./io.ts";

/** Characters gathered before a write. */
const CHUNK_CHARS = 64 * 1024;

/** A buffered text writer; see the module comment. */
export class TextOutput {
  #out: Writer;
  #text = "";
  #encoder = new TextEncoder();
  #gone = false;

  constructor(out: Writer) {
    this.#out = out;
  }

  /** Adds `text`; nothing is written until {@link flushed} or {@link flush}. */
  write(text: string): void {
    this.#text += text;
  }

  /** Writes what was gathered once it is a chunk; resolves when the writer took it. */
  async flushed(): Promise<void> {
    if (this.#text.length >= CHUNK_CHARS) await this.flush();
  }

  /**
   * True once the reader went away (a broken pipe: `... | head`): what is
   * written from then on is dropped, and the producer should stop.
   */
  get gone(): boolean {
    return this.#gone;
  }

  /** Writes everything gathered. */
  async flush(): Promise<void> {
    const text = this.#text;
    this.#text = "";
    if (text === "" || this.#gone) return;
    try {
      await writeAll(this.#out, this.#encoder.encode(text));
    } catch (error) {
      if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
      this.#gone = true;
    }
  }

  /** Flushes: `await using` writes the tail however the block ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.flush();
  }
}
