/** `socketkit connect`: the client. Dispatches to one mode per service. */
import { UsageError } from "./base/errors.ts";
import {
  type CommandSpec,
  formatHelp,
  type ParsedFlags,
  parseDuration,
  parseFlags,
  parseInteger,
  parsePort,
  stringFlag,
} from "./base/flags.ts";
import type { TransportChoice } from "./message/mode.ts";
import {
  CLIENT_SECURITY_FLAGS,
  setClientSecurity,
  takeSecurityFlags,
} from "./security/client_settings.ts";

export const CONNECT_SPEC: CommandSpec = {
  name: "socketkit connect",
  usage: [
    "socketkit connect --random|--tcp|--udp [flags]",
    "socketkit connect <mode> [args] [flags]   (each mode has its own --help)",
    "socketkit connect [--host HOST]           (on a terminal: a menu of everything)",
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
    "info-port": {
      type: "string",
      value: "PORT",
      default: "9002",
      help: "Info service port (for the menu's info entry)",
    },
    "chat-port": {
      type: "string",
      value: "PORT",
      default: "9001",
      help: "Chat service port (for the menu's chat entry)",
    },
    "file-port": {
      type: "string",
      value: "PORT",
      default: "9003",
      help: "File service port (for the menu's file entries)",
    },
    ...CLIENT_SECURITY_FLAGS,
  },
  notes: `Message mode reads lines from standard input and prints each reply. 'exit' asks
the server to stop (over both transports with --random) and ends the client;
end of input (Ctrl-D) ends the client and leaves the server running.

With no mode on a terminal, a menu offers every mode and asks what each needs.
Flags given to the menu are passed on to the entries they apply to: --host to
every entry, --info-port, --timeout and --retries to info, --chat-port to chat,
--file-port to the file entries, all to message mode.

--tls, --ca, --insecure-skip-verify and --token-file apply to every mode and
entry. A server with a token gets it from --token-file or $SOCKETKIT_TOKEN, or
it is asked for on the terminal (not shown) when the server wants one.

Examples:
  socketkit connect --random
  printf 'hello\\nworld\\n' | socketkit connect --tcp --tcp-port 65432
  socketkit connect chat --host chat.example --tls --token-file ~/.socketkit-token`,
};

/**
 * Client modes named by the first argument (`connect chat ...`); each parses
 * its own flags. Message mode (no mode word) is handled below.
 */
const MODES: Record<string, (args: string[]) => Promise<number>> = {
  // Each mode's modules load when it runs, so --help and the other modes start fast.
  info: async (args) => (await import("./info/mode.ts")).infoMode(args),
  chat: async (args) => (await import("./chat/mode.ts")).chatMode(args),
  upload: async (args) => (await import("./files/mode.ts")).uploadMode(args),
  download: async (args) => (await import("./files/mode.ts")).downloadMode(args),
  files: async (args) => (await import("./files/mode.ts")).filesMode(args),
};

/**
 * Runs `socketkit connect` with its arguments; resolves to the exit code.
 * The TLS and token flags (CLIENT_SECURITY_FLAGS) are taken off first, for
 * every mode: they set how dialTcp and UdpRequester connect.
 */
export async function connect(args: string[]): Promise<number> {
  const { security, rest, warnings } = takeSecurityFlags(args);
  for (const warning of warnings) console.error(`warning: ${warning}`);
  setClientSecurity(security);
  return await dispatch(rest);
}

async function dispatch(args: string[]): Promise<number> {
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
    const modes = `Modes in this build: ${Object.keys(MODES).join(", ")}`;
    console.log(formatHelp({ ...CONNECT_SPEC, notes: `${CONNECT_SPEC.notes}\n\n${modes}` }));
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
  const get = (name: string) => stringFlag(parsed, name);
  if (transport === undefined) {
    if (Deno.stdin.isTerminal()) return await menuMode(args, parsed);
    throw new UsageError(
      `Choose a mode: --random, --tcp or --udp, or one of ${Object.keys(MODES).join(", ")}`,
      CONNECT_SPEC.name,
    );
  }
  const { runMessageSession } = await import("./message/mode.ts");
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

/** Which of the menu's own flags, when given, each entry passes on (message takes all). */
const MENU_FLAGS: Record<string, string[]> = {
  info: ["host", "info-port", "timeout", "retries"],
  chat: ["host", "chat-port"],
  files: ["host", "file-port"],
  upload: ["host", "file-port"],
  download: ["host", "file-port"],
};

/**
 * The menu: every entry goes back through dispatch(), the same code as its
 * subcommand, with the flags the menu was started with that apply to it.
 */
async function menuMode(args: string[], parsed: ParsedFlags): Promise<number> {
  const given = (name: string) =>
    args.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`));
  const { runMenu, terminalMenuIO } = await import("./menu.ts");
  return await runMenu(terminalMenuIO(), {
    run: dispatch, // the security flags were taken and set once, in connect()
    available: (mode) => mode === "message" || Object.hasOwn(MODES, mode),
    flagsFor: (mode) =>
      mode === "message" ? args : (MENU_FLAGS[mode] ?? ["host"]).filter(given).flatMap((name) => [
        `--${name}`,
        stringFlag(parsed, name),
      ]),
  });
}
