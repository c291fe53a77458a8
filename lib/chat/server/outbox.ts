/**
 * One member's outgoing queue with its own writer task. The room only ever
 * pushes (never awaits a member's socket), so a member that does not read
 * cannot stall anyone else; the queue is bounded, and a push past the bound
 * reports the member as stuck.
 */
import { concatBytes, writeAll, type Writer } from "../../base/io.ts";

// Lines queued in one turn go out in one write, up to this many bytes.
const BATCH_BYTES = 64 * 1024;

/**
 * A writer that can sometimes take bytes at once, without a promise (a
 * WebSocket, whose send() queues): tryWrite writes all of `bytes` and returns
 * true, or writes nothing and returns false (then the Outbox queues them).
 */
export interface SyncWriter extends Writer {
  tryWrite(bytes: Uint8Array): boolean;
}

/** Bounded send queue drained by one writer task. */
export class Outbox {
  #writer: Writer;
  #tryWrite: ((bytes: Uint8Array) => boolean) | null;
  #limit: number;
  #onFailure: (error: unknown) => void;
  #queue: Uint8Array[] = [];
  /** Bytes queued plus bytes handed to the write in progress. */
  #pending = 0;
  #draining: Promise<void> | null = null;
  #dead = false;

  /**
   * @param writer the member's socket
   * @param limit bytes pending before push refuses
   * @param onFailure called once if a write fails (usually the peer is gone; see isDisconnect)
   */
  constructor(writer: Writer | SyncWriter, limit: number, onFailure: (error: unknown) => void) {
    this.#writer = writer;
    this.#tryWrite = "tryWrite" in writer ? (bytes) => writer.tryWrite(bytes) : null;
    this.#limit = limit;
    this.#onFailure = onFailure;
  }

  /** Bytes waiting to be written. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Queues bytes (shared, never copied). Returns false when they would take a
   * non-empty queue past its limit, or the socket already failed: the member
   * is stuck or gone.
   */
  push(bytes: Uint8Array): boolean {
    if (this.#dead) return false;
    // One line always fits in an empty queue (a /users reply in a big room
    // may be longer than a small --chat-buffer), so memory stays within the
    // limit plus one line.
    if (this.#pending > 0 && this.#pending + bytes.length > this.#limit) return false;
    // Nothing waiting and a writer that takes bytes now: no task, no promise (fan-out to
    // a thousand WebSocket members is a thousand of these per line).
    if (this.#draining === null && this.#tryWrite?.(bytes)) return true;
    this.#queue.push(bytes);
    this.#pending += bytes.length;
    this.#draining ??= this.#drain();
    return true;
  }

  /** Resolves once everything pushed so far is written, or writing failed. */
  async flushed(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  /** Stops accepting; what is queued is dropped (the socket is being closed). */
  discard(): void {
    this.#dead = true;
    this.#queue = [];
  }

  async #drain(): Promise<void> {
    // Let the current turn finish so every line it queued goes in one write.
    await null;
    try {
      while (this.#queue.length > 0 && !this.#dead) {
        let count = 0;
        let bytes = 0;
        while (count < this.#queue.length && (count === 0 || bytes < BATCH_BYTES)) {
          bytes += this.#queue[count]!.length;
          count++;
        }
        const batch = this.#queue.splice(0, count);
        await writeAll(this.#writer, concatBytes(batch));
        this.#pending -= bytes;
      }
    } catch (error) {
      // Never rethrown: nobody awaits this task, and a peer's socket failing
      // must not take the server down. The owner decides what to log.
      const wasDead = this.#dead;
      this.discard();
      if (!wasDead) this.#onFailure(error);
    } finally {
      if (this.#dead) this.#pending = 0;
      this.#draining = null;
    }
  }
}
