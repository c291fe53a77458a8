/**
 * What a UDP engine does for a UDP service: move datagrams in batches. Every
 * decision about a datagram (access control, the token, rate limits, the
 * reply) stays with the service on the main thread. Two engines implement it:
 * udp_deno_engine.ts (Deno.listenDatagram, portable) and udp_batch_engine.ts
 * (recvmmsg and sendmmsg through libc, Linux).
 */

/** `serve --udp-engine`: batch where it can run, else deno (auto); or one of them. */
export const UDP_ENGINES = ["auto", "deno", "batch"] as const;
export type UdpEngineChoice = typeof UDP_ENGINES[number];

/** One datagram received. */
export interface Datagram {
  /** The payload, valid until the next receive() (copy it to keep it). */
  data: Uint8Array;
  /** The sender. The same peer may get the same (frozen) object every time. */
  from: Deno.NetAddr;
}

/** One datagram to send. */
export interface Reply {
  data: Uint8Array;
  to: Deno.NetAddr;
}

/** Called for a reply that could not be sent (no route, send buffer full, ...). */
export type SendErrorHandler = (to: Deno.NetAddr, error: Error) => void;

/** A bound UDP socket that moves datagrams in batches. */
export interface UdpEngine {
  /** "deno" or "batch". */
  readonly kind: "deno" | "batch";
  /** The address bound, port 0 resolved. */
  readonly addr: Deno.NetAddr;
  /**
   * The next batch (one datagram or more), or null once closed. An error
   * about one peer (an ICMP message surfacing on the socket) does not end it.
   */
  receive(): Promise<Datagram[] | null>;
  /**
   * Sends a batch of replies. One that cannot be sent is skipped and given to
   * the engine's SendErrorHandler; the rest still go. Rejects with
   * Deno.errors.BadResource once the engine is closed.
   */
  send(replies: Reply[]): Promise<void>;
  /** Closes the socket (and stops the worker); a pending receive resolves null. */
  close(): Promise<void>;
}

/**
 * Start-up work an engine may put off until its owner is ready for it. The
 * batch engine's worker costs tens of milliseconds of the main thread to
 * start; serve opens its engines with one of these and runs the starts after
 * its Listening lines, so the ports are announced without waiting for them
 * (datagrams that arrive meanwhile wait in the socket's buffer).
 */
export class DeferredStarts {
  #starts: (() => Promise<void>)[] = [];
  #ran = false;

  /** Keeps `start` for {@link run}; false once run has been called (start it yourself). */
  defer(start: () => Promise<void>): boolean {
    if (this.#ran) return false;
    this.#starts.push(start);
    return true;
  }

  /** Runs every start put off; rejects with the first failure once all have settled. */
  async run(): Promise<void> {
    this.#ran = true;
    const results = await Promise.allSettled(this.#starts.splice(0).map((start) => start()));
    const failed = results.find((result) => result.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }
}

/** Options every engine takes. */
export interface UdpEngineOptions {
  /** Replies that could not be sent; default: ignored. */
  onSendError?: SendErrorHandler;
  /** Receive errors about one peer (the engine goes on); default: ignored. */
  onReceiveError?: (error: Error) => void;
  /** Where to put off start-up work (the batch engine's worker); default: done in open. */
  deferred?: DeferredStarts;
}
