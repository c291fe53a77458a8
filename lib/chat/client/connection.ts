/**
 * The `connect chat` client: dial, handshake, the session, and reconnecting.
 *
 * Stages, and how each one ends on Ctrl-C or SIGTERM:
 * 1. connect and join (cooked terminal): the server must speak within
 *    --connect-timeout or the user is told it is probably the wrong port or
 *    a TLS server; a signal ends the client at once (exit 130/143/129).
 * 2. the session (raw terminal, only after joining): Ctrl-C, Ctrl-D, /quit
 *    or a signal leave with /quit (exit 0).
 * 3. reconnecting (after the connection dropped or the server restarted):
 *    exponential backoff with jitter, capped; the same token, name (or a
 *    suffixed one), room and mode; a quit ends it at once.
 * Every line from the server is escaped (printable) before it is shown, and
 * JSON output is re-serialised with the same characters escaped. What is
 * shown of the session is decided in display.ts; where it goes, in console.ts.
 */
import { backoff } from "../../base/backoff.ts";
import { RuntimeError } from "../../base/errors.ts";
import { TIMED_OUT, within } from "../../base/deadline.ts";
import { closeQuietly, isDisconnect, writeAll } from "../../base/io.ts";
import { TokenBucket } from "../../base/rate_limit.ts";
import { decodeLenient, encode, printable } from "../../base/text.ts";
import { LineReader, OVERLONG } from "../../net/line_reader.ts";
import { formatHostPort } from "../../net/address.ts";
import type { ClientSecurity } from "../../security/client_settings.ts";
import { dialTcp } from "../../security/dial.ts";
import { SilenceProbe, TLS_HINT } from "../../security/tls_probe.ts";
import { asksForName, parseJoined, parseLimits, parseTakenName, systemText } from "../protocol.ts";
import { type Console, plainConsole } from "./console.ts";
import { ChatDisplay } from "./display.ts";
import { Signals } from "./signals.ts";
import { TerminalUi } from "./terminal.ts";

// Server lines are short, but /users with many members is one long line.
const MAX_SERVER_LINE = 1024 * 1024;
// After /quit, how long to wait for the server to close before giving up.
const QUIT_WAIT_MS = 5000;
// Reconnect backoff: first delay, growth, cap.
const BACKOFF_FIRST_MS = 500;
const BACKOFF_CAP_MS = 30_000;
// Suffixes tried when our name is taken on reconnect (our old self may linger).
const MAX_SUFFIX = 9;
// Silence after which a client without --tls asks whether the server speaks TLS.
const TLS_PROBE_DELAY_MS = 1000;
const NAME_PROMPT = "Your name: ";

/** Options of {@link runChatClient}. */
export interface ChatClientOptions {
  host: string;
  port: number;
  /** TLS and token settings. */
  security: ClientSecurity;
  /** The name to try first; without it the user is asked (interactive only). */
  name?: string;
  /** The room to be in ("#lobby" unless --room). */
  room: string;
  /** --json: switch the connection to JSON mode and print one object per line. */
  json: boolean;
  /** Ring the terminal bell when a line mentions us (fancy mode only). */
  bell: boolean;
  /** Reconnect when the connection drops or the server restarts. */
  reconnect: boolean;
  /** Give up reconnecting after this many milliseconds. */
  reconnectFor: number;
  /** Milliseconds for the connect and the server's first line. */
  connectTimeout: number;
  /** stdin is a terminal: ask for names, show own lines. */
  interactive: boolean;
  /** stdin and stdout are terminals: raw-mode UI that keeps the typed line intact. */
  fancy: boolean;
  /** Ends the client as Ctrl-C would (the menu's Ctrl-C), at any stage. */
  signal?: AbortSignal;
}

