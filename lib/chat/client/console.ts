/**
 * Where the chat client's lines come from and go to: the raw-mode terminal
 * UI (terminal.ts) when stdin and stdout are terminals, or plain stdin and
 * stdout (a pipe, or a terminal without raw mode) from {@link plainConsole}.
 */
import { decodeLenient, encode } from "../../base/text.ts";
import { LineReader, OVERLONG } from "../../net/line_reader.ts";

// A typed or piped line longer than this is skipped, not sent.
const MAX_INPUT_LINE = 1024 * 1024;

/** The user's side of a chat client: lines typed in, the room's lines and notices out. */
export interface Console {
  /** The next line typed; `prompt` is shown first where it is not drawn already. */
  readLine(prompt?: string): Promise<string | null>;
  /** A line from the room; `highlight` (a mention) and `bell` where the console can. */
  print(line: string, highlight?: boolean, bell?: boolean): void;
  /** The client's own word (not the server's): on the UI, or stderr. */
  notice(text: string): void;
  setPrompt(prompt: string): void;
  /** Ends a pending and every later {@link readLine} with null. */
  abort(): void;
}

/**
 * stdin lines in, stdout lines out; a terminal user (`interactive`) sees the
 * prompts on stderr, and every user sees the client's notices there.
 */
export function plainConsole(interactive: boolean): Console {
  const input = new LineReader(Deno.stdin, { maxLine: MAX_INPUT_LINE });
  let wake: (() => void) | null = null;
  let aborted = false;
  let read: Promise<Uint8Array | typeof OVERLONG | null> | null = null;
  let prompt = "";
  return {
    async readLine(ask?: string) {
      // Without raw mode an incoming line can land mid-typing; the prompt
      // goes to stderr so stdout stays the room's lines.
      const shown = ask ?? prompt;
      if (interactive && shown !== "") Deno.stderr.writeSync(encode(shown));
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
    notice: (text) => console.error(`-- ${text}`),
    setPrompt(text) {
      prompt = text;
    },
    abort() {
      aborted = true;
      wake?.();
    },
  };
}
