/**
 * The part every UDP service shares: one socket, a receive loop that nothing
 * a sender does can end (empty, oversized, binary datagrams, ICMP errors,
 * failed replies), access control and the token through the gate, and a stop
 * that closes the socket and waits for the loop.
 */
import { closeQuietly } from "../base/io.ts";
import type { Logger } from "../base/logger.ts";
import { formatAddr } from "./address.ts";
import { listenUdp } from "./listen.ts";

/** A datagram the gate let through: the request without its AUTH line. */
export interface AdmittedDatagram {
  admitted: true;
  payload: Uint8Array;
  /** It carried the server's token (false whenever the server has none). */
  authenticated: boolean;
}

/** A datagram the gate stopped, and what to send back for it (null: nothing). */
export interface RefusedDatagram {
  admitted: false;
  reply: Uint8Array | null;
}

/**
 * What a UdpService asks of the server's access control for each datagram.
 * The security layer implements it (security/gate.ts).
 */
export interface UdpGate {
  screen(data: Uint8Array, from: Deno.NetAddr, label: string): AdmittedDatagram | RefusedDatagram;
}

// The largest UDP payload over IPv4 is 65,507 bytes; this holds any datagram,
// so an oversized one is read whole and answered, not split or left queued.
const DATAGRAM_BUFFER = 65_536;

/** Options of {@link UdpService.listen}. */
export interface UdpServiceOptions {
  /** Console label, e.g. "[UDP Server]". */
  label: string;
  /** Name used in errors, e.g. "UDP message service". */
  service: string;
  hostname: string;
  port: number;
  log: Logger;
  gate: UdpGate;
  /**
   * Answers one admitted datagram (its AUTH line already stripped): the reply
   * to send back, or null for none. Called for one datagram at a time.
   */
  handle(datagram: AdmittedDatagram, from: Deno.NetAddr): Uint8Array | null;
  /** Called after a datagram's reply was sent (or failed), e.g. to stop the server on `exit`. */
  afterReply?(from: Deno.NetAddr): void;
}

/** A listening UDP service. */
export class UdpService {
  readonly port: number;
  readonly hostname: string;
  #socket: Deno.DatagramConn;
  #options: UdpServiceOptions;
  #stopping = false;
  #loop: Promise<void>;

  private constructor(socket: Deno.DatagramConn, options: UdpServiceOptions) {
    this.#socket = socket;
    this.#options = options;
    const addr = socket.addr as Deno.NetAddr;
    this.port = addr.port;
    this.hostname = addr.hostname;
    this.#loop = this.#receive();
  }

  /** Binds and starts receiving. Throws RuntimeError if the address cannot be bound. */
  static listen(options: UdpServiceOptions): UdpService {
    return new UdpService(listenUdp(options.service, options.hostname, options.port), options);
  }

  /** Closes the socket; resolves when the receive loop has ended. */
  async stop(): Promise<void> {
    this.#stopping = true;
    closeQuietly(this.#socket);
    await this.#loop;
  }

  async #receive(): Promise<void> {
    const { label, log, gate, handle, afterReply } = this.#options;
    const socket = this.#socket;
    const buffer = new Uint8Array(DATAGRAM_BUFFER);
    while (!this.#stopping) {
      let received: Uint8Array;
      let from: Deno.NetAddr;
      try {
        const [bytes, addr] = await socket.receive(buffer);
        received = bytes;
        from = addr as Deno.NetAddr;
      } catch (error) {
        if (this.#stopping || error instanceof Deno.errors.BadResource) return;
        // e.g. an ICMP error surfaced on the socket: it concerns one peer, not
        // the service. Forged sources can cause these at will: summarised.
        const detail = describe(error);
        log.repeated(
          `${label} receive failed`,
          "info",
          `${label} Receive failed: ${detail}`,
          (n, s) => `${label} Receive failed ${n} more times in ${s}s: ${detail}`,
        );
        continue;
      }
      const screened = gate.screen(received, from, label);
      if (!screened.admitted) {
        // A refusal is a courtesy; a send error concerns that peer only.
        if (screened.reply !== null) await socket.send(screened.reply, from).catch(() => 0);
        continue;
      }
      const reply = handle(screened, from);
      if (reply !== null) {
        try {
          await socket.send(reply, from);
        } catch (error) {
          if (this.#stopping || error instanceof Deno.errors.BadResource) return;
          const detail = describe(error);
          log.repeated(
            `${label} reply failed`,
            "info",
            () => `${label} Reply to ${formatAddr(from)} failed: ${detail}`,
            (n, s) => `${label} ${n} more replies failed in ${s}s: ${detail}`,
          );
        }
      }
      afterReply?.(from);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
