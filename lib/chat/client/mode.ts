/**
 * `socketkit connect chat`: joins the chat. On a terminal it is an
 * interactive client (raw mode once joined, see terminal.ts); with stdin from
 * a pipe it posts each line and leaves with /quit at end of input, so scripts
 * can post; with --json it prints one JSON object per line for a program.
 * The connection itself (handshake, session, reconnect) is connection.ts.
 */
import { importLazily } from "../../base/lazy_import.ts";
import { UsageError } from "../../base/errors.ts";
import { type CommandSpec, formatHelp, parseFlags } from "../../base/flags.ts";
import { CLIENT_SECURITY_FLAGS, securityFor } from "../../security/client_settings.ts";
import { HOST_FLAG, portFlag, serverAddress } from "../../net/server_address.ts";
import type { ModeContext } from "../../service.ts";
import { CHAT_PORT } from "../config.ts";
import { isValidName, LOBBY, NAME_RULE, ROOM_RULE, roomName } from "../protocol.ts";

export const CHAT_CLIENT_SPEC: CommandSpec = {
  name: "socketkit connect chat",
  usage: [
    "socketkit connect chat [--name NAME] [--room ROOM] [flags]",
    "socketkit connect chat --json --name NAME [...]",
  ],
  summary: "Join the chat of a socketkit server.",
  flags: {
    name: {
      type: "string",
      value: "NAME",
      help: `Your name (${NAME_RULE}); asked for on a terminal when absent`,
    },
    room: {
      type: "string",
      value: "ROOM",
      default: LOBBY,
      help: "The room to join (created if new); the # is optional",
    },
    host: HOST_FLAG,
    "chat-port": portFlag("chat-port", CHAT_PORT, "Chat service port"),
    json: {
      type: "boolean",
      help: "Print one JSON object per line (for programs); --name is then required",
    },
    "no-bell": {
      type: "boolean",
      help: "Do not ring the terminal bell when a line mentions your name",
    },
    "no-reconnect": {
      type: "boolean",
      help: "Exit when the connection drops instead of reconnecting",
    },
    "reconnect-for": {
      type: "string",
      value: "TIME",
      default: "5m",
      help: "Give up reconnecting after this long",
    },
    "connect-timeout": {
      type: "string",
      value: "TIME",
      default: "10s",
      help: "Time for the connection and the server's first line",
    },
    ...CLIENT_SECURITY_FLAGS,
  },
  notes: `On a terminal, type a line and press Enter to send it; /help lists the chat's
commands (/msg NAME TEXT, /join #ROOM, /rooms, /users, ...); /quit, Ctrl-C or
Ctrl-D on an empty line leaves. Editing keys are readline's: arrows, Home/End,
Ctrl-W and Alt-Backspace, Ctrl-U/Ctrl-K, Up/Down for the lines sent before. A
line that mentions your name is highlighted and rings the bell once. If the
connection drops or the server restarts, the client reconnects (backoff up to
30 s, with jitter), under the same name (or NAME_2 if it is still taken) and in
the same room.
With standard input from a pipe, each line is posted (paced to the server's
rate limit) and end of input leaves with /quit; --name is then required.

Exit status: 0 after leaving, or when the server shuts down with
--no-reconnect; 1 if the server cannot be reached or does not greet, refuses
the name, kicks you, or cannot be reached again within --reconnect-for; 2 for
a bad flag, an invalid --name or an invalid --room; 130, 143 or 129 for Ctrl-C,
SIGTERM or SIGHUP before joining.

Examples:
  socketkit connect chat --name alice --room games
  echo "build finished" | socketkit connect chat --name ci-bot
  socketkit connect chat --json --name bot < /dev/null | jq .`,
};

/** Runs `socketkit connect chat` with its arguments; resolves to the exit code. */
export async function chatMode(args: string[], context: ModeContext): Promise<number> {
  const parsed = parseFlags(CHAT_CLIENT_SPEC, args);
  if (parsed.help) {
    console.log(formatHelp(CHAT_CLIENT_SPEC));
    return 0;
  }
  const name = parsed.optional("name");
  const json = parsed.boolean("json");
  const interactive = Deno.stdin.isTerminal();
  if (name !== undefined && !isValidName(name)) {
    throw new UsageError(
      `Invalid value "${name}" for --name: expected ${NAME_RULE}`,
      CHAT_CLIENT_SPEC.name,
    );
  }
  if (name === undefined && (!interactive || json)) {
    throw new UsageError(
      json
        ? "Give a name with --name (--json is for programs, which cannot be asked)"
        : "Give a name with --name (standard input is not a terminal to ask on)",
      CHAT_CLIENT_SPEC.name,
    );
  }
  const room = roomName(parsed.string("room"));
  if (room === null) {
    throw new UsageError(
      `Invalid value "${parsed.string("room")}" for --room: expected ${ROOM_RULE}`,
      CHAT_CLIENT_SPEC.name,
    );
  }
  const connectTimeout = parsed.duration("connect-timeout");
  if (connectTimeout <= 0) {
    throw new UsageError(
      `Invalid value "${
        parsed.string("connect-timeout")
      }" for --connect-timeout: expected a time above 0`,
      CHAT_CLIENT_SPEC.name,
    );
  }
  // The menu (when it runs this mode) hands over a signal for its Ctrl-C.
  const signal = context.menu?.signal;
  // Loaded here, not with the flags, so `connect chat --help` starts fast.
  const { runChatClient } = await importLazily<typeof import("./connection.ts")>(
    new URL("./connection.ts", import.meta.url),
  );
  return await runChatClient({
    ...(signal ? { signal } : {}),
    ...serverAddress(parsed, "chat-port"),
    ...(name !== undefined ? { name } : {}),
    room,
    json,
    bell: !parsed.boolean("no-bell"),
    reconnect: !parsed.boolean("no-reconnect"),
    reconnectFor: parsed.duration("reconnect-for"),
    connectTimeout,
    security: securityFor(parsed, context),
    // --json output is for a program: no prompts, no raw mode, no echo.
    interactive: interactive && !json,
    fancy: interactive && !json && Deno.stdout.isTerminal(),
  });
}
