/**
 * The chat client's terminal UI: raw mode so an incoming line never garbles
 * the one being typed. Each incoming line clears the input row, prints, and
 * redraws the prompt with the typed text. Raw mode is restored on every way
 * out (return, throw, process exit); the client turns SIGTERM and SIGHUP into
 * abort(), so they leave through the same path.
 */
import { encode } from "../../base/text.ts";
import type { Console } from "./console.ts";
import { type EditorEvent, LineEditor } from "./line_editor.ts";

/** Input and output of an interactive chat on a terminal. */
export class TerminalUi implements Console, Disposable {
  #editor = new LineEditor();
  #prompt = "";
  #buffer = new Uint8Array(1024);
  #pending: EditorEvent[] = [];
  #read: Promise<number | null> | null = null;
  #aborted = false;
  #wake: (() => void) | null = null;
  #restored = false;
  #onUnload = () => this.#restore();
  // A resize redraws the input row, clearing what the terminal's reflow left of it.
  #onResize = () => this.#write(this.#editor.afterResize(this.#prompt, columns()));
  #resizeListened = false;

  /** Switches stdin to raw mode; dispose (or `using`) restores it. */
  constructor() {
    Deno.stdin.setRaw(true);
    globalThis.addEventListener("unload", this.#onUnload);
    try {
      Deno.addSignalListener("SIGWINCH", this.#onResize);
      this.#resizeListened = true;
    } catch {
      // No SIGWINCH (Windows): the next keystroke or line redraws at the new width.
    }
  }

  /** Sets the prompt drawn before the typed text and redraws. */
  setPrompt(prompt: string): void {
    this.#prompt = prompt;
    this.#write(this.#render());
  }

  /**
   * Prints a line above the input row, keeping what is being typed;
   * `highlight` shows it in reverse video (a mention), `bell` rings once.
   */
  print(line: string, highlight = false, bell = false): void {
    const shown = highlight ? `\x1b[7m${line}\x1b[27m` : line;
    this.#write("\r\x1b[2K" + shown + "\r\n" + (bell ? "\x07" : "") + this.#render());
  }

  /** The client's own word (reconnecting...), set apart from the server's lines. */
  notice(text: string): void {
    this.print(`-- ${text}`);
  }

  /** The next submitted line, or null on Ctrl-C, Ctrl-D, end of input or abort(). */
  async readLine(): Promise<string | null> {
    while (true) {
      const event = this.#pending.shift();
      if (event) return event.kind === "submit" ? event.text : null;
      if (this.#aborted) return null;
      // A read cannot be cancelled: one interrupted by abort() stays pending
      // and serves the next call, so no keystroke is lost.
      this.#read ??= Deno.stdin.read(this.#buffer);
      const n = await Promise.race([
        this.#read,
        new Promise<"woken">((resolve) => (this.#wake = () => resolve("woken"))),
      ]);
      this.#wake = null;
      if (n === "woken") continue;
      this.#read = null;
      if (n === null) return null;
      this.#pending.push(...this.#editor.feed(this.#buffer.subarray(0, n)));
      this.#write(this.#render());
    }
  }

  /** Makes readLine return null (a signal, the server going away). */
  abort(): void {
    this.#aborted = true;
    this.#wake?.();
  }

  /** Restores the terminal. */
  [Symbol.dispose](): void {
    this.#write("\r\x1b[2K");
    this.#restore();
    globalThis.removeEventListener("unload", this.#onUnload);
    if (this.#resizeListened) Deno.removeSignalListener("SIGWINCH", this.#onResize);
  }

  #render(): string {
    return this.#editor.render(this.#prompt, columns());
  }

  #restore(): void {
    if (this.#restored) return;
    this.#restored = true;
    try {
      Deno.stdin.setRaw(false);
    } catch {
      // stdin is no longer a terminal (closed); nothing to restore.
    }
  }

  // Synchronous: a terminal takes small writes at once, and ordering is then trivial.
  #write(text: string): void {
    const bytes = encode(text);
    for (let written = 0; written < bytes.length;) {
      written += Deno.stdout.writeSync(bytes.subarray(written));
    }
  }
}

// Some pseudo-terminals report 0 columns; assume a classic 80 then.
function columns(): number {
  try {
    const { columns } = Deno.consoleSize();
    return columns >= 20 ? columns : 80;
  } catch {
    return 80;
  }
}
