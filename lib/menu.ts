/**
 * The interactive menu `socketkit connect` shows on a terminal, like the
 * original client's. Each entry asks what it needs and then runs the same
 * code as the matching subcommand, through `run` (connect's dispatcher).
 * Input and output are injected, so the menu is testable without a terminal.
 */
import { VERSION } from "./base/version.ts";
import { NoAnswerError, RuntimeError, UsageError } from "./base/errors.ts";
import { encode, printable } from "./base/text.ts";
import { writeAll } from "./base/io.ts";
import type { MenuSession } from "./service.ts";

/** Where the menu reads answers and writes its text. */
export interface MenuIO {
  /**
   * The next line typed, without its line ending; null at end of input or
   * once `signal` aborts (a read under way then serves the next call, so
   * nothing typed is lost).
   */
  readLine(signal?: AbortSignal): Promise<string | null>;
  /** Writes text as is (prompts end without a newline). */
  write(text: string): Promise<void> | void;
  /** Calls `handler` on each Ctrl-C (SIGINT) until the returned function is called. */
  onInterrupt?(handler: () => void): () => void;
}

/** Options of {@link runMenu}. */
export interface MenuOptions {
  /** Runs `socketkit connect <args>` as an entry of the menu; resolves to its exit code. */
  run(args: string[], session: MenuSession): Promise<number>;
  /** Whether `connect <mode>` exists in this build ("message" is the flag-selected mode). */
  available(mode: string): boolean;
  /** Flags added to an entry's command line, e.g. ["--host", "192.0.2.7"]. Default none. */
  flagsFor?(mode: string): string[] | Promise<string[]>;
  /**
   * The port flags of an entry's service(s), asked for when the entry finds
   * nothing answering (a NoAnswerError). Default none: the error is shown.
   */
  portsFor?(mode: string): { flag: string; service: string }[];
}

interface Question {
  prompt: string;
  /** Used for an empty answer; without one, an empty answer cancels the entry. */
  default?: string;
}

interface MenuEntry {
  label: string;
  /** The words that choose it besides its number. */
  names: string[];
  /** The connect mode it runs; null for Quit. */
  mode: string | null;
  questions: Question[];
  /** `connect` arguments from the answers. */
  args(answers: string[]): string[];
}

/** The entries in menu order; each builds the same command line a user would type. */
export const MENU_ENTRIES: readonly MenuEntry[] = [
  {
    label: "Send messages (random TCP/UDP)",
    names: ["message", "messages"],
    mode: "message",
    questions: [],
    args: () => ["--random"],
  },
  { label: "Chat", names: ["chat"], mode: "chat", questions: [], args: () => ["chat"] },
  {
    label: "Server info",
    names: ["info"],
    mode: "info",
    questions: [{ prompt: "Command (STATUS, TIME, USERS, HELP) [STATUS]: ", default: "STATUS" }],
    args: ([command]) => ["info", command!],
  },
  {
    label: "List files",
    names: ["files", "list"],
    mode: "files",
    questions: [],
    args: () => ["files"],
  },
  {
    label: "Upload a file",
    names: ["upload"],
    mode: "upload",
    questions: [
      { prompt: "File to upload: " },
      { prompt: "Replace a file of the same name on the server? [y/N] ", default: "n" },
    ],
    args: ([path, force]) => ["upload", path!, ...(yes(force) ? ["--force"] : [])],
  },
  {
    label: "Download a file",
    names: ["download"],
    mode: "download",
    questions: [
      { prompt: "File to download: " },
      { prompt: "Save as (a file or folder; Enter: the same name here): ", default: "" },
      { prompt: "Replace the file if it exists? [y/N] ", default: "n" },
    ],
    args: ([name, output, force]) => [
      "download",
      name!,
      ...(output ? ["--output", output] : []),
      ...(yes(force) ? ["--force"] : []),
    ],
  },
  { label: "Quit", names: ["quit", "q", "exit"], mode: null, questions: [], args: () => [] },
];

function yes(answer: string | undefined): boolean {
  return /^y(es)?$/i.test(answer?.trim() ?? "");
}

