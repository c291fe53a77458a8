/**
 * Message mode (`connect --random|--tcp|--udp`): read a line, send it, print
 * the reply, until `exit` or end of input.
 */
import type { FlagSpec, ParsedFlags } from "../base/flags.ts";
import { formatHostPort } from "../net/address.ts";
import { securityFor } from "../security/client_settings.ts";
import type { ModeContext } from "../service.ts";
import { TCP_PORT, UDP_PORT } from "./config.ts";
import { type Reader, writeAll } from "../base/io.ts";
import { LineReader, OVERLONG } from "../net/line_reader.ts";
import { decodeLenient, encode } from "../base/text.ts";
import {
  MessageClient,
  type MessageClientOptions,
  type Reply,
  type Transport,
} from "./message_client.ts";

export const PROMPT = "Enter message to send (or type 'exit' to quit): ";

/** How lines are routed: one transport, or a coin flip per line. */
export type TransportChoice = Transport | "random";

/** Message mode's rows of `connect`'s flag table (besides --random, --tcp, --udp). */
export const MESSAGE_MODE_FLAGS: Record<string, FlagSpec> = {
  host: { type: "string", value: "HOST", default: "127.0.0.1", help: "Server address" },
  "tcp-port": {
    type: "string",
    value: "PORT",
    default: String(TCP_PORT),
    help: "TCP message service port",
  },
  "udp-port": {
    type: "string",
    value: "PORT",
    default: String(UDP_PORT),
    help: "UDP message service port",
  },
  timeout: {
    type: "string",
    value: "TIME",
    default: "2s",
    help: "How long to wait for each UDP reply",
  },
  retries: { type: "string", value: "N", default: "2", help: "UDP resends when no reply comes" },
};

/**
 * Runs message mode with `connect`'s parsed flags; resolves to the exit code.
 * Throws RuntimeError when the TCP server cannot be reached.
 */
export async function messageMode(
  flags: ParsedFlags,
  transport: TransportChoice,
  context: ModeContext,
): Promise<number> {
  return await runMessageSession({
    transport,
    host: flags.string("host"),
    tcpPort: flags.port("tcp-port"),
    udpPort: flags.port("udp-port"),
    timeout: Math.max(1, flags.duration("timeout")),
    retries: flags.integer("retries", 0, 100),
    security: securityFor(flags, context),
    prompt: Deno.stdin.isTerminal(),
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
}

const CLIENT_LABEL: Record<Transport, string> = { tcp: "[TCP Client]", udp: "[UDP Client]" };

/**
 * Runs until `exit` or end of input; resolves to the exit code. Throws
 * RuntimeError when the TCP server cannot be reached.
 */
export async function runMessageSession(options: MessageSessionOptions): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  const client = new MessageClient(options);
  const input = new LineReader(options.input ?? Deno.stdin);
  try {
    // Fail fast, before the user types anything, when the server is not there.
    if (options.transport !== "udp") await client.connectTcp();
    while (true) {
      if (options.prompt) await writeAll(Deno.stdout, encode(PROMPT));
      const raw = await input.readLine();
      if (raw === null) return 0;
      const line = raw === OVERLONG ? "" : decodeLenient(raw);
      if (raw === OVERLONG) {
        print("Line too long to send; skipped");
        continue;
      }
      if (line.trim().toLowerCase() === "exit") {
        await sendExit(client, options, print);
        print("Exiting client...");
        return 0;
      }
      const transport = pick(options.transport);
      const reply = transport === "tcp" ? await client.sendTcp(line) : await client.sendUdp(line);
      print(describe(transport, reply, options));
    }
  } finally {
    client.close();
  }
}

/**
 * `exit` goes over every transport in use, UDP first: its reply comes back
 * before the server stops, and the TCP connection then finds it gone, which
 * is not an error.
 */
async function sendExit(
  client: MessageClient,
  options: MessageSessionOptions,
  print: (line: string) => void,
): Promise<void> {
  if (options.transport !== "tcp") print(describe("udp", await client.sendUdp("exit"), options));
  if (options.transport !== "udp") {
    print(describe("tcp", await client.sendTcp("exit", false), options));
  }
}

function pick(choice: TransportChoice): Transport {
  if (choice !== "random") return choice;
  return Math.random() < 0.5 ? "tcp" : "udp";
}

function describe(transport: Transport, reply: Reply, options: MessageClientOptions): string {
  const label = CLIENT_LABEL[transport];
  switch (reply.kind) {
    case "reply":
      return `${label} Server responded: ${reply.text}`;
    case "closed":
      return `${label} The server closed the connection (it may have stopped)`;
    case "no-reply": {
      const where = formatHostPort(options.host, options.udpPort);
      return `${label} No reply from ${where} after ${reply.tries} tries (UDP datagrams can be lost, or the server is not running); carrying on`;
    }
  }
}
