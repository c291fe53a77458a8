/**
 * Client side of a one-datagram-in, one-datagram-out exchange: send, wait for
 * the reply within a timeout, resend a bounded number of times.
 */
import { RuntimeError } from "../cli/errors.ts";
import { formatHostPort, wildcardFor } from "./address.ts";
import { TIMED_OUT, within } from "./deadline.ts";
import { closeQuietly } from "./io.ts";

/** Options of {@link UdpRequester.request}. */
export interface UdpRequestOptions {
  /** Milliseconds to wait for the reply to each try. */
  timeout: number;
  /** Resends after the first try when no reply comes. */
  retries: number;
}

/** What one request came back with. */
export type UdpOutcome =
  | { kind: "reply"; data: Uint8Array }
  /** No reply after every try. */
  | { kind: "no-reply"; tries: number };

/**
 * One UDP socket talking to one server address. The socket is opened on the
 * first request and kept for the next ones; close() releases it.
 */
export class UdpRequester {
  #host: string;
  #port: number;
  #socket: Deno.DatagramConn | null = null;
  #pending: Promise<[Uint8Array, Deno.Addr] | null> | null = null;

  /** @param host server address @param port server UDP port */
  constructor(host: string, port: number) {
    this.#host = host;
    this.#port = port;
  }

  /**
   * Sends `payload` and resolves with the first datagram from the server's
   * port, resending up to `retries` times. Throws RuntimeError when the
   * datagram cannot be sent at all (e.g. no route, no permission).
   */
  async request(payload: Uint8Array, options: UdpRequestOptions): Promise<UdpOutcome> {
    this.#socket ??= Deno.listenDatagram({
      transport: "udp",
      hostname: wildcardFor(this.#host),
      port: 0,
    });
    const tries = options.retries + 1;
    for (let attempt = 1; attempt <= tries; attempt++) {
      try {
        await this.#socket.send(payload, {
          transport: "udp",
          hostname: this.#host,
          port: this.#port,
        });
      } catch (error) {
        const detail = error instanceof Error ? error.message : String(error);
        throw new RuntimeError(
          `Cannot send to ${formatHostPort(this.#host, this.#port)}: ${detail}`,
          { cause: error },
        );
      }
      const data = await this.#receiveWithin(options.timeout);
      if (data) return { kind: "reply", data };
    }
    return { kind: "no-reply", tries };
  }

  /** Closes the socket; a later request opens a new one. */
  close(): void {
    if (this.#socket) closeQuietly(this.#socket);
    this.#socket = null;
    this.#pending = null;
  }

  // A receive cannot be cancelled, so one that timed out stays pending and
  // serves the next attempt instead of being abandoned.
  async #receiveWithin(ms: number): Promise<Uint8Array | null> {
    const socket = this.#socket!;
    while (true) {
      this.#pending ??= socket.receive().catch(() => null);
      const result = await within(this.#pending, ms);
      if (result === TIMED_OUT) return null;
      this.#pending = null;
      if (result === null) return null;
      const [data, from] = result;
      // Only the server's port answers; anything else is noise.
      if ((from as Deno.NetAddr).port === this.#port) return data;
    }
  }
}
