/**
 * The `readable` and `writable` of a Deno.Conn built on its read() and
 * write(), for connections socketkit wraps (client_auth.ts, client_tls.ts).
 */
import { writeAll } from "../base/io.ts";

/** A ReadableStream pulling from `read` (16 KiB at a time) until EOF. */
export function readableFrom(
  read: (buffer: Uint8Array) => Promise<number | null>,
  close: () => void,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  return new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      const buffer = new Uint8Array(16 * 1024);
      const n = await read(buffer);
      if (n === null) {
        controller.close();
        return;
      }
      controller.enqueue(buffer.slice(0, n));
    },
    cancel: () => close(),
  });
}

/** A WritableStream writing every chunk with `write` before taking the next. */
export function writableTo(
  write: (bytes: Uint8Array) => Promise<number>,
  close: () => void,
): WritableStream<Uint8Array<ArrayBufferLike>> {
  return new WritableStream<Uint8Array<ArrayBufferLike>>({
    write: (chunk) => writeAll({ write }, chunk),
    close: () => close(),
    abort: () => close(),
  });
}