/** The user or a signal ended the client before it joined. */
class Interrupted extends Error {
  constructor(readonly signal: Deno.Signal) {
    super(`interrupted by ${signal}`);
  }
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

/**
 * Connects, joins and runs until the user leaves, the server refuses us, or
 * reconnecting gives up; resolves to the exit code. Throws RuntimeError when
 * the server cannot be reached, never greets, refuses the name, kicks us or
 * goes away for good.
 */
export async function runChatClient(options: ChatClientOptions): Promise<number> {
  using signals = new Signals();
  const client = new ChatClient(options, signals);
  try {
    return await client.run();
  } catch (error) {
    if (error instanceof Interrupted) return SIGNAL_EXIT[error.signal] ?? 130;
    throw error;
  }
}

/** One connection that has joined. */
interface Link {
  conn: Deno.Conn;
  receive(): Promise<string | null>;
  send(text: string): Promise<void>;
}

/** How a connection ended. */
type End =
  | { kind: "quit" }
  | { kind: "lost"; shutdown: boolean }
  | { kind: "refused"; message: string };

class ChatClient {
  #options: ChatClientOptions;
  #signals: Signals;
  #where: string;
  #io: Console;
  #ui: TerminalUi | null = null;
  /** The name we have now, and the one the user chose (tried first on a reconnect). */
  #name: string;
  #wanted = "";
  #room: string;
  #bucket = new TokenBucket(0, 1);
  // Lines typed (or piped) and not sent yet; a quit once they are.
  #queue: string[] = [];
  #queued: (() => void) | null = null;
  #quit: "interrupt" | "eof" | null = null;
  #onQuit: (() => void)[] = [];
  // What the current connection has said that decides how it ended.
  #shutdown = false;
  #refused: string | null = null;
  #quitting = false;
  #display: ChatDisplay;

  constructor(options: ChatClientOptions, signals: Signals) {
    this.#options = options;
    this.#signals = signals;
    this.#where = formatHostPort(options.host, options.port);
    this.#io = plainConsole(options.interactive);
    this.#name = options.name ?? "";
    this.#room = options.room;
    this.#display = new ChatDisplay(options);
  }

