/**
 * The lines sent in this chat session, for Up and Down in the line editor,
 * as a shell's history: Up from the line being typed keeps it as a draft,
 * Down past the newest line brings the draft back.
 */

/** How many sent lines Up can reach. */
export const HISTORY_SIZE = 200;

/** Sent lines and where Up and Down are among them. */
export class LineHistory {
  #lines: string[] = [];
  /** Index into #lines of the line shown; #lines.length: the draft. */
  #at = 0;
  #draft = "";

  /** Records a sent line (not a repeat of the one before) and goes back to a fresh draft. */
  add(line: string): void {
    if (line !== this.#lines.at(-1)) this.#lines.push(line);
    if (this.#lines.length > HISTORY_SIZE) this.#lines.shift();
    this.#at = this.#lines.length;
    this.#draft = "";
  }

  /** The line before the one shown, or null at the oldest; `current` is kept if it is the draft. */
  previous(current: string): string | null {
    if (this.#at === 0) return null;
    if (this.#at === this.#lines.length) this.#draft = current;
    this.#at--;
    return this.#lines[this.#at]!;
  }

  /** The line after the one shown (the draft after the newest), or null at the draft. */
  next(): string | null {
    if (this.#at >= this.#lines.length) return null;
    this.#at++;
    return this.#at === this.#lines.length ? this.#draft : this.#lines[this.#at]!;
  }
}
