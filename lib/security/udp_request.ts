/**
 * Client side of a one-datagram-in, one-datagram-out exchange: send, wait for
 * the reply within a timeout, resend a bounded number of times. The token, if
 * the client has one, goes in front of every request as an `AUTH <token>`
 * line; a server asking for one it does not have gets one typed on the
 * terminal, or a clear error.
 */
import { NoAnswerError, RuntimeError } from "../base/errors.ts";
import type { ClientSecurity } from "./client_settings.ts";
import { tokenRequiredError } from "./client_auth.ts";
import { datagramRefusal, withToken } from "./protocol.ts";
import { formatHostPort, wildcardFor } from "../net/address.ts";
import { TIMED_OUT, within } from "../base/deadline.ts";
import { closeQuietly } from "../base/io.ts";
import { ConnectedUdp, PortUnreachable } from "../net/udp_connected.ts";

/** Options of {@link UdpRequester.request}. */
export interface UdpRequestOptions {
  /** Milliseconds to wait for the reply to each try. */
  timeout: number;
  /** Resends after the first try when no reply comes. */
  retries: number;
  /** What to suggest when the request is too large for one datagram, e.g. "send it with --tcp". */
  tooLargeHint?: string;
}

/** The most bytes one UDP datagram carries over IPv4 (65,535 less the IP and UDP headers). */
export const MAX_UDP_PAYLOAD = 65_507;

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
  #security: ClientSecurity;
  #socket: Deno.DatagramConn | null = null;
  /** A connected socket that hears "port unreachable"; null where there is none. */
  #connected: ConnectedUdp | null | undefined;
  #pending: Promise<[Uint8Array, Deno.Addr] | null> | null = null;

  /**
   * @param host server address
   * @param port server UDP port
   * @param security token (and TLS, to warn that UDP has none)
   */
  constructor(host: string, port: number, security: ClientSecurity) {
    this.#host = host;
    this.#port = port;
    this.#security = security;
  }

  /**
   * Sends `payload` and resolves with the first datagram from the server's
   * port, resending up to `retries` times. Throws RuntimeError when the
   * datagram cannot be sent at all (e.g. no route, no permission), the host
   * answers that nothing listens on the port (where the client can hear it:
   * see net/udp_connected.ts), or the server refuses the token or wants one
   * the client cannot give.
   */
  async request(payload: Uint8Array, options: UdpRequestOptions): Promise<UdpOutcome> {
    try {
      return await this.#request(payload, options);
    } catch (error) {
      if (!(error instanceof PortUnreachable)) throw error;
      throw new NoAnswerError(
        `${error.message}: is socketkit serve running, with that service on that port?`,
      );
    }
  }

  async #request(payload: Uint8Array, options: UdpRequestOptions): Promise<UdpOutcome> {
    const where = formatHostPort(this.#host, this.#port);
    const { signal } = this.#security;
    if (signal?.aborted) throw new RuntimeError(`Not sending to ${where}: interrupted`);
    if (this.#connected === undefined && this.#socket === null) {
      signal?.addEventListener("abort", () => this.close(), { once: true });
    }
    if (this.#connected === undefined) {
      this.#connected = await ConnectedUdp.open(this.#host, this.#port, where);
    }
    this.#socket ??= this.#connected ? null : Deno.listenDatagram({
      transport: "udp",
      hostname: wildcardFor(this.#host),
      port: 0,
    });
    if (this.#security.tls !== null) {
      this.#security.warnOnce("--tls covers TCP only; UDP requests and their token go in clear");
    }
    const { tokens } = this.#security;
    let token = tokens.known();
    let asked = false;
    const tries = options.retries + 1;
    for (let attempt = 1; attempt <= tries; attempt++) {
      if (signal?.aborted) throw new RuntimeError(`No reply from ${where}: interrupted`);
      const datagram = token === null ? payload : withToken(token, payload);
      try {
        if (this.#connected) {
          this.#connected.send(datagram);
        } else {
          await this.#socket!.send(datagram, {
            transport: "udp",
            hostname: this.#host,
            port: this.#port,
          });
        }
      } catch (error) {
        if (error instanceof PortUnreachable) throw error;
        if (datagram.length > MAX_UDP_PAYLOAD) throw tooLarge(where, datagram.length, options);
        const detail = error instanceof Error ? error.message : String(error);
        throw new RuntimeError(
          `Cannot send to ${formatHostPort(this.#host, this.#port)}: ${detail}`,
          { cause: error },
        );
      }
      const data = this.#connected
        ? await this.#connected.receive(options.timeout)
        : await this.#receiveWithin(options.timeout);
      if (data === null) continue;
      const refusal = datagramRefusal(data);
      if (refusal === null) return { kind: "reply", data };
      if (token !== null) {
        const source = tokens.configured() !== null ? ` (token from ${tokens.source})` : "";
        throw new RuntimeError(`The server at ${where} refused the token${source}`);
      }
      if (!asked && Deno.stdin.isTerminal()) {
        asked = true;
        token = await tokens.ask(where);
      }
      if (token === null) throw tokenRequiredError(where);
      attempt--; // the refusal was an answer, not a lost datagram
    }
    return { kind: "no-reply", tries };
  }

  /** Closes the socket; a later request opens a new one. */
  close(): void {
    if (this.#socket) closeQuietly(this.#socket);
    this.#socket = null;
    this.#connected?.close();
    this.#connected = undefined;
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

/** The kernel refused the datagram and it is over the IPv4 limit: say so, not an errno. */
function tooLarge(where: string, bytes: number, options: UdpRequestOptions): RuntimeError {
  const hint = options.tooLargeHint ? `: ${options.tooLargeHint}` : "";
  return new RuntimeError(
    `Cannot send to ${where}: the message is ${bytes.toLocaleString("en-US")} bytes, larger ` +
      `than one UDP datagram can carry (${MAX_UDP_PAYLOAD.toLocaleString("en-US")} bytes)${hint}`,
  );
}
