/**
 * The portable UDP engine, over Deno.listenDatagram (needs --unstable-net):
 * one async operation per datagram received and per reply sent, each a
 * batch of one.
 */
import { closeQuietly } from "../base/io.ts";
import type { Datagram, Reply, UdpEngine, UdpEngineOptions } from "./udp_engine.ts";

// The largest UDP payload over IPv4 is 65,507 bytes; this holds any datagram,
// so an oversized one is read whole and answered, not cut or left queued.
const DATAGRAM_BUFFER = 65_536;

/** A UdpEngine over Deno's own UDP socket. */
export class DenoUdpEngine implements UdpEngine {
  readonly kind = "deno";
  readonly addr: Deno.NetAddr;
  #socket: Deno.DatagramConn;
  #options: UdpEngineOptions;
  #buffer = new Uint8Array(DATAGRAM_BUFFER);
  #closed = false;

  private constructor(socket: Deno.DatagramConn, options: UdpEngineOptions) {
    this.#socket = socket;
    this.#options = options;
    this.addr = socket.addr as Deno.NetAddr;
  }

  /** Binds; throws what Deno.listenDatagram throws (AddrInUse and the like). */
  static open(hostname: string, port: number, options: UdpEngineOptions = {}): DenoUdpEngine {
    return new DenoUdpEngine(
      Deno.listenDatagram({ transport: "udp", hostname, port }),
      options,
    );
  }

  async receive(): Promise<Datagram[] | null> {
    while (!this.#closed) {
      try {
        const [bytes, from] = await this.#socket.receive(this.#buffer);
        return [{ data: bytes, from: from as Deno.NetAddr }];
      } catch (error) {
        if (this.#closed || error instanceof Deno.errors.BadResource) return null;
        // e.g. an ICMP error surfaced on the socket: it concerns one peer.
        this.#options.onReceiveError?.(asError(error));
      }
    }
    return null;
  }

  async send(replies: Reply[]): Promise<void> {
    for (const { data, to } of replies) {
      if (this.#closed) throw new Deno.errors.BadResource("The UDP engine is closed");
      try {
        await this.#socket.send(data, to);
      } catch (error) {
        if (this.#closed || error instanceof Deno.errors.BadResource) throw error;
        this.#options.onSendError?.(to, asError(error));
      }
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      closeQuietly(this.#socket);
    }
    return Promise.resolve();
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
