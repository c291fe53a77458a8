/** Small I/O helpers for Deno connections. */
import { TIMED_OUT, within } from "./deadline.ts";

/** Anything with Deno's `write` contract (TcpConn, FsFile, stdout). */
export interface Writer {
  write(bytes: Uint8Array): Promise<number>;
}

/** Anything with Deno's `read` contract (TcpConn, FsFile, stdin). */
export interface Reader {
  read(buffer: Uint8Array): Promise<number | null>;
}

/** Writes every byte, looping over short writes. */
export async function writeAll(writer: Writer, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await writer.write(bytes.subarray(written));
  }
}

/** Joins byte arrays into one (one write instead of many). */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** True for the errors that just mean "the peer or the socket is gone". */
export function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.TimedOut;
}

/** Closes a resource, ignoring "already closed". */
export function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) throw error;
  }
}

/** Options of {@link linger}. */
export interface LingerOptions {
  /** How long to drain, in milliseconds. Default 500. */
  ms?: number;
  /** Bytes drained at most. Default 64 KiB. */
  maxBytes?: number;
  /** Where unread bytes come from, when something buffers ahead of the socket. Default the socket. */
  reader?: Reader;
}

/**
 * Before closing on a peer that may still be sending: half-close, so it reads
 * our last line and then EOF, and read and discard what it sends for a
 * moment. Closing with unread bytes would make the kernel send a reset, which
 * can destroy the last line before the peer reads it. Bounded in time and
 * bytes; never throws.
 */
export async function linger(conn: Deno.Conn, options: LingerOptions = {}): Promise<void> {
  const ms = options.ms ?? 500;
  const maxBytes = options.maxBytes ?? 64 * 1024;
  const reader = options.reader ?? conn;
  try {
    await conn.closeWrite();
  } catch {
    return; // already gone
  }
  const sink = new Uint8Array(Math.min(64 * 1024, maxBytes));
  const deadline = Date.now() + ms;
  let drained = 0;
  while (drained < maxBytes) {
    const left = deadline - Date.now();
    if (left <= 0) return;
    const n = await within(reader.read(sink).catch(() => null), left);
    if (n === null || n === TIMED_OUT) return;
    drained += n;
  }
}
