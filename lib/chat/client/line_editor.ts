/**
 * The line being typed in the chat client's raw terminal mode: bytes in,
 * submitted lines out, and how to draw it. Pure (no I/O), so it is tested
 * without a terminal. The text is kept as grapheme clusters, so Backspace
 * removes what the user sees as one character, and drawn by display width,
 * so wide characters (CJK, emoji) and combining marks never overrun the row.
 *
 * The keys are readline's (bash, python): Left/Right, Home/End (Ctrl-A,
 * Ctrl-E), word moves (Alt-B/Alt-F, Ctrl-Left/Right), Backspace and Delete,
 * Ctrl-W (the word before the cursor, up to a space), Alt-Backspace (up to a
 * non-alphanumeric character), Ctrl-U and Ctrl-K (to the start and the end),
 * Up/Down (the lines sent before).
 */
import { LineHistory } from "./line_history.ts";
import { displayWidth, graphemes, graphemeWidth } from "./width.ts";

/** What a keystroke batch produced. */
export type EditorEvent = { kind: "submit"; text: string } | { kind: "quit" };

// Code points kept for one line; typing past it is ignored (a paste cannot grow memory).
const MAX_CHARS = 16 * 1024;

// Parameters and intermediates of one escape sequence; a longer one is not a key.
const MAX_SEQUENCE = 16;

/** Keystroke handling for one input line. */
export class LineEditor {
  /** Grapheme clusters. */
  #chars: string[] = [];
  /** Code points in #chars. */
  #codePoints = 0;
  /** Index in #chars the next character goes before. */
  #cursor = 0;
  /** First cluster drawn: the view scrolls sideways to keep the cursor in it. */
  #start = 0;
  /** Columns from the row's start to the cursor, at the last render (see afterResize). */
  #drawnColumn = 0;
  #history = new LineHistory();
  #decoder = new TextDecoder("utf-8", { fatal: false });
  // Inside an escape sequence (arrow keys, function keys): collect until its end.
  #escape: "none" | "esc" | "csi" | "ss3" = "none";
  #sequence = "";

  /** The text typed so far. */
  get text(): string {
    return this.#chars.join("");
  }