/** The menu text shown before each choice. */
export function menuText(): string {
  const lines = MENU_ENTRIES.map((entry, i) => `  ${i + 1}) ${entry.label}`);
  return `\nsocketkit ${VERSION}: what would you like to do?\n${lines.join("\n")}\n`;
}

const CHOICE_PROMPT = `Choose 1-${MENU_ENTRIES.length}: `;

/**
 * Shows the menu until Quit, end of input at the choice, or an entry that
 * stopped the server; resolves to 0. An entry's usage or runtime error is
 * shown and the menu comes back; any other error is a bug and is rethrown.
 * Ctrl-C during an entry stops it (its connections are closed), and Ctrl-D
 * (end of input) at an entry's question or in the entry ends it; either way
 * the menu comes back.
 */
export async function runMenu(io: MenuIO, options: MenuOptions): Promise<number> {
  // Ports typed when nothing answered, by flag: used by every later entry.
  const ports = new Map<string, string>();
  while (true) {
    await io.write(menuText());
    const entry = await choose(io);
    if (entry === null) {
      // Ctrl-D at the choice: leave the shell's prompt a line of its own.
      await io.write("\n");
      return 0;
    }
    if (entry.mode === null) return 0;
    if (!options.available(entry.mode)) {
      await io.write(`${entry.label}: not available in this build of socketkit\n`);
      continue;
    }
    const answers: string[] = [];
    let ended = false;
    for (const question of entry.questions) {
      await io.write(question.prompt);
      const line = await io.readLine();
      // Ctrl-D at a question: the cursor is still after the prompt.
      if (line === null) ended = true;
      const answer = line === null ? undefined : line.trim() || question.default;
      if (answer === undefined) break;
      answers.push(answer);
    }
    if (ended) {
      await io.write("\nBack to the menu\n");
      continue;
    }
    if (answers.length < entry.questions.length) {
      await io.write("Nothing entered; back to the menu\n");
      continue;
    }
    const flags = await options.flagsFor?.(entry.mode) ?? [];
    const outcome = await runEntry(io, options, [...entry.args(answers), ...flags], ports, entry);
    if (outcome === "server-stopped") {
      await io.write("The server was stopped; leaving the menu\n");
      return 0;
    }
  }
}

/**
 * Runs one entry, again with a port typed by the user each time nothing
 * answers on its service's port, until it ends otherwise or the user gives
 * no port.
 */
async function runEntry(
  io: MenuIO,
  options: MenuOptions,
  args: string[],
  ports: Map<string, string>,
  entry: MenuEntry,
): Promise<"done" | "server-stopped"> {
  const wanted = options.portsFor?.(entry.mode!) ?? [];
  while (true) {
    const known = wanted.flatMap(({ flag }) => {
      const port = ports.get(flag);
      return port === undefined ? [] : [`--${flag}`, port];
    });
    const outcome = await runOnce(io, options, [...args, ...known], entry);
    if (outcome !== "no-answer") return outcome;
    if (wanted.length === 0) return "done";
    for (const { flag, service } of wanted) {
      const port = await askPort(io, service);
      if (port === null) return "done";
      ports.set(flag, port);
    }
  }
}

/** Asks for a port until one is typed; null for an empty answer or end of input. */
async function askPort(io: MenuIO, service: string): Promise<string | null> {
  while (true) {
    await io.write(`Port of ${service} (Enter: back to the menu): `);
    const line = await io.readLine();
    if (line === null) await io.write("\n");
    const answer = line?.trim() ?? "";
    if (answer === "") return null;
    if (/^\d{1,5}$/.test(answer) && Number(answer) >= 1 && Number(answer) <= 65535) return answer;
    await io.write(`Not a port: "${printableChoice(answer)}" (1-65535)\n`);
  }
}

