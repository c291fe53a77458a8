/**
 * `socketkit connect chat`: joins the chat room. On a terminal it is an
 * interactive client (raw mode, see terminal.ts); with stdin from a pipe it
 * posts each line and leaves with /quit at end of input, so scripts can post.
 */
import { RuntimeError, UsageError } from "../base/errors.ts";
import { type CommandSpec, formatHelp, parseFlags } from "../base/flags.ts";
import { TIMED_OUT, within } from "../base/deadline.ts";
import { dialTcp } from "../security/dial.ts";
import { closeQuietly, isDisconnect, writeAll } from "../base/io.ts";
import { LineReader, OVERLONG } from "../net/line_reader.ts";
import { decodeLenient, encode, printable } from "../base/text.ts";
import {
  CLIENT_SECURITY_FLAGS,
  type ClientSecurity,
  securityFor,
} from "../security/client_settings.ts";
import type { ModeContext } from "../service.ts";
import { CHAT_PORT } from "./config.ts";
import {
  actionLine,
  asksForName,
  clock,
  isValidName,
  messageLine,
  NAME_RULE,
  parseJoined,
  parseLimits,
  parseRenamed,
} from "./protocol.ts";
import { TokenBucket } from "../base/rate_limit.ts";
import { TerminalUi } from "./terminal.ts";

export const CHAT_CLIENT_SPEC: CommandSpec = {
  name: "socketkit connect chat",
  usage: ["socketkit connect chat [--name NAME] [--host HOST] [--chat-port PORT]"],
  summary: "Join the chat room of a socketkit server.",
  flags: {
    name: {
      type: "string",
      value: "NAME",
      help: `Your name in the room (${NAME_RULE}); asked for on a terminal when absent`,
    },
    host: { type: "string", value: "HOST", default: "127.0.0.1", help: "Server address" },
    "chat-port": {
      type: "string",
      value: "PORT",
      default: String(CHAT_PORT),
      help: "Chat service port",
    },
    ...CLIENT_SECURITY_FLAGS,
  },
  notes: `On a terminal, type a line and press Enter to send it; /help lists the room's
commands; /quit, Ctrl-C or Ctrl-D on an empty line leaves.
With standard input from a pipe, each line is posted (paced to the server's
rate limit) and end of input leaves with /quit; --name is then required.

Exit status: 0 after leaving; 1 if the server cannot be reached, refuses the
name (taken) or closes the connection; 2 for a bad flag or an invalid --name.

Examples:
  socketkit connect chat --name alice
  echo "build finished" | socketkit connect chat --name ci-bot`,
};

// Server lines are short, but /users with many members is one long line.
const MAX_SERVER_LINE = 1024 * 1024;
// After /quit, how long to wait for the server to close before giving up.
const QUIT_WAIT_MS = 5000;
const NAME_PROMPT = "Your name: ";

/** Runs `socketkit connect chat` with its arguments; resolves to the exit code. */
export async function chatMode(args: string[], context: ModeContext): Promise<number> {
  const parsed = parseFlags(CHAT_CLIENT_SPEC, args);
  if (parsed.help) {
    console.log(formatHelp(CHAT_CLIENT_SPEC));
    return 0;
  }
  const name = parsed.optional("name");
  const interactive = Deno.stdin.isTerminal();
  if (name !== undefined && !isValidName(name)) {
    throw new UsageError(
      `Invalid value "${name}" for --name: expected ${NAME_RULE}`,
      CHAT_CLIENT_SPEC.name,
    );
  }
  if (name === undefined && !interactive) {
    throw new UsageError(
      "Give a name with --name (standard input is not a terminal to ask on)",
      CHAT_CLIENT_SPEC.name,
    );
  }
  return await runChatClient({
    host: parsed.string("host"),
    port: parsed.port("chat-port"),
    ...(name !== undefined ? { name } : {}),
    security: securityFor(parsed, context),
    interactive,
    fancy: interactive && Deno.stdout.isTerminal(),
  });
}

/** Options of {@link runChatClient}. */
export interface ChatClientOptions {
  host: string;
  port: number;
  /** TLS and token settings. */
  security: ClientSecurity;
  /** The name to try first; without it the user is asked (interactive only). */
  name?: string;
  /** stdin is a terminal: ask for names, echo own lines. */
  interactive: boolean;
  /** stdin and stdout are terminals: raw-mode UI that keeps the typed line intact. */
  fancy: boolean;
}

/** Where lines come from and go to: a raw terminal, or plain stdin/stdout. */
interface Console {
  readLine(): Promise<string | null>;
  print(line: string): void;
  setPrompt(prompt: string): void;
  abort(): void;
}

/**
 * Connects, joins and runs until the user leaves or the server goes away.
 * Throws RuntimeError when the server cannot be reached, refuses the name or
 * closes the connection.
 */
export async function runChatClient(options: ChatClientOptions): Promise<number> {
  // No Nagle: each line should leave when typed, not wait for an ACK. The
  // server speaks first, so a token is dealt with (or asked for) right here.
  const conn = await dialTcp(options.host, options.port, {
    security: options.security,
    noDelay: true,
    serverSpeaksFirst: true,
  });
  const server = new LineReader(conn, { maxLine: MAX_SERVER_LINE });
  using ui = options.fancy ? new TerminalUi() : null;
  const io: Console = ui ?? plainConsole(options.interactive);
  try {
    return await session(conn, server, io, options);
  } finally {
    closeQuietly(conn);
  }
}

