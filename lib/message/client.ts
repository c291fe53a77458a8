/**
 * Message-mode client: sends each input line over TCP or UDP and prints the
 * server's reply, like the original "parallel TCP and UDP" client.
 */
import { RuntimeError } from "../cli/errors.ts";
import { formatHostPort, wildcardFor } from "../net/address.ts";
import { TIMED_OUT, within } from "../net/deadline.ts";
import { dialTcp } from "../net/dial.ts";
import { closeQuietly, isDisconnect, writeAll } from "../net/io.ts";
import { LineReader, OVERLONG } from "../net/line_reader.ts";
import { decodeLenient, encode } from "../net/text.ts";

export type Transport = "tcp" | "udp";

/** Options of {@link MessageClient}. */
export interface MessageClientOptions {
  host: string;
  tcpPort: number;
  udpPort: number;
  /** Milliseconds to wait for each UDP reply. */
  timeout: number;
  /** UDP resends after the first try when no reply comes. */
  retries: number;
}

/** What came back for one message. */
export type Reply =
  | { kind: "reply"; text: string }
  /** UDP: no reply after every try. */
  | { kind: "no-reply"; tries: number }
  /** TCP: the server closed the connection instead of replying. */
  | { kind: "closed" };

/** One persistent TCP connection and one UDP socket to a socketkit server. */
export class MessageClient {
  #options: MessageClientOptions;
  #tcp: { conn: Deno.TcpConn; lines: LineReader } | null = null;
  #udp: Deno.DatagramConn | null = null;
  #pendingDatagram: Promise<[Uint8Array, Deno.Addr] | null> | null = null;

  constructor(options: MessageClientOptions) {
    this.#options = options;
  }

  /** Opens the TCP connection now, so a missing server is reported before any input. */
  async connectTcp(): Promise<void> {
    if (this.#tcp) return;
    const conn = await dialTcp(this.#options.host, this.#options.tcpPort);
    this.#tcp = { conn, lines: new LineReader(conn) };
  }

  /**
   * Sends a line over TCP and reads the reply line. If the server dropped an
   * idle connection, reconnects once (unless `reconnect` is false).
   */
  async sendTcp(text: string, reconnect = true): Promise<Reply> {
    await this.connectTcp();
    const { conn, lines } = this.#tcp!;
    let reply: Uint8Array | typeof OVERLONG | null;
    try {
      await writeAll(conn, encode(text + "\n"));
      reply = await lines.readLine();
    } catch (error) {
      if (!isDisconnect(error)) throw error;
      reply = null;
    }
    if (reply !== null) {
      return {
        kind: "reply",
        text: reply === OVERLONG ? "(an over-long reply)" : decodeLenient(reply),
      };
    }
    this.#closeTcp();
    if (!reconnect) return { kind: "closed" };
    return await this.sendTcp(text, false);
  }

  /** Sends a datagram and waits for the reply, resending up to `retries` times. */
  async sendUdp(text: string): Promise<Reply> {
    const { host, udpPort, timeout, retries } = this.#options;
    this.#udp ??= Deno.listenDatagram({ transport: "udp", hostname: wildcardFor(host), port: 0 });
    const payload = encode(text);
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
      try {
        await this.#udp.send(payload, { transport: "udp", hostname: host, port: udpPort });
      } catch (error) {
        const detail = error instanceof Error ? error.message : String(error);
        throw new RuntimeError(`Cannot send to ${formatHostPort(host, udpPort)}: ${detail}`, {
          cause: error,
        });
      }
      const datagram = await this.#receiveWithin(timeout);
      if (datagram) return { kind: "reply", text: decodeLenient(datagram) };
    }
    return { kind: "no-reply", tries: retries + 1 };
  }

  /** Closes both sockets. */
  close(): void {
    this.#closeTcp();
    if (this.#udp) closeQuietly(this.#udp);
    this.#udp = null;
  }

  // A receive cannot be cancelled, so one that timed out stays pending and
  // serves the next attempt instead of being abandoned.
  async #receiveWithin(ms: number): Promise<Uint8Array | null> {
    const udp = this.#udp!;
    while (true) {
      this.#pendingDatagram ??= udp.receive().catch(() => null);
      const result = await within(this.#pendingDatagram, ms);
      if (result === TIMED_OUT) return null;
      this.#pendingDatagram = null;
      if (result === null) return null;
      const [data, from] = result;
      // Only the server's port answers; anything else is noise.
      if ((from as Deno.NetAddr).port === this.#options.udpPort) return data;
    }
  }

  #closeTcp(): void {
    if (this.#tcp) closeQuietly(this.#tcp.conn);
    this.#tcp = null;
  }
}
