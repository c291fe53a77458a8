/**
 * The one copy loop every transfer uses: a fixed number of bytes from a reader
 * to a writer, hashed on the way, with two reused buffers so the next read
 * runs while the previous chunk is being written. Awaiting each write is the
 * backpressure: a slow writer slows the reader, memory stays at two chunks.
 */
import type { StreamHash } from "./hashing.ts";
import { type Reader, writeAll, type Writer } from "../base/io.ts";
import { paced, type Throttle } from "./pace.ts";
import { CHUNK_SIZE } from "./protocol.ts";

/** Options of {@link pump}. */
export interface PumpOptions {
  /** Fed every byte in order; absent when the digest is already known. */
  hash?: StreamHash;
  /** Called after each chunk is written, with the bytes written so far and in this chunk. */
  onProgress?: (copied: number, moved: number) => void;
  /** Checked between chunks; true stops the copy early. */
  stop?: () => boolean;
  /** Bytes per read (default CHUNK_SIZE, or the throttle's). */
  chunkSize?: number;
  /** Paces the writes (--limit-rate, --max-rate-per-conn); null or absent: full speed. */
  throttle?: Throttle | null;
}

/**
 * Copies exactly `length` bytes unless the reader ends (or `stop` says so)
 * first; returns the number copied. Errors from either side are rethrown as
 * {@link PumpError} saying which side failed.
 */
export async function pump(
  reader: Reader,
  writer: Writer,
  length: number,
  options: PumpOptions,
): Promise<number> {
  const throttle = options.throttle ?? null;
  const out = paced(writer, throttle);
  const chunkSize = throttle?.chunkSize ?? options.chunkSize ?? CHUNK_SIZE;
  const size = Math.min(chunkSize, Math.max(length, 1));
  let current = new Uint8Array(size);
  let spare = new Uint8Array(size);
  let copied = 0;
  let n = length > 0 ? await readSide(reader, current, length) : null;
  while (n !== null) {
    const chunk = current.subarray(0, n);
    copied += n;
    const left = length - copied;
    const stopping = left === 0 || (options.stop?.() ?? false);
    // Overlap: the write of this chunk and the read of the next run on I/O
    // threads while this thread hashes the chunk (reading a buffer that
    // nothing writes to until both are done).
    const written = writeSide(out, chunk);
    const next = stopping ? Promise.resolve(null) : readSide(reader, spare, left);
    // Handled at once: the read can fail (a reset) while the write is still
    // pending, and a rejection with no handler at that moment ends the
    // process in Deno, even though the finally below would catch it later.
    written.catch(() => {});
    next.catch(() => {});
    try {
      options.hash?.update(chunk);
      await written;
    } finally {
      // Never leave either dangling: a rejection would go unhandled.
      await Promise.allSettled([written, next]);
    }
    options.onProgress?.(copied, n);
    n = await next;
    [current, spare] = [spare, current];
  }
  return copied;
}

/** Which side of a copy failed, with the original error as cause. */
export class PumpError extends Error {
  readonly side: "read" | "write";
  constructor(side: "read" | "write", cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = "PumpError";
    this.side = side;
  }
}

async function readSide(reader: Reader, buffer: Uint8Array, left: number): Promise<number | null> {
  try {
    return await reader.read(left < buffer.length ? buffer.subarray(0, left) : buffer);
  } catch (error) {
    throw new PumpError("read", error);
  }
}

async function writeSide(writer: Writer, chunk: Uint8Array): Promise<void> {
  try {
    await writeAll(writer, chunk);
  } catch (error) {
    throw new PumpError("write", error);
  }
}