async function session(
  conn: Deno.Conn,
  server: LineReader,
  io: Console,
  options: ChatClientOptions,
): Promise<number> {
  const receive = async (): Promise<string | null> => {
    try {
      const line = await server.readLine();
      if (line === null) return null;
      return line === OVERLONG ? "(an over-long line)" : printable(decodeLenient(line));
    } catch (error) {
      if (isDisconnect(error)) return null;
      throw error;
    }
  };
  const send = (text: string) => writeAll(conn, encode(text + "\n"));

  let name = await join(receive, send, io, options);
  const limits = await receive();
  if (limits === null) throw closedError();
  io.print(limits);
  const pace = parseLimits(limits);
  // A little under the server's limit, so timing jitter never gets a line refused.
  const bucket = new TokenBucket((pace?.rate ?? 0) * 0.9, Math.max(1, (pace?.burst ?? 1) - 2));
  io.setPrompt(`${name}> `);

  // Incoming lines are printed as they arrive, whatever the input side is doing.
  let gone = false;
  const closed = (async () => {
    for (let line = await receive(); line !== null; line = await receive()) {
      io.print(line);
      const renamed = parseRenamed(line);
      if (renamed) {
        name = renamed;
        io.setPrompt(`${name}> `);
      }
    }
    gone = true;
    io.abort();
  })();

  let quitting = false;
  try {
    while (!quitting) {
      const text = await io.readLine();
      if (gone) break;
      if (text === null || text.trim().toLowerCase() === "/quit") {
        quitting = true;
        await send("/quit");
        break;
      }
      if (options.interactive) echo(io, name, text);
      await sleep(bucket.wait());
      bucket.take();
      await send(text);
    }
  } catch (error) {
    if (!isDisconnect(error)) throw error;
  }
  if (quitting) {
    if (await within(closed, QUIT_WAIT_MS) === TIMED_OUT) closeQuietly(conn);
    await closed;
    return 0;
  }
  await closed;
  throw closedError();
}

/** The handshake: answers name prompts until the join is confirmed; returns the name. */
async function join(
  receive: () => Promise<string | null>,
  send: (text: string) => Promise<void>,
  io: Console,
  options: ChatClientOptions,
): Promise<string> {
  let offered = options.name;
  let attempts = 0;
  let last = "";
  for (let line = await receive(); line !== null; line = await receive()) {
    io.print(line);
    last = line;
    const joined = parseJoined(line);
    if (joined) return joined;
    if (!asksForName(line)) continue;
    if (attempts > 0 && !options.interactive) {
      throw new RuntimeError(`Cannot join as "${offered}": ${line.replace(/^! /, "")}`);
    }
    if (attempts > 0 || offered === undefined) {
      io.setPrompt(NAME_PROMPT);
      const typed = await io.readLine();
      if (typed === null) throw new RuntimeError("No name given; left the chat");
      offered = typed.trim();
    }
    attempts++;
    await send(offered!);
  }
  // e.g. "! The room is full (256 members); try again later"
  if (last.startsWith("! ")) throw new RuntimeError(`Cannot join: ${last.slice(2)}`);
  throw closedError();
}

/** Shows the user's own message as the others will see it (the server does not echo). */
function echo(io: Console, name: string, text: string): void {
  const time = clock(new Date());
  const safe = printable(text);
  if (safe.startsWith("//")) io.print(messageLine(time, name, safe.slice(1)));
  else if (safe.startsWith("/me ")) io.print(actionLine(time, name, safe.slice(4).trim()));
  else if (!safe.startsWith("/")) io.print(messageLine(time, name, safe));
}

function closedError(): RuntimeError {
  return new RuntimeError("The chat server closed the connection");
}

function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}

/** stdin lines in, stdout lines out; a terminal user sees the prompt on stderr. */
function plainConsole(interactive: boolean): Console {
  const input = new LineReader(Deno.stdin, { maxLine: MAX_SERVER_LINE });
  let wake: (() => void) | null = null;
  let aborted = false;
  let read: Promise<Uint8Array | typeof OVERLONG | null> | null = null;
  let prompt = "";
  return {
    async readLine() {
      // Without raw mode an incoming line can land mid-typing; the prompt
      // goes to stderr so stdout stays the room's lines.
      if (interactive && prompt !== "") Deno.stderr.writeSync(encode(prompt));
      while (!aborted) {
        read ??= input.readLine();
        const woken = new Promise<"woken">((resolve) => (wake = () => resolve("woken")));
        const line = await Promise.race([read, woken]);
        wake = null;
        if (line === "woken") continue;
        read = null;
        if (line === null) return null;
        if (line === OVERLONG) {
          console.error("Line too long to send; skipped");
          continue;
        }
        return decodeLenient(line);
      }
      return null;
    },
    print: (line) => console.log(line),
    setPrompt(text) {
      prompt = text;
    },
    abort() {
      aborted = true;
      wake?.();
    },
  };
}
