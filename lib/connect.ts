/**
 * `socketkit connect`: the client. Dispatches to one mode per service. Only
 * the flag tables load up front; a mode's module loads when it runs, so
 * `connect --help` and each mode start as fast as Deno does.
 */
import { UsageError } from "./base/errors.ts";
import { type CommandSpec, formatHelp, type ParsedFlags, parseFlags } from "./base/flags.ts";
import { CHAT_PORT } from "./chat/config.ts";
import { FILE_PORT } from "./files/config.ts";
import { INFO_PORT } from "./info/config.ts";
import { MESSAGE_MODE_FLAGS } from "./message/config.ts";
import type { TransportChoice } from "./message/mode.ts";
import { CLIENT_SECURITY_FLAGS, parseClientSecurity } from "./security/client_settings.ts";
import type { ModeContext } from "./service.ts";

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
    ...MESSAGE_MODE_FLAGS,
    "info-port": {
      type: "string",
      value: "PORT",
      default: String(INFO_PORT),
      help: "Info service port (for the menu's info entry)",
    },
    "chat-port": {
      type: "string",
      value: "PORT",
      default: String(CHAT_PORT),
      help: "Chat service port (for the menu's chat entry)",
    },
    "file-port": {
      type: "string",
      value: "PORT",
      default: String(FILE_PORT),
      help: "File service port (for the menu's file entries)",
    },
    ...CLIENT_SECURITY_FLAGS,
  },
  notes: `Message mode reads lines from standard input and prints each reply. 'exit' asks
the server to stop (over both transports with --random) and ends the client;
end of input (Ctrl-D) ends the client and leaves the server running. It exits 1
when a reply is not the message protocol (wrong port, a TLS server without
--tls), when TCP gets no reply in time, and when UDP messages were sent and not
one reply came (at once if the host says nothing listens on the port).

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

/** A client mode: `connect <mode> [args]`, with what connect hands it. */
type Mode = (args: string[], context: ModeContext) => Promise<number>;

/**
 * Client modes named by the first argument (`connect chat ...`); each parses
 * its own flags, the security flags among them. Message mode (no mode word)
 * is handled below. Each mode's modules load when it runs, so --help and the
 * other modes start fast.
 */
const MODES: Record<string, Mode> = {
  info: async (args, context) => (await import("./info/mode.ts")).infoMode(args, context),
  chat: async (args, context) => (await import("./chat/client/mode.ts")).chatMode(args, context),
  upload: async (args, context) =>
    (await import("./files/client/mode.ts")).uploadMode(args, context),
  download: async (args, context) =>
    (await import("./files/client/mode.ts")).downloadMode(args, context),
  files: async (args, context) => (await import("./files/client/mode.ts")).filesMode(args, context),
  delete: async (args, context) =>
    (await import("./files/client/mode.ts")).deleteMode(args, context),
  rename: async (args, context) =>
    (await import("./files/client/mode.ts")).renameMode(args, context),
};

/** Every warning the client prints goes through here. */
function warn(line: string): void {
  console.error(`warning: ${line}`);
}

/** Runs `socketkit connect` with its arguments; resolves to the exit code. */
export async function connect(args: string[]): Promise<number> {
  return await dispatch(args, { warn });
}

async function dispatch(args: string[], context: ModeContext): Promise<number> {
  const [first, ...rest] = args;
  if (first !== undefined && !first.startsWith("-")) {
    const mode = MODES[first];
    if (!mode) {
      const known = Object.keys(MODES);
      const hint = known.length > 0 ? `: expected one of ${known.join(", ")}` : "";
      throw new UsageError(`Unknown mode "${first}"${hint}`, CONNECT_SPEC.name);
    }
    return await mode(rest, context);
  }
  const flags = parseFlags(CONNECT_SPEC, args);
  if (flags.help) {
    const modes = `Modes in this build: ${Object.keys(MODES).join(", ")}`;
    console.log(formatHelp({ ...CONNECT_SPEC, notes: `${CONNECT_SPEC.notes}\n\n${modes}` }));
    return 0;
  }
  const chosen = (["random", "tcp", "udp"] as const).filter((mode) => flags.boolean(mode));
  if (chosen.length > 1) {
    throw new UsageError(
      `Choose one of --random, --tcp, --udp (got ${chosen.map((m) => "--" + m).join(" ")})`,
      CONNECT_SPEC.name,
    );
  }
  const transport: TransportChoice | undefined = chosen[0];
  if (transport === undefined) {
    if (Deno.stdin.isTerminal()) return await menuMode(args, flags, context);
    throw new UsageError(
      `Choose a mode: --random, --tcp or --udp, or one of ${Object.keys(MODES).join(", ")}`,
      CONNECT_SPEC.name,
    );
  }
  const { messageMode } = await import("./message/mode.ts");
  return await messageMode(flags, transport, context);
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
 * subcommand, with the flags the menu was started with that apply to it, and
 * the menu's security settings, so a token typed once serves every entry.
 */
async function menuMode(args: string[], flags: ParsedFlags, context: ModeContext): Promise<number> {
  const given = (name: string) =>
    args.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`));
  const security = parseClientSecurity(flags, context.warn);
  const { runMenu, terminalMenuIO } = await import("./menu.ts");
  return await runMenu(terminalMenuIO(), {
    run: (entryArgs, session) =>
      dispatch(entryArgs, {
        ...context,
        security: security.withSignal(session.signal),
        menu: session,
      }),
    available: (mode) => mode === "message" || Object.hasOwn(MODES, mode),
    flagsFor: (mode) =>
      mode === "message" ? args : (MENU_FLAGS[mode] ?? ["host"]).filter(given).flatMap((name) => [
        `--${name}`,
        flags.string(name),
      ]),
  });
}
