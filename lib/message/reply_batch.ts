/**
 * The replies to one read of a TCP message connection, sent with one write.
 * Nearly every reply is the same acknowledgement, so a run of them is sent as
 * a slice of one shared, never-modified buffer holding the acknowledgement
 * repeated: no per-message array entry, no copy.
 */
import { concatBytes, writeAll, type Writer } from "../base/io.ts";

/** Acknowledgements one shared run holds; longer runs take several slices. */
const RUN_LENGTH = 1024;

/** One reply repeated {@link RUN_LENGTH} times, shared by every connection of a service. */
export class ReplyRun {
  readonly reply: Uint8Array;
  readonly bytes: Uint8Array;

  constructor(reply: Uint8Array) {
    this.reply = reply;
    this.bytes = new Uint8Array(reply.length * RUN_LENGTH);
    for (let i = 0; i < RUN_LENGTH; i++) this.bytes.set(reply, i * reply.length);
  }
}

/** Replies queued since the last write, in order. */
export class ReplyBatch {
  #run: ReplyRun;
  #repeats = 0;
  #parts: Uint8Array[] = [];

  constructor(run: ReplyRun) {
    this.#run = run;
  }

  /** Queues the run's reply (the acknowledgement). */
  repeat(): void {
    this.#repeats++;
  }

  /** Queues any other reply. */
  push(bytes: Uint8Array): void {
    this.#closeRun();
    this.#parts.push(bytes);
  }

  /** Writes everything queued in one write (a copy only when replies are mixed). */
  async writeTo(writer: Writer): Promise<void> {
    this.#closeRun();
    const parts = this.#parts;
    if (parts.length === 0) return;
    const out = parts.length === 1 ? parts[0]! : concatBytes(parts);
    parts.length = 0;
    await writeAll(writer, out);
  }

  #closeRun(): void {
    const { reply, bytes } = this.#run;
    while (this.#repeats > 0) {
      const n = Math.min(this.#repeats, RUN_LENGTH);
      this.#parts.push(bytes.subarray(0, n * reply.length));
      this.#repeats -= n;
    }
  }
}
