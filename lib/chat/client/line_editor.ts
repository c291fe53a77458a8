/**
 * The line being typed in the chat client's raw terminal mode: bytes in,
 * submitted lines out, and how to draw it. Pure (no I/O), so it is tested
 * without a terminal. The text is kept as grapheme clusters, so Backspace
 * removes what the user sees as one character, and drawn by display width,
 * so wide characters (CJK, emoji) and combining marks never overrun the row.
 */
import { displayWidth, graphemes, graphemeWidth } from "./width.ts";

/** What a keystroke batch produced. */
export type EditorEvent = { kind: "submit"; text: string } | { kind: "quit" };

// Code points kept for one line; typing past it is ignored (a paste cannot grow memory).
const MAX_CHARS = 16 * 1024;

/** Keystroke handling for one input line. */
export class LineEditor {
  /** Grapheme clusters. */
  #chars: string[] = [];
  /** Code points in #chars. */
  #codePoints = 0;
  #decoder = new TextDecoder("utf-8", { fatal: false });
  // Inside an escape sequence (arrow keys, function keys): skip until its end.
  #escape: "none" | "esc" | "csi" | "ss3" = "none";

  /** The text typed so far. */
  get text(): string {
    return this.#chars.join("");
  }

  /** Feeds raw bytes from the terminal; returns lines submitted and a quit request. */
  feed(bytes: Uint8Array): EditorEvent[] {
    const events: EditorEvent[] = [];
    for (const ch of this.#decoder.decode(bytes, { stream: true })) {
      const event = this.#key(ch);
      if (event) events.push(event);
    }
    return events;
  }

  /**
   * The escape codes that redraw the input row: clear it, then the prompt and
   * as much of the end of the text as fits in `columns`.
   */
  render(prompt: string, columns: number): string {
    const room = Math.max(1, columns - displayWidth(prompt) - 1);
    let start = this.#chars.length;
    let used = 0;
    while (start > 0 && used + graphemeWidth(this.#chars[start - 1]!) <= room) {
      start--;
      used += graphemeWidth(this.#chars[start]!);
    }
    return "\r\x1b[2K" + prompt + this.#chars.slice(start).join("");
  }

  #key(ch: string): EditorEvent | null {
    const code = ch.codePointAt(0)!;
    switch (this.#escape) {
      case "esc":
        this.#escape = ch === "[" ? "csi" : ch === "O" ? "ss3" : "none";
        return null;
      case "csi":
        if (code >= 0x40 && code <= 0x7e) this.#escape = "none";
        return null;
      case "ss3":
        this.#escape = "none";
        return null;
    }
    switch (code) {
      case 0x1b:
        this.#escape = "esc";
        return null;
      case 0x0d: // Enter
      case 0x0a: {
        const text = this.text;
        this.#clear();
        return text.trim() === "" ? null : { kind: "submit", text };
      }
      case 0x03: // Ctrl-C
        return { kind: "quit" };
      case 0x04: // Ctrl-D quits on an empty line, like a shell
        return this.#chars.length === 0 ? { kind: "quit" } : null;
      case 0x7f: // Backspace
      case 0x08:
        this.#pop();
        return null;
      case 0x15: // Ctrl-U: clear the line
        this.#clear();
        return null;
      case 0x17: // Ctrl-W: delete the last word
        while (this.#chars.at(-1) === " ") this.#pop();
        while (this.#chars.length > 0 && this.#chars.at(-1) !== " ") this.#pop();
        return null;
      case 0x09:
        return this.#insert(" ");
    }
    if (code < 0x20 || (code >= 0x80 && code <= 0x9f)) return null;
    return this.#insert(ch);
  }

  #insert(ch: string): null {
    if (this.#codePoints >= MAX_CHARS) return null;
    this.#codePoints++;
    const last = this.#chars.at(-1);
    // A combining mark, a joiner or a variation selector extends the last cluster.
    if (last !== undefined && graphemes(last + ch).length === 1) {
      this.#chars[this.#chars.length - 1] = last + ch;
    } else {
      this.#chars.push(ch);
    }
    return null;
  }

  #pop(): void {
    const last = this.#chars.pop();
    if (last !== undefined) this.#codePoints -= [...last].length;
  }

  #clear(): void {
    this.#chars = [];
    this.#codePoints = 0;
  }
}
