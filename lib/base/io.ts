/** Small I/O helpers for Deno connections. */

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

/**
 * Before closing on a peer that may still be sending: half-close, so it reads
 * our last line and then EOF, and read and discard what it sends for a
 * moment. Closing with unread bytes would make the kernel send a reset, which
 * can destroy the last line before the peer reads it. Bounded in time and
 * bytes; never throws.
 */
export async function lingerBeforeClose(
  conn: Deno.Conn,
  options: { ms?: number; maxBytes?: number } = {},
): Promise<void> {
  const ms = options.ms ?? 500;
  const maxBytes = options.maxBytes ?? 64 * 1024;
  try {
    await conn.closeWrite();
  } catch {
    return; // already gone
  }
  const sink = new Uint8Array(4096);
  const deadline = Date.now() + ms;
  let drained = 0;
  while (drained < maxBytes) {
    const left = deadline - Date.now();
    if (left <= 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = conn.read(sink).catch(() => null);
    const n = await Promise.race([
      read,
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), left))),
    ]);
    clearTimeout(timer);
    if (n === null) return;
    drained += n;
  }
}
