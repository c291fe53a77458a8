/**
 * Message-mode client: sends each input line over TCP or UDP and prints the
 * server's reply, like the original "parallel TCP and UDP" client.
 */
import type { ClientSecurity } from "../security/client_settings.ts";
import { dialTcp } from "../security/dial.ts";
import { closeQuietly, isDisconnect, writeAll } from "../base/io.ts";
import { LineReader, OVERLONG } from "../net/line_reader.ts";
import { TIMED_OUT, within } from "../base/deadline.ts";
import { decodeLenient, encode } from "../base/text.ts";
import { EXIT_DATAGRAM } from "./exit.ts";
import { UdpRequester } from "../security/udp_request.ts";

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
  /** Milliseconds to wait for a TCP reply. Default `timeout` × (`retries` + 1). */
  tcpTimeout?: number;
  /** TLS and token settings. */
  security: ClientSecurity;
}

/** What came back for one message. */
export type Reply =
  | { kind: "reply"; text: string }
  /** UDP: no reply after every try. */
  | { kind: "no-reply"; tries: number }
  /** TCP: the server closed the connection instead of replying. */
  | { kind: "closed" }
  /** TCP: no reply line within the time allowed (the connection is then closed). */
  | { kind: "silent"; ms: number };

/** One persistent TCP connection and one UDP socket to a socketkit server. */
export class MessageClient {
  #options: MessageClientOptions;
  #tcp: { conn: Deno.Conn; lines: LineReader } | null = null;
  #udp: UdpRequester | null = null;

  constructor(options: MessageClientOptions) {
    this.#options = options;
  }

  /** Opens the TCP connection now, so a missing server is reported before any input. */
  async connectTcp(): Promise<void> {
    if (this.#tcp) return;
    const { host, tcpPort, security } = this.#options;
    const conn = await dialTcp(host, tcpPort, { security });
    // A reply is one short line; anything longer is not this protocol.
    this.#tcp = { conn, lines: new LineReader(conn, { maxLine: 64 * 1024 }) };
  }

  /**
   * Sends a line over TCP and reads the reply line. If the server dropped an
   * idle connection, reconnects once (unless `reconnect` is false).
   */
  async sendTcp(text: string, reconnect = true): Promise<Reply> {
    await this.connectTcp();
    const { conn, lines } = this.#tcp!;
    const { timeout, retries } = this.#options;
    const ms = this.#options.tcpTimeout ?? timeout * (retries + 1);
    let reply: Uint8Array | typeof OVERLONG | null;
    try {
      await writeAll(conn, encode(text + "\n"));
      const read = lines.readLine();
      const result = await within(read, ms);
      if (result === TIMED_OUT) {
        read.catch(() => {}); // settles when the connection is closed just below
        this.#closeTcp();
        return { kind: "silent", ms };
      }
      reply = result;
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
    const { host, udpPort, timeout, retries, security } = this.#options;
    this.#udp ??= new UdpRequester(host, udpPort, security);
    const datagram = text === "exit" ? EXIT_DATAGRAM : text;
    const outcome = await this.#udp.request(encode(datagram), {
      timeout,
      retries,
      tooLargeHint: "send it with --tcp",
    });
    return outcome.kind === "reply"
      ? { kind: "reply", text: decodeLenient(outcome.data) }
      : { kind: "no-reply", tries: outcome.tries };
  }

  /** Closes both sockets. */
  close(): void {
    this.#closeTcp();
    this.#udp?.close();
    this.#udp = null;
  }

  #closeTcp(): void {
    if (this.#tcp) closeQuietly(this.#tcp.conn);
    this.#tcp = null;
  }
}
