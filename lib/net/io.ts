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
