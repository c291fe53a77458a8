/** `socketkit connect`: the client. Dispatches to one mode per service. */
import { UsageError } from "./cli/errors.ts";
import {
  type CommandSpec,
  formatHelp,
  parseDuration,
  parseFlags,
  parseInteger,
  parsePort,
  stringFlag,
} from "./cli/flags.ts";
import { downloadMode, filesMode, uploadMode } from "./files/commands.ts";
import { runMessageSession, type TransportChoice } from "./message/session.ts";

export const CONNECT_SPEC: CommandSpec = {
  name: "socketkit connect",
  usage: [
    "socketkit connect --random|--tcp|--udp [flags]",
    "socketkit connect upload PATH | download NAME | files [flags]",
  ],
  summary: "Talk to a socketkit server.",
  flags: {
    random: { type: "boolean", help: "Send each line over TCP or UDP, chosen at random" },
    tcp: { type: "boolean", help: "Send every line over TCP" },
    udp: { type: "boolean", help: "Send every line over UDP" },
    host: { type: "string", value: "HOST", default: "127.0.0.1", help: "Server address" },
    "tcp-port": {
      type: "string",
      value: "PORT",
      default: "65432",
      help: "TCP message service port",
    },
    "udp-port": {
      type: "string",
      value: "PORT",
      default: "65433",
      help: "UDP message service port",
    },
    timeout: {
      type: "string",
      value: "TIME",
      default: "2s",
      help: "How long to wait for each UDP reply",
    },
    retries: { type: "string", value: "N", default: "2", help: "UDP resends when no reply comes" },
  },
  notes: `Message mode reads lines from standard input and prints each reply. 'exit' asks
the server to stop (over both transports with --random) and ends the client;
end of input (Ctrl-D) ends the client and leaves the server running.

Examples:
  socketkit connect --random
  printf 'hello\\nworld\\n' | socketkit connect --tcp --tcp-port 65432`,
};

/**
 * Client modes named by the first argument (`connect chat ...`); each parses
 * its own flags. Message mode (no mode word) is handled below.
 */
const MODES: Record<string, (args: string[]) => Promise<number>> = {
  upload: uploadMode,
  download: downloadMode,
  files: filesMode,
};

/** Runs `socketkit connect` with its arguments; resolves to the exit code. */
export async function connect(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  if (first !== undefined && !first.startsWith("-")) {
    const mode = MODES[first];
    if (!mode) {
      const known = Object.keys(MODES);
      const hint = known.length > 0 ? `: expected one of ${known.join(", ")}` : "";
      throw new UsageError(`Unknown mode "${first}"${hint}`, CONNECT_SPEC.name);
    }
    return await mode(rest);
  }
  return await messageMode(args);
}

async function messageMode(args: string[]): Promise<number> {
  const parsed = parseFlags(CONNECT_SPEC, args);
  if (parsed.values.help) {
    console.log(formatHelp(CONNECT_SPEC));
    return 0;
  }
  const chosen = (["random", "tcp", "udp"] as const).filter((mode) => parsed.values[mode] === true);
  if (chosen.length > 1) {
    throw new UsageError(
      `Choose one of --random, --tcp, --udp (got ${chosen.map((m) => "--" + m).join(" ")})`,
      CONNECT_SPEC.name,
    );
  }
  const transport: TransportChoice | undefined = chosen[0];
  if (transport === undefined) {
    throw new UsageError("Choose a mode: --random, --tcp or --udp", CONNECT_SPEC.name);
  }
  const get = (name: string) => stringFlag(parsed, name);
  return await runMessageSession({
    transport,
    host: get("host"),
    tcpPort: parsePort("tcp-port", get("tcp-port")),
    udpPort: parsePort("udp-port", get("udp-port")),
    timeout: Math.max(1, parseDuration("timeout", get("timeout"))),
    retries: parseInteger("retries", get("retries"), 0, 100),
    prompt: Deno.stdin.isTerminal(),
  });
}
