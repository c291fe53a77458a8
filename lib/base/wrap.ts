/**
 * Fitting text to a terminal: the width to write for, and word wrapping that
 * keeps a line's indent (help text, listings).
 */

/** Columns assumed when stdout is not a terminal (a pipe, a file, a pager). */
export const DEFAULT_COLUMNS = 80;

// Narrower than this, wrapping makes text harder to read, not easier.
const MIN_COLUMNS = 40;

/**
 * The width to write stdout for: the terminal's columns when stdout is one,
 * else {@link DEFAULT_COLUMNS}. Some pseudo-terminals report 0 columns; those
 * get the default too.
 */
export function outputColumns(): number {
  try {
    if (!Deno.stdout.isTerminal()) return DEFAULT_COLUMNS;
    const { columns } = Deno.consoleSize();
    return columns > 0 ? Math.max(MIN_COLUMNS, columns) : DEFAULT_COLUMNS;
  } catch {
    return DEFAULT_COLUMNS;
  }
}

/**
 * Breaks `text` (one paragraph, no newlines) at spaces into lines of at most
 * `width` characters; a word longer than that gets a line of its own.
 */
export function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/ +/)) {
    if (word === "") continue;
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines;
}

/**
 * Wraps each line of `text` longer than `width` at spaces; the lines it adds
 * keep the indent of the line they continue (two more for a "- " list item).
 * Lines that fit are left exactly as they are.
 */
export function wrapLines(text: string, width: number): string {
  return text.split("\n").map((line) => {
    if (line.length <= width) return line;
    const indent = line.match(/^ */)![0];
    const hanging = /^ *- /.test(line) ? `${indent}  ` : indent;
    const room = Math.max(MIN_COLUMNS / 2, width - hanging.length);
    const [first, ...rest] = wrapWords(line.slice(indent.length), width - indent.length);
    const continued = wrapWords(rest.join(" "), room);
    return [indent + first, ...(rest.length > 0 ? continued.map((l) => hanging + l) : [])]
      .join("\n");
  }).join("\n");
}
