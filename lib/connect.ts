/**
 * `socketkit connect`: the client. Dispatches to one mode per service. Only
 * the flag tables load up front; a mode's module loads when it runs, so
 * `connect --help` and each mode start as fast as Deno does.
 */
import { importLazily } from "./base/lazy_import.ts";
import { UsageError } from "./base/errors.ts";
import { type CommandSpec, formatHelp, type ParsedFlags, parseFlags } from "./base/flags.ts";
import { CHAT_PORT } from "./chat/config.ts";
import { FILE_PORT } from "./files/config.ts";
import { INFO_PORT } from "./info/config.ts";
import { MESSAGE_MODE_FLAGS } from "./message/config.ts";
import { portFlag, splitHostPort } from "./net/server_address.ts";
import type { TransportChoice } from "./message/mode.ts";
import { CLIENT_SECURITY_FLAGS, parseClientSecurity } from "./security/client_settings.ts";
import type { ModeContext } from "./service.ts";

export const CONNECT_SPEC: CommandSpec = {
  name: "socketkit connect",
  usage: [
    "socketkit connect --random|--tcp|--udp [flags]",
    "socketkit connect <mode> [args] [flags]   (flags go before or after it)",
    "socketkit connect [flags]                 (on a terminal: the menu)",
  ],
  summary: "Talk to a socketkit server.",
  flags: {
    random: { type: "boolean", help: "Send each line over TCP or UDP, chosen at random" },
    tcp: { type: "boolean", help: "Send every line over TCP" },
    udp: { type: "boolean", help: "Send every line over UDP" },
    ...MESSAGE_MODE_FLAGS,
    "info-port": portFlag("info-port", INFO_PORT, "Info service port (for the menu's info entry)"),
    "chat-port": portFlag("chat-port", CHAT_PORT, "Chat service port (for the menu's chat entry)"),
    "file-port": portFlag(
      "file-port",
      FILE_PORT,
      "File service port (for the menu's file entries)",
    ),
    ...CLIENT_SECURITY_FLAGS,
  },
  notes: `Message mode reads lines from standard input and prints each reply. 'exit' asks
the server to stop (over both transports with --random) and ends the client;
end of input (Ctrl-D) ends the client and leaves the server running. It exits 1
when a reply is not the message protocol (wrong port, a TLS server without
--tls), when TCP gets no reply in time, and when UDP messages were sent and not
one reply came (at once if the host says nothing listens on the port).

Flags may come before or after the mode: 'connect --info-port 9002 info TIME'
is 'connect info TIME --info-port 9002'. --host takes HOST:PORT too (and
[IPV6]:PORT), the port then being the mode's service's. Unless given, --host
comes from $SOCKETKIT_HOST and each port flag from its variable:
$SOCKETKIT_TCP_PORT, $SOCKETKIT_UDP_PORT, $SOCKETKIT_INFO_PORT,
$SOCKETKIT_CHAT_PORT, $SOCKETKIT_FILE_PORT.

With no mode on a terminal, a menu offers every mode and asks what each needs.
Each flag given to the menu is passed on to every entry that takes it (--host
to all, --info-port, --timeout and --retries to info, --chat-port to chat,
--file-port to the file entries, all to message mode). When nothing answers
on a service's port, the menu asks for the port and keeps it for the session.

--tls, --ca, --insecure-skip-verify and --token-file apply to every mode and
entry. A server with a token gets it from --token-file or $SOCKETKIT_TOKEN, or
it is asked for on the terminal (not shown) when the server wants one.

Examples:
  socketkit connect --random
  printf 'hello\\nworld\\n' | socketkit connect --tcp --tcp-port 65432
  socketkit connect chat --host chat.example --tls --token-file ~/.socketkit-token`,
};

/** A client mode: `connect <mode> [args]`, with what connect hands it. */
interface Mode {
  run(args: string[], context: ModeContext): Promise<number>;
  /** Its flag table, loaded only to find the mode word after flags, or for the menu. */
  spec(): Promise<CommandSpec>;
}

const files = () =>
  importLazily<typeof import("./files/client/mode.ts")>(
    new URL("./files/client/mode.ts", import.meta.url),
  );

/**
 * Client modes named by a word (`connect chat ...`); each parses its own
 * flags, the security flags among them. Message mode (no mode word) is
 * handled below. Each mode's modules load when it runs, so --help and the
 * other modes start fast.
 */