/** One run of an entry's command line. */
async function runOnce(
  io: MenuIO,
  options: MenuOptions,
  args: string[],
  entry: MenuEntry,
): Promise<"done" | "server-stopped" | "no-answer"> {
  let noAnswer = false;
  const controller = new AbortController();
  let serverStopped = false;
  // Ctrl-D in the entry: back to the menu, on a line of its own.
  let endOfInput = false;
  const read = async () => {
    const line = await io.readLine(controller.signal);
    if (line === null && !controller.signal.aborted) endOfInput = true;
    return line;
  };
  const session: MenuSession = {
    signal: controller.signal,
    readLine: read,
    async confirm(question) {
      await io.write(question);
      const answer = await io.readLine(controller.signal);
      // Ctrl-D: no, on a line of its own; the entry goes on.
      if (answer === null && !controller.signal.aborted) await io.write("\n");
      return yes(answer ?? "");
    },
    serverStopped: () => (serverStopped = true),
  };
  const unlisten = io.onInterrupt?.(() => controller.abort());
  // Message mode's prompt says it; every other entry says it here.
  if (unlisten && entry.mode !== "message") await io.write("(Ctrl-C returns to the menu)\n");
  try {
    await options.run(args, session);
  } catch (error) {
    // After Ctrl-C, whatever the closed connections made the entry throw is expected.
    if (!controller.signal.aborted) {
      if (!(error instanceof UsageError || error instanceof RuntimeError)) throw error;
      // After Ctrl-D the cursor is still after the entry's prompt.
      await io.write(`${endOfInput ? "\n" : ""}error: ${error.message}\n`);
      noAnswer = error instanceof NoAnswerError;
      endOfInput = false;
    }
  } finally {
    unlisten?.();
  }
  if (controller.signal.aborted) await io.write("\nInterrupted; back to the menu\n");
  else if (endOfInput) await io.write("\nBack to the menu\n");
  if (serverStopped) return "server-stopped";
  return noAnswer ? "no-answer" : "done";
}

/** Reads choices until one names an entry; null at end of input. */
async function choose(io: MenuIO): Promise<MenuEntry | null> {
  while (true) {
    await io.write(CHOICE_PROMPT);
    const line = await io.readLine();
    if (line === null) return null;
    const answer = line.trim().toLowerCase();
    if (answer === "") continue;
    const byNumber = /^\d+$/.test(answer) ? MENU_ENTRIES[Number(answer) - 1] : undefined;
    const entry = byNumber ?? MENU_ENTRIES.find((candidate) => candidate.names.includes(answer));
    if (entry) return entry;
    await io.write(`Unknown choice "${printableChoice(line)}": type 1-${MENU_ENTRIES.length}\n`);
  }
}

function printableChoice(line: string): string {
  return printable(Array.from(line.trim()).slice(0, 20).join(""));
}

/**
 * MenuIO over the process's terminal. One reader owns stdin for the menu and
 * the entries it runs: reads never take more than the line asked for when
 * stdin is a terminal (the terminal hands over one line per read), so
 * whatever an entry then reads from stdin itself is not lost, and a read cut
 * short by Ctrl-C stays pending and serves the next line asked for.
 */
export function terminalMenuIO(): MenuIO {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(4096);
  let pending = "";
  let reading: Promise<number | null> | null = null;
  let eof = false;
  /** What is left without a line ending (null if nothing): at end of input. */
  const takePending = (): string | null => {
    if (pending === "") return null;
    const last = pending;
    pending = "";
    return last;
  };
  return {
    async readLine(signal) {
      while (!pending.includes("\n")) {
        if (signal?.aborted) return null;
        if (eof) return takePending();
        reading ??= Deno.stdin.read(buffer);
        const n = await untilAborted(reading, signal);
        if (n === ABORTED) continue;
        reading = null;
        // Ctrl-D on a terminal ends one read, not the terminal: the menu
        // goes on reading after it. End of a pipe or file is final.
        if (n === null && Deno.stdin.isTerminal()) return takePending();
        if (n === null) eof = true;
        else pending += decoder.decode(buffer.subarray(0, n), { stream: true });
      }
      const end = pending.indexOf("\n");
      const line = pending.slice(0, end).replace(/\r$/, "");
      pending = pending.slice(end + 1);
      return line;
    },
    async write(text) {
      await writeAll(Deno.stdout, encode(text));
    },
    onInterrupt(handler) {
      Deno.addSignalListener("SIGINT", handler);
      return () => Deno.removeSignalListener("SIGINT", handler);
    },
  };
}

const ABORTED = Symbol("aborted");

function untilAborted<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T | typeof ABORTED> {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
