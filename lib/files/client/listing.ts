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

/**
 * The listing of `files`, from `where` (the server), in `prefix` if given:
 * a header, one row per file and the total. A name too long for its column
 * gets a line of its own, the row's other columns then under it.
 */
export function formatListing(
  files: FileEntry[],
  where: string,
  prefix: string | null,
  options: ListingOptions = {},
): string {
  const place = prefix === null ? where : `${quoteName(prefix)} on ${where}`;
  if (files.length === 0) return `No files in ${place}`;
  const long = options.long ?? false;
  // --long is for reading it all: as wide as it needs.
  const columns = long ? Infinity : options.columns ?? 80;
  const rest = files.map((file) => [
    long ? String(file.size) : formatBytes(file.size),
    new Date(file.mtimeMs).toISOString().slice(0, long ? 19 : 16).replace("T", " "),
    file.sha256 === null ? "-" : long ? file.sha256 : file.sha256.slice(0, SHORT_DIGEST),
  ]);
  const header = ["SIZE", "MODIFIED (UTC)", "SHA-256"];
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rest.map((cells) => cells[i]!.length))
  );
  const tail = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padStart(widths[0]!) : cell.padEnd(widths[i]!)))
      .join("  ").trimEnd();
  const names = files.map((file) => showName(file.name));
  const tailWidth = widths.reduce((sum, width) => sum + width + 2, 0);
  // The name column is as wide as the longest name, or as what the row leaves it.
  const nameWidth = Math.max(
    4,
    Math.min(Math.max(...names.map((name) => name.length)), columns - tailWidth),
  );
  const rows = names.map((name, i) =>
    name.length <= nameWidth
      ? `${name.padEnd(nameWidth)}  ${tail(rest[i]!)}`
      : `${name}\n${" ".repeat(nameWidth)}  ${tail(rest[i]!)}`
  );
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const count = `${files.length} file${files.length === 1 ? "" : "s"}, ${formatBytes(total)}`;
  return [`${"NAME".padEnd(nameWidth)}  ${tail(header)}`, ...rows, count].join("\n");
}
