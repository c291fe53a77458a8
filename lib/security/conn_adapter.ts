/**
 * What every connection socketkit wraps (client_auth.ts, client_tls.ts)
 * needs besides its own read(), write() and close(): the `readable` and
 * `writable` streams built on them, and disposal.
 */
import { closeQuietly, writeAll } from "../base/io.ts";

/** A Deno.Conn whose streams and disposal come from its read, write and close. */
export abstract class ConnAdapter implements Deno.Conn<Deno.NetAddr> {
  #readable: ReadableStream<Uint8Array<ArrayBuffer>> | null = null;
  #writable: WritableStream<Uint8Array<ArrayBufferLike>> | null = null;

  abstract get localAddr(): Deno.NetAddr;
  abstract get remoteAddr(): Deno.NetAddr;
  abstract read(buffer: Uint8Array): Promise<number | null>;
  abstract write(bytes: Uint8Array): Promise<number>;
  abstract closeWrite(): Promise<void>;
  abstract close(): void;
  abstract ref(): void;
  abstract unref(): void;

  /** Pulls 16 KiB at a time through read() until EOF; cancelling closes. */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    this.#readable ??= new ReadableStream<Uint8Array<ArrayBuffer>>({
      pull: async (controller) => {
        const buffer = new Uint8Array(16 * 1024);
        const n = await this.read(buffer);
        if (n === null) {
          controller.close();
          return;
        }
        controller.enqueue(buffer.slice(0, n));
      },
      cancel: () => closeQuietly(this),
    });
    return this.#readable;
  }

  /** Writes every chunk through write() before taking the next. */
  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    this.#writable ??= new WritableStream<Uint8Array<ArrayBufferLike>>({
      write: (chunk) => writeAll(this, chunk),
      close: () => closeQuietly(this),
      abort: () => closeQuietly(this),
    });
    return this.#writable;
  }

  [Symbol.dispose](): void {
    closeQuietly(this);
  }
}