  async run(): Promise<number> {
    if (this.#options.interactive) console.error(`Connecting to ${this.#where}...`);
    const stopped = new Promise<Deno.Signal>((resolve) => {
      const signal = this.#options.signal;
      if (signal?.aborted) resolve("SIGINT");
      signal?.addEventListener("abort", () => resolve("SIGINT"), { once: true });
    });
    let link = await this.#connect(
      true,
      Promise.race([this.#signals.fired, stopped]).then((s) => Promise.reject(new Interrupted(s))),
    );
    try {
      // Raw mode only now that we are in: until here Ctrl-C is a signal.
      if (this.#options.fancy) {
        this.#ui = new TerminalUi();
        this.#io = this.#ui;
      }
      this.#io.setPrompt(`${this.#name}> `);
      this.#signals.onSignal = () => this.#setQuit("interrupt");
      void stopped.then(() => this.#setQuit("interrupt"));
      void this.#readInput();
      while (true) {
        const end = await this.#session(link);
        closeQuietly(link.conn);
        if (end.kind === "quit") return 0;
        if (end.kind === "refused") throw new RuntimeError(end.message);
        if (!this.#options.reconnect) {
          if (end.shutdown) return 0; // the server said goodbye: not an error
          throw new RuntimeError("The chat server closed the connection");
        }
        const next = await this.#reconnect(end.shutdown);
        if (next === null) return 0;
        link = next;
      }
    } finally {
      this.#ui?.[Symbol.dispose]();
    }
  }

  // ---- connecting ----

  /**
   * Dials, waits for the greeting and joins; then restores the room and mode.
   * `abort` rejects (with Interrupted) when the user gives up.
   */
  async #connect(first: boolean, abort: Promise<never>): Promise<Link> {
    abort.catch(() => {});
    const options = this.#options;
    const ms = options.connectTimeout;
    const deadline = Date.now() + ms;
    const noGreeting = () =>
      new RuntimeError(
        `No greeting from ${this.#where} within ${
          ms / 1000
        } s: wrong port, or does the server need --tls?`,
      );
    // Without --tls, a TLS server stays silent until the handshake times out:
    // after a moment of silence, ask it on a connection of its own.
    using probe = options.security.tls === null
      ? new SilenceProbe(options.host, options.port, {
        delayMs: TLS_PROBE_DELAY_MS,
        error: () => new RuntimeError(`No greeting from ${this.#where}: ${TLS_HINT}`),
      })
      : null;
    const early = probe ? Promise.race([abort, probe.verdict]) : abort;
    early.catch(() => {});
    const dialing = dialTcp(options.host, options.port, {
      security: options.security,
      noDelay: true,
      serverSpeaksFirst: true,
    });
    let dialed: Deno.Conn<Deno.NetAddr> | typeof TIMED_OUT | undefined;
    try {
      dialed = await Promise.race([within(dialing, ms), early]);
    } finally {
      // A dial still under way when we stop waiting is closed when it lands.
      dialing.then((conn) =>
        dialed === undefined || dialed === TIMED_OUT ? closeQuietly(conn) : null
      )
        .catch(() => {});
    }
    if (dialed === TIMED_OUT) throw noGreeting();
    const conn = dialed;
    try {
      const reader = new LineReader(conn, { maxLine: MAX_SERVER_LINE });
      const receive = async (): Promise<string | null> => {
        try {
          const line = await reader.readLine();
          if (line === null) return null;
          return line === OVERLONG ? "(an over-long line)" : printable(decodeLenient(line));
        } catch (error) {
          if (isDisconnect(error)) return null;
          throw error;
        }
      };
      // Bounded: a server that stops talking mid-handshake is not waited for forever.
      const next = async (until: number, stop = abort) => {
        const line = await Promise.race([
          within(receive(), Math.max(1, until - Date.now())),
          stop,
        ]);
        if (line === TIMED_OUT) throw noGreeting();
        return line;
      };
      const link: Link = { conn, receive, send: (text) => writeAll(conn, encode(text + "\n")) };
      const greeting = await next(deadline, early);
      probe?.cancel();
      await this.#join(link, greeting, first, () => next(Date.now() + ms), abort);
      const limits = await next(Date.now() + ms);
      if (limits === null) throw closedError();
      const pace = parseLimits(limits);
      // A little under the server's limit, so timing jitter never gets a line refused.
      this.#bucket = new TokenBucket(
        (pace?.rate ?? 0) * 0.9,
        Math.max(1, (pace?.burst ?? 1) - 2),
      );
      await this.#setup(link, first, limits);
      return link;
    } catch (error) {
      closeQuietly(conn);
      throw error;
    }
  }

  /** The handshake: answers name prompts until the join is confirmed. */
  async #join(
    link: Link,
    greeting: string | null,
    first: boolean,
    next: () => Promise<string | null>,
    abort: Promise<never>,
  ): Promise<void> {
    const options = this.#options;
    // After a drop, the name the user chose (not a NAME_2 we fell back to) comes first.
    let offered = first ? options.name : this.#wanted;
    const base = this.#wanted;
    let attempts = 0;
    let last = "";
    for (let line = greeting; line !== null; line = await next()) {
      last = line;
      const joined = parseJoined(line);
      const asks = asksForName(line);
      if (first && !options.json) this.#io.print(line);
      if (joined) {
        this.#name = joined;
        this.#display.name = joined;
        if (first) this.#wanted = joined;
        if (!first) this.#io.notice(`Reconnected as ${joined}`);
        return;
      }
      if (!asks) continue;
      if (!first && attempts > 0) {
        // Taken: most likely our old connection, not yet noticed as gone.
        if (attempts > MAX_SUFFIX || parseTakenName(line) === null) {
          throw new RuntimeError(`Cannot rejoin as "${base}": ${systemText(line) ?? line}`);
        }
        const suffix = `_${attempts + 1}`;
        offered = base.slice(0, 32 - suffix.length) + suffix;
      } else if (attempts > 0 && !options.interactive) {
        throw new RuntimeError(`Cannot join as "${offered}": ${systemText(line) ?? line}`);
      } else if (attempts > 0 || offered === undefined) {
        const typed = await Promise.race([this.#io.readLine(NAME_PROMPT), abort]);
        if (typed === null) {
          // Ctrl-D at the prompt: the error goes on a line of its own.
          if (options.interactive) Deno.stderr.writeSync(encode("\n"));
          throw new RuntimeError("No name given; left the chat");
        }
        offered = typed.trim();
      }
      attempts++;
      await link.send(offered!);
    }
    // e.g. "! The room is full (256 members); try again later"
    const refusal = systemText(last);
    if (refusal !== null) throw new RuntimeError(`Cannot join: ${refusal}`);
    throw closedError();
  }

  /** Sends what puts us back where we were: echo, the room, JSON mode. */
  async #setup(link: Link, first: boolean, limits: string): Promise<void> {
    const options = this.#options;
    // The server echoes our lines (stamped by its clock) only to a terminal user.
    const commands = this.#display.setup(this.#room, options.interactive && !options.json);
    if (first && !options.json) this.#io.print(limits);
    for (const command of commands) await this.#paced(link, command);
  }

  async #reconnect(shutdown: boolean): Promise<Link | null> {
    const lostAt = Date.now();
    this.#io.notice(
      shutdown ? "The server is shutting down; reconnecting" : "Lost the connection; reconnecting",
    );
    for (let attempt = 1;; attempt++) {
      const delay = backoff(attempt - 1, {
        firstMs: BACKOFF_FIRST_MS,
        capMs: BACKOFF_CAP_MS,
        jitter: [0.5, 1],
      });
      if (Date.now() + delay - lostAt > this.#options.reconnectFor) {
        throw new RuntimeError(
          `Lost the connection to ${this.#where} and could not reconnect within ${
            this.#options.reconnectFor / 1000
          } s`,
        );
      }
      this.#io.notice(`Reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${attempt})`);
      const aborted = this.#aborted();
      if (await Promise.race([sleep(delay).then(() => false), aborted.then(() => true)])) {
        return null;
      }
      try {
        return await this.#connect(
          false,
          aborted.then(() => Promise.reject(new Interrupted("SIGINT"))),
        );
      } catch (error) {
        if (error instanceof Interrupted) return null;
        const message = error instanceof Error ? error.message : String(error);
        this.#io.notice(`Reconnect failed: ${message}`);
      }
    }
  }

  /** Resolves when the user quits in a way that should not wait (not a pipe's end). */
  #aborted(): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        // A pipe that ended with lines still to send waits for the reconnect.
        if (this.#quit === "interrupt" || (this.#quit === "eof" && this.#queue.length === 0)) {
          resolve();
          return true;
        }
        return false;
      };
      if (!check()) this.#onQuit.push(() => void check());
    });
  }

  // ---- the session ----

  async #session(link: Link): Promise<End> {
    this.#shutdown = false;
    this.#refused = null;
    this.#quitting = false;
    const ended = (async (): Promise<End> => {
      for (let line = await link.receive(); line !== null; line = await link.receive()) {
        this.#show(line);
      }
      if (this.#quitting) return { kind: "quit" };
      if (this.#refused !== null) return { kind: "refused", message: this.#refused };
      return { kind: "lost", shutdown: this.#shutdown };
    })();
    while (true) {
      const text = this.#queue.shift();
      if (text !== undefined) {
        try {
          await this.#paced(link, text);
        } catch (error) {
          if (!isDisconnect(error)) throw error;
          this.#queue.unshift(text); // sent again after a reconnect
          return await ended;
        }
        continue;
      }
      if (this.#quit !== null) {
        this.#quitting = true;
        await link.send("/quit").catch(() => {});
        if (await within(ended, QUIT_WAIT_MS) === TIMED_OUT) closeQuietly(link.conn);
        await ended;
        return { kind: "quit" };
      }
      const woken = new Promise<"input">((resolve) => (this.#queued = () => resolve("input")));
      const result = await Promise.race([woken, ended]);
      this.#queued = null;
      if (result !== "input") return result;
    }
  }

  async #paced(link: Link, text: string): Promise<void> {
    await sleep(this.#bucket.wait());
    this.#bucket.take();
    await link.send(text);
  }

  async #readInput(): Promise<void> {
    while (true) {
      const text = await this.#io.readLine();
      if (text === null) {
        return this.#setQuit(this.#options.interactive ? "interrupt" : "eof");
      }
      if (text.trim().toLowerCase() === "/quit") {
        return this.#setQuit(this.#options.interactive ? "interrupt" : "eof");
      }
      this.#queue.push(text);
      this.#queued?.();
    }
  }

  #setQuit(kind: "interrupt" | "eof"): void {
    if (this.#quit !== "interrupt") this.#quit = kind;
    if (kind === "interrupt") this.#io.abort();
    this.#queued?.();
    for (const listener of this.#onQuit.splice(0)) listener();
  }

  // ---- showing what the server says ----

  /** Prints one server line (already escaped) as the display decides, and acts on what it says. */
  #show(raw: string): void {
    const reading = this.#display.take(raw);
    if (reading.renamed) {
      this.#name = reading.renamed;
      this.#wanted = reading.renamed;
      this.#io.setPrompt(`${reading.renamed}> `);
    }
    if (reading.room) this.#room = reading.room;
    if (reading.refused) this.#refused = reading.refused;
    if (reading.shutdown) this.#shutdown = true;
    if (reading.goodbye) this.#quitting = true;
    const output = reading.output;
    if (output?.kind === "line") {
      if (output.before !== undefined) this.#io.print(output.before, false, false);
      this.#io.print(output.line, output.highlight, output.bell);
    } else if (output?.kind === "json") console.log(output.json);
    else if (output?.kind === "notice") this.#io.notice(output.text);
  }
}

function closedError(): RuntimeError {
  return new RuntimeError("The chat server closed the connection");
}

function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
