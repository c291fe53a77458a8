/**
 * Telling a client without --tls that the server speaks TLS. A TLS server
 * answers bytes that are not a TLS handshake with an alert record; one that
 * is spoken to first says nothing at all until the handshake times out. So a
 * client that got no answer, or an unexpected one, asks on a connection of
 * its own: one newline, and an alert back means "add --tls".
 */
import { TIMED_OUT, within } from "../base/deadline.ts";
import { closeQuietly } from "../base/io.ts";
import { encode } from "../base/text.ts";

/** The advice for a client that spoke plain text to a TLS server. */
export const TLS_HINT = "the server speaks TLS: add --tls (and --ca FILE for a private CA)";

/** True when `bytes` start like a TLS record: type 0x15 (alert) or 0x16 (handshake), version 3.x. */
export function looksLikeTls(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && (bytes[0] === 0x15 || bytes[0] === 0x16) && bytes[1] === 0x03;
}

/**
 * Dials `host:port` in plain TCP, sends one newline and reports whether the
 * answer is a TLS record. False for anything else, a failure included: the
 * probe only ever adds a hint. Options: `ms` to wait for the answer (default
 * 2000), `signal` to give up (the connection is closed at once).
 */
export async function probeTls(
  host: string,
  port: number,
  options: { ms?: number; signal?: AbortSignal } = {},
): Promise<boolean> {
  const { ms = 2000, signal } = options;
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname: host, port });
  } catch {
    return false;
  }
  // Given up on (the greeting came after all): the close ends the read at once.
  const stop = () => closeQuietly(conn);
  if (signal?.aborted) stop();
  signal?.addEventListener("abort", stop, { once: true });
  const head = new Uint8Array(8);
  const reading = (async () => {
    await conn.write(encode("\n"));
    return await conn.read(head);
  })();
  try {
    const n = await within(reading, ms);
    return n !== TIMED_OUT && n !== null && looksLikeTls(head.subarray(0, n));
  } catch {
    return false;
  } finally {
    signal?.removeEventListener("abort", stop);
    closeQuietly(conn);
    await reading.catch(() => {}); // the read ends with the close
  }
}

/**
 * A probe that runs only after `delayMs` of waiting on a server that should
 * have spoken (chat's greeting): `verdict` rejects with `error()` when the
 * server turns out to speak TLS, and otherwise never settles. cancel() stops
 * it, its timer and connection included.
 */
export class SilenceProbe implements Disposable {
  /** Rejects when the server speaks TLS; never resolves. */
  readonly verdict: Promise<never>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stop = new AbortController();

  /**
   * @param host server address
   * @param port server port
   * @param options `delayMs` of silence before probing; `error` to reject with
   */
  constructor(
    host: string,
    port: number,
    options: { delayMs: number; error: () => Error },
  ) {
    this.verdict = new Promise<never>((_, reject) => {
      this.#timer = setTimeout(async () => {
        this.#timer = undefined;
        const tls = await probeTls(host, port, { signal: this.#stop.signal });
        if (tls && !this.#stop.signal.aborted) reject(options.error());
      }, options.delayMs);
    });
    this.verdict.catch(() => {});
  }

  /** Stops the probe: its timer, or its connection if it has one. */
  cancel(): void {
    this.#stop.abort();
    clearTimeout(this.#timer);
  }

  [Symbol.dispose](): void {
    this.cancel();
  }
}