const MODES: Record<string, Mode> = {
  info: {
    run: async (args, context) =>
      (await importLazily<typeof import("./info/mode.ts")>(
        new URL("./info/mode.ts", import.meta.url),
      )).infoMode(args, context),
    spec: async () =>
      (await importLazily<typeof import("./info/mode.ts")>(
        new URL("./info/mode.ts", import.meta.url),
      )).INFO_SPEC,
  },
  chat: {
    run: async (args, context) =>
      (await importLazily<typeof import("./chat/client/mode.ts")>(
        new URL("./chat/client/mode.ts", import.meta.url),
      )).chatMode(args, context),
    spec: async () =>
      (await importLazily<typeof import("./chat/client/mode.ts")>(
        new URL("./chat/client/mode.ts", import.meta.url),
      )).CHAT_CLIENT_SPEC,
  },
  upload: {
    run: async (args, context) => (await files()).uploadMode(args, context),
    spec: async () => (await files()).UPLOAD_SPEC,
  },
  download: {
    run: async (args, context) => (await files()).downloadMode(args, context),
    spec: async () => (await files()).DOWNLOAD_SPEC,
  },
  files: {
    run: async (args, context) => (await files()).filesMode(args, context),
    spec: async () => (await files()).FILES_SPEC,
  },
  delete: {
    run: async (args, context) => (await files()).deleteMode(args, context),
    spec: async () => (await files()).DELETE_SPEC,
  },
  rename: {
    run: async (args, context) => (await files()).renameMode(args, context),
    spec: async () => (await files()).RENAME_SPEC,
  },
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
  const found = await findMode(args);
  if (found !== null) {
    const mode = Object.hasOwn(MODES, found.word) ? MODES[found.word] : undefined;
    if (!mode) {
      const known = Object.keys(MODES);
      const hint = known.length > 0 ? `: expected one of ${known.join(", ")}` : "";
      throw new UsageError(`Unknown mode "${found.word}"${hint}`, CONNECT_SPEC.name);
    }
    return await mode.run(found.rest, context);
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
  const { messageMode } = await importLazily<typeof import("./message/mode.ts")>(
    new URL("./message/mode.ts", import.meta.url),
  );
  return await messageMode(flags, transport, context);
}

/**
 * The mode word and the arguments around it, wherever it stands: flags may
 * come before it (`connect --info-port 9002 info STATUS`), as with git or
 * docker. The first argument that is neither a flag nor a flag's value is
 * the mode word (perhaps a mistyped one); null when there is none (message
 * mode, the menu). Which flags take a value comes from every mode's table,
 * loaded only when the command line starts with a flag and holds a mode's
 * name.
 */
async function findMode(args: string[]): Promise<{ word: string; rest: string[] } | null> {
  const [first] = args;
  if (first === undefined) return null;
  if (!first.startsWith("-")) return { word: first, rest: args.slice(1) };
  const modes = args.some((arg) => Object.hasOwn(MODES, arg))
    ? await Promise.all(Object.values(MODES).map((mode) => mode.spec()))
    : [];
  const specs = [CONNECT_SPEC, ...modes];
  const takesValue = new Set(
    specs.flatMap((spec) =>
      Object.entries(spec.flags).filter(([, flag]) => flag.type === "string").map(([name]) => name)
    ),
  );
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return null;
    if (arg.startsWith("--") && !arg.includes("=") && takesValue.has(arg.slice(2))) i++;
    else if (arg.length > 1 && arg.startsWith("-")) continue;
    else return { word: arg, rest: [...args.slice(0, i), ...args.slice(i + 1)] };
  }
  return null;
}

/** The port flag of each menu entry's service, asked for when nothing answers there. */
const ENTRY_PORTS: Record<string, { flag: string; service: string }[]> = {
  message: [
    { flag: "tcp-port", service: "the TCP message service" },
    { flag: "udp-port", service: "the UDP message service" },
  ],
  info: [{ flag: "info-port", service: "the info service (UDP)" }],
  chat: [{ flag: "chat-port", service: "the chat service" }],
  files: [{ flag: "file-port", service: "the file service" }],
  upload: [{ flag: "file-port", service: "the file service" }],
  download: [{ flag: "file-port", service: "the file service" }],
};

/**
 * The menu: every entry goes back through dispatch(), the same code as its
 * subcommand, with each flag the menu was started with that the entry's mode
 * takes (message mode takes them all), and the menu's security settings, so
 * a token typed once serves every entry.
 */
async function menuMode(args: string[], flags: ParsedFlags, context: ModeContext): Promise<number> {
  if (splitHostPort(flags.string("host")).port !== undefined) {
    throw new UsageError(
      `The menu's --host takes the host alone: each entry dials its own service's port (--info-port, --chat-port, --file-port, --tcp-port, --udp-port)`,
      CONNECT_SPEC.name,
    );
  }
  const security = parseClientSecurity(flags, context.warn);
  // The security flags travel as the settings above, parsed once.
  const passed = Object.keys(CONNECT_SPEC.flags).filter((name) =>
    flags.source(name) === "argv" && !Object.hasOwn(CLIENT_SECURITY_FLAGS, name)
  );
  const { runMenu, terminalMenuIO } = await importLazily<typeof import("./menu.ts")>(
    new URL("./menu.ts", import.meta.url),
  );
  return await runMenu(terminalMenuIO(), {
    run: (entryArgs, session) =>
      dispatch(entryArgs, {
        ...context,
        security: security.withSignal(session.signal),
        menu: session,
      }),
    available: (mode) => mode === "message" || Object.hasOwn(MODES, mode),
    flagsFor: async (mode) => {
      if (mode === "message") return args;
      const spec = await MODES[mode]!.spec();
      return passed.filter((name) => Object.hasOwn(spec.flags, name)).flatMap((name) => {
        const value = flags.values[name];
        return typeof value === "string" ? [`--${name}`, value] : [`--${name}`];
      });
    },
    portsFor: (mode) => ENTRY_PORTS[mode] ?? [],
  });
}
