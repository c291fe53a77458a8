/**
 * Message mode (`connect --random|--tcp|--udp`): read a line, send it, print
 * the reply, until `exit` or end of input.
 */
import type { ParsedFlags } from "../base/flags.ts";
import { formatHostPort } from "../net/address.ts";
import { securityFor } from "../security/client_settings.ts";
import type { MenuSession, ModeContext } from "../service.ts";
import { type Reader, writeAll } from "../base/io.ts";
import { LineReader, OVERLONG } from "../net/line_reader.ts";
import { decodeLenient, encode, printable } from "../base/text.ts";
import { RuntimeError, UsageError } from "../base/errors.ts";
import { serverAddress, splitHostPort } from "../net/server_address.ts";
import { notAReply } from "./protocol.ts";
import {
  MessageClient,
  type MessageClientOptions,
  type Reply,
  type Transport,
} from "./message_client.ts";

/** The prompt on a terminal. */
export const PROMPT = "Enter message to send (Ctrl-D quits; 'exit' stops the server): ";
/** The prompt when the menu runs message mode. */
export const MENU_PROMPT =
  "Enter message to send (Ctrl-D or Ctrl-C: back to the menu; 'exit' stops the server): ";
/** Asked before the menu's message mode sends `exit`. */
export const CONFIRM_EXIT = "'exit' stops the server for every client. Send it? [y/N] ";

/** How lines are routed: one transport, or a coin flip per line. */
export type TransportChoice = Transport | "random";

/**
 * Runs message mode with `connect`'s parsed flags; resolves to the exit code.
 * Throws RuntimeError when the TCP server cannot be reached.
 */
export async function messageMode(
  flags: ParsedFlags,
  transport: TransportChoice,
  context: ModeContext,
): Promise<number> {
  // --host HOST:PORT names the port of the one transport used.
  if (transport === "random" && splitHostPort(flags.string("host")).port !== undefined) {
    throw new UsageError(
      `--host ${
        flags.string("host")
      } names one port, and --random uses two: give the host alone with --tcp-port and --udp-port`,
      flags.command,
    );
  }
  const { host, port } = serverAddress(flags, transport === "udp" ? "udp-port" : "tcp-port");
  return await runMessageSession({
    transport,
    host,
    tcpPort: transport === "tcp" ? port : flags.port("tcp-port"),
    udpPort: transport === "udp" ? port : flags.port("udp-port"),
    timeout: Math.max(1, flags.duration("timeout")),
    retries: flags.integer("retries", 0, 100),
    security: securityFor(flags, context),
    prompt: Deno.stdin.isTerminal(),
    ...(context.menu ? { menu: context.menu } : {}),
  });
}

/** Options of {@link runMessageSession}. */
export interface MessageSessionOptions extends MessageClientOptions {
  transport: TransportChoice;
  /** Print the prompt before each line (stdin is a terminal). */
  prompt: boolean;
  /** Default Deno.stdin. */
  input?: Reader;
  /** Where replies go. Default console.log. */
  print?: (line: string) => void;
  /** Run from the menu: lines come from it, `exit` is confirmed first, Ctrl-C returns. */
  menu?: MenuSession;
}

const CLIENT_LABEL: Record<Transport, string> = { tcp: "[TCP Client]", udp: "[UDP Client]" };

/**
 * Runs until `exit` or end of input; resolves to the exit code. Throws
 * RuntimeError when the TCP server cannot be reached or stops answering,
 * when a reply is not this protocol (another service, a TLS server), when the
 * host says nothing listens on the UDP port, and at the end when UDP
 * messages were sent and not one reply ever came.
 */
export async function runMessageSession(options: MessageSessionOptions): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  const client = new MessageClient(options);
  const input = new LineReader(options.input ?? Deno.stdin);
  const { menu } = options;
  const readLine = menu
    ? async () => {
      const line = await menu.readLine();
      return line === null ? null : encode(line);
    }
    : () => input.readLine();
  const udp = { sent: 0, answered: 0 };
  const exchange = async (transport: Transport, line: string, reconnect = true) => {
    if (transport === "udp") udp.sent++;
    const reply = transport === "tcp"
      ? await client.sendTcp(line, reconnect)
      : await client.sendUdp(line);
    if (transport === "udp" && reply.kind === "reply") udp.answered++;
    print(describe(transport, reply, options));
  };
  try {
    // Fail fast, before the user types anything, when the server is not there.
    if (options.transport !== "udp") await client.connectTcp();
    while (true) {
      if (options.prompt) await writeAll(Deno.stdout, encode(menu ? MENU_PROMPT : PROMPT));
      const raw = await readLine();
      if (raw === null) break;
      if (raw === OVERLONG) {
        print("Line too long to send; skipped");
        continue;
      }
      const line = decodeLenient(raw);
      if (line.trim().toLowerCase() === "exit") {
        if (menu && !(await menu.confirm(CONFIRM_EXIT))) {
          print("Not sent; the server keeps running");
          continue;
        }
        // UDP first: its reply comes back before the server stops, and the
        // TCP connection then finds it gone, which is not an error.
        if (options.transport !== "tcp") await exchange("udp", "exit");
        if (options.transport !== "udp") await exchange("tcp", "exit", false);
        print("Exiting client...");
        menu?.serverStopped();
        break;
      }
      await exchange(pick(options.transport), line);
    }
  } finally {
    client.close();
  }
  if (udp.sent > 0 && udp.answered === 0 && !menu?.signal.aborted) {
    const where = formatHostPort(options.host, options.udpPort);
    throw new RuntimeError(
      `No reply ever came from ${where} over UDP (${udp.sent} ${
        udp.sent === 1 ? "message" : "messages"
      }, ${options.retries + 1} ${
        options.retries === 0 ? "try" : "tries"
      } each): is socketkit serve running there?`,
    );
  }
  return 0;
}

function pick(choice: TransportChoice): Transport {
  if (choice !== "random") return choice;
  return Math.random() < 0.5 ? "tcp" : "udp";
}

/** The line printed for a reply; throws RuntimeError for one that is not this protocol. */
function describe(transport: Transport, reply: Reply, options: MessageClientOptions): string {
  const label = CLIENT_LABEL[transport];
  const port = transport === "tcp" ? options.tcpPort : options.udpPort;
  const where = formatHostPort(options.host, port);
  switch (reply.kind) {
    case "reply": {
      const wrong = notAReply(transport, where, reply.text);
      if (wrong !== null) throw new RuntimeError(wrong);
      // Checked to start as a reply should, but the rest is the server's: escape it.
      return `${label} Server responded: ${printable(reply.text)}`;
    }
    case "closed":
      return `${label} The server closed the connection (it may have stopped)`;
    case "silent":
      throw new RuntimeError(
        `No reply from ${where} within ${
          reply.ms / 1000
        } s over TCP: wrong port (--tcp-port), or does the server need --tls?`,
      );
    case "no-reply":
      return `${label} No reply from ${where} after ${reply.tries} tries (UDP datagrams can be lost, or the server is not running); carrying on`;
  }
}