  /** Where the cursor is, in clusters from the start of the text. */
  get cursor(): number {
    return this.#cursor;
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
   * as much of the text around the cursor as fits in `columns`, then put the
   * cursor back where it is in the text.
   */
  render(prompt: string, columns: number): string {
    const room = Math.max(1, columns - displayWidth(prompt) - 1);
    const width = (from: number, to: number) =>
      this.#chars.slice(from, to).reduce((sum, ch) => sum + graphemeWidth(ch), 0);
    if (this.#cursor < this.#start) this.#start = this.#cursor;
    while (width(this.#start, this.#cursor) > room) this.#start++;
    // Use the room on the left when the rest of the text fits (after a delete, a wider terminal).
    while (this.#start > 0 && width(this.#start - 1, this.#chars.length) <= room) this.#start--;
    let end = this.#cursor;
    while (end < this.#chars.length && width(this.#start, end + 1) <= room) end++;
    const back = width(this.#cursor, end);
    this.#drawnColumn = displayWidth(prompt) + width(this.#start, this.#cursor);
    return "\r\x1b[2K" + prompt + this.#chars.slice(this.#start, end).join("") +
      (back > 0 ? `\x1b[${back}D` : "");
  }

  /**
   * The redraw after the terminal's width changed to `columns`: a terminal
   * that reflows its lines (most do) has wrapped an input row wider than the
   * new width onto more rows, with the cursor on the last of them; clearing
   * only that row would leave the start of the old prompt above it. So the
   * cursor goes up to where the row now starts and everything below it is
   * cleared first.
   */
  afterResize(prompt: string, columns: number): string {
    const rows = columns > 0 ? Math.floor(this.#drawnColumn / columns) : 0;
    return (rows > 0 ? `\x1b[${rows}A` : "") + "\r\x1b[J" + this.render(prompt, columns);
  }

  #key(ch: string): EditorEvent | null {
    const code = ch.codePointAt(0)!;
    switch (this.#escape) {
      case "esc":
        return this.#afterEscape(ch);
      case "csi":
        // Parameters and intermediates (0x20-0x3f) until the final byte.
        if (code >= 0x40 && code <= 0x7e) {
          this.#escape = "none";
          this.#csi(this.#sequence, ch);
        } else if (code < 0x20 || code > 0x3f || this.#sequence.length >= MAX_SEQUENCE) {
          this.#escape = "none";
        } else {
          this.#sequence += ch;
        }
        return null;
      case "ss3":
        this.#escape = "none";
        this.#csi("", ch);
        return null;
    }
    switch (code) {
      case 0x1b:
        this.#escape = "esc";
        return null;
      case 0x0d: // Enter
      case 0x0a: {
        const text = this.text;
        this.#set("");
        if (text.trim() === "") return null;
        this.#history.add(text);
        return { kind: "submit", text };
      }
      case 0x03: // Ctrl-C
        return { kind: "quit" };
      case 0x04: // Ctrl-D quits on an empty line, like a shell; else it deletes forward
        if (this.#chars.length === 0) return { kind: "quit" };
        this.#delete(this.#cursor, this.#cursor + 1);
        return null;
      case 0x7f: // Backspace
      case 0x08:
        this.#delete(this.#cursor - 1, this.#cursor);
        return null;
      case 0x01: // Ctrl-A
        this.#cursor = 0;
        return null;
      case 0x05: // Ctrl-E
        this.#cursor = this.#chars.length;
        return null;
      case 0x02: // Ctrl-B
        this.#cursor = Math.max(0, this.#cursor - 1);
        return null;
      case 0x06: // Ctrl-F
        this.#cursor = Math.min(this.#chars.length, this.#cursor + 1);
        return null;
      case 0x15: // Ctrl-U: delete to the start of the line
        this.#delete(0, this.#cursor);
        return null;
      case 0x0b: // Ctrl-K: delete to the end of the line
        this.#delete(this.#cursor, this.#chars.length);
        return null;
      case 0x17: // Ctrl-W: the word before the cursor, up to a space
        this.#delete(this.#wordStart(isSpace), this.#cursor);
        return null;
      case 0x09:
        return this.#insert(" ");
    }
    if (code < 0x20 || (code >= 0x80 && code <= 0x9f)) return null;
    return this.#insert(ch);
  }

  /** The key after ESC: a sequence's start, or an Alt key (the terminal sends ESC first). */
  #afterEscape(ch: string): null {
    this.#escape = "none";
    this.#sequence = "";
    switch (ch) {
      case "[":
        this.#escape = "csi";
        break;
      case "O":
        this.#escape = "ss3";
        break;
      case "\x7f": // Alt-Backspace: the word before the cursor, up to a non-alphanumeric
      case "\x08":
        this.#delete(this.#wordStart(isNotAlphanumeric), this.#cursor);
        break;
      case "b": // Alt-B, Alt-F: a word left, right
        this.#cursor = this.#wordStart(isNotAlphanumeric);
        break;
      case "f":
        this.#cursor = this.#wordEnd();
        break;
    }
    return null;
  }

  /** A CSI (ESC [) or SS3 (ESC O) key: `params` then `final`, e.g. "1;5" "D" for Ctrl-Left. */
  #csi(params: string, final: string): void {
    const modified = params.includes(";"); // Ctrl-Left, Alt-Left...: by words
    switch (final) {
      case "D":
        this.#cursor = modified
          ? this.#wordStart(isNotAlphanumeric)
          : Math.max(0, this.#cursor - 1);
        return;
      case "C":
        this.#cursor = modified ? this.#wordEnd() : Math.min(this.#chars.length, this.#cursor + 1);
        return;
      case "H":
        this.#cursor = 0;
        return;
      case "F":
        this.#cursor = this.#chars.length;
        return;
      case "A": {
        const line = this.#history.previous(this.text);
        if (line !== null) this.#set(line);
        return;
      }
      case "B": {
        const line = this.#history.next();
        if (line !== null) this.#set(line);
        return;
      }
      case "~": // VT keys: 1 and 7 Home, 4 and 8 End, 3 Delete
        switch (params.split(";")[0]) {
          case "1":
          case "7":
            this.#cursor = 0;
            return;
          case "4":
          case "8":
            this.#cursor = this.#chars.length;
            return;
          case "3":
            this.#delete(this.#cursor, this.#cursor + 1);
            return;
        }
    }
  }

  /** Where the word before the cursor starts: skip separators, then non-separators. */
  #wordStart(separator: (ch: string) => boolean): number {
    let at = this.#cursor;
    while (at > 0 && separator(this.#chars[at - 1]!)) at--;
    while (at > 0 && !separator(this.#chars[at - 1]!)) at--;
    return at;
  }

  /** Where the word after the cursor ends. */
  #wordEnd(): number {
    let at = this.#cursor;
    while (at < this.#chars.length && isNotAlphanumeric(this.#chars[at]!)) at++;
    while (at < this.#chars.length && !isNotAlphanumeric(this.#chars[at]!)) at++;
    return at;
  }

  #insert(ch: string): null {
    if (this.#codePoints >= MAX_CHARS) return null;
    this.#codePoints++;
    const before = this.#chars[this.#cursor - 1];
    // A combining mark, a joiner or a variation selector extends the cluster before it.
    if (before !== undefined && graphemes(before + ch).length === 1) {
      this.#chars[this.#cursor - 1] = before + ch;
    } else {
      this.#chars.splice(this.#cursor, 0, ch);
      this.#cursor++;
    }
    return null;
  }

  /** Deletes the clusters from `from` to `to` (clamped to the text); the cursor stays before them. */
  #delete(from: number, to: number): void {
    const start = Math.max(0, from);
    const end = Math.min(this.#chars.length, to);
    if (end <= start) return;
    for (const gone of this.#chars.splice(start, end - start)) this.#codePoints -= [...gone].length;
    if (this.#cursor > end) this.#cursor -= end - start;
    else if (this.#cursor > start) this.#cursor = start;
  }

  /** Replaces the text (a history line, or nothing after Enter), the cursor at its end. */
  #set(text: string): void {
    this.#chars = graphemes(text);
    this.#codePoints = [...text].length;
    this.#cursor = this.#chars.length;
  }
}

function isSpace(ch: string): boolean {
  return ch === " ";
}

function isNotAlphanumeric(ch: string): boolean {
  return !/[\p{L}\p{N}]/u.test(ch);
}
