/**
 * The table `connect files` prints: the name first, then the size, the
 * modification time and the start of the SHA-256, fitted to the terminal's
 * width; `--long` gives exact sizes and times and the whole digest, as wide
 * as they take.
 */
import { formatBytes } from "../../base/progress.ts";
import { quoteName, showName } from "../names.ts";
import type { FileEntry } from "../protocol.ts";

/** Hex digits of the digest shown by default: enough to tell files apart, like git's and docker's. */
export const SHORT_DIGEST = 12;

/** Options of {@link formatListing}. */
export interface ListingOptions {
  /** Exact byte counts, times to the second and the whole digest. Default false. */
  long?: boolean;
  /** The width to fit (names are what gives way; not with `long`). Default 80. */
  columns?: number;
}

/** Rows the column widths are measured on before the rest streams with them. */
export const LAYOUT_SAMPLE = 1000;

/** Column widths decided from the first rows. */
interface Layout {
  nameWidth: number;
  widths: number[];
}

/**
 * The listing as it arrives: rows are held until LAYOUT_SAMPLE of them fix
 * the columns' widths, then each row is written at once, so a listing of
 * 100,000 files never sits in memory. A later cell wider than its column
 * pushes the row's end out; a name wider than the name column gets a line of
 * its own, the row's other columns under it.
 */
export class ListingWriter {
  #where: string;
  #prefix: string | null;
  #long: boolean;
  #columns: number;
  #write: (text: string) => void;
  #held: FileEntry[] = [];
  #layout: Layout | null = null;
  #count = 0;
  #bytes = 0;

  constructor(
    where: string,
    prefix: string | null,
    options: ListingOptions,
    write: (text: string) => void,
  ) {
    this.#where = where;
    this.#prefix = prefix;
    this.#long = options.long ?? false;
    // --long is for reading it all: as wide as it needs.
    this.#columns = this.#long ? Infinity : options.columns ?? 80;
    this.#write = write;
  }

  /** One more file of the listing. */
  add(file: FileEntry): void {
    this.#count++;
    this.#bytes += file.size;
    if (this.#layout !== null) {
      this.#write(this.#row(file, this.#layout) + "\n");
      return;
    }
    this.#held.push(file);
    if (this.#held.length >= LAYOUT_SAMPLE) this.#settle();
  }

  /** The rows still held and the total line (or the line that says there is nothing). */
  end(): void {
    if (this.#count === 0) {
      const place = this.#prefix === null
        ? this.#where
        : `${quoteName(this.#prefix)} on ${this.#where}`;
      this.#write(`No files in ${place}\n`);
      return;
    }
    if (this.#layout === null) this.#settle();
    const files = `${this.#count} file${this.#count === 1 ? "" : "s"}`;
    this.#write(`${files}, ${formatBytes(this.#bytes)}\n`);
  }

  /** Fixes the widths from the rows held, writes the header and them. */
  #settle(): void {
    const cells = this.#held.map((file) => this.#cells(file));
    const widths = HEADER.map((title, i) =>
      Math.max(title.length, ...cells.map((row) => row[i]!.length))
    );
    const tailWidth = widths.reduce((sum, width) => sum + width + 2, 0);
    const longest = Math.max(0, ...this.#held.map((file) => showName(file.name).length));
    // The name column is as wide as the longest name, or as what the row leaves it.
    const nameWidth = Math.max(4, Math.min(longest, this.#columns - tailWidth));
    const layout = { nameWidth, widths };
    this.#layout = layout;
    this.#write(`${"NAME".padEnd(nameWidth)}  ${tail(HEADER, widths)}\n`);
    for (const file of this.#held) this.#write(this.#row(file, layout) + "\n");
    this.#held = [];
  }

  #cells(file: FileEntry): string[] {
    const long = this.#long;
    return [
      long ? String(file.size) : formatBytes(file.size),
      new Date(file.mtimeMs).toISOString().slice(0, long ? 19 : 16).replace("T", " "),
      file.sha256 === null ? "-" : long ? file.sha256 : file.sha256.slice(0, SHORT_DIGEST),
    ];
  }

  #row(file: FileEntry, { nameWidth, widths }: Layout): string {
    const name = showName(file.name);
    const rest = tail(this.#cells(file), widths);
    return name.length <= nameWidth
      ? `${name.padEnd(nameWidth)}  ${rest}`
      : `${name}\n${" ".repeat(nameWidth)}  ${rest}`;
  }
}

const HEADER = ["SIZE", "MODIFIED (UTC)", "SHA-256"];

/** The columns after the name: the size right-aligned, the others left. */
function tail(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padStart(widths[0]!) : cell.padEnd(widths[i]!)))
    .join("  ").trimEnd();
}

/**
 * The listing of `files`, from `where` (the server), in `prefix` if given,
 * all at once: a header, one row per file and the total.
 */
export function formatListing(
  files: FileEntry[],
  where: string,
  prefix: string | null,
  options: ListingOptions = {},
): string {
  let text = "";
  const writer = new ListingWriter(where, prefix, options, (more) => (text += more));
  for (const file of files) writer.add(file);
  writer.end();
  return text.slice(0, -1);
}
