/**
 * How the file client shows what it did: one line per transfer and the
 * total of a batch, or the --json objects (the listing of `connect files` is
 * listing.ts).
 */
import { formatBytes } from "../../base/progress.ts";
import { printable } from "../../base/text.ts";
import { quoteName } from "../names.ts";
import type { FileEntry } from "../protocol.ts";
import type { BatchSummary } from "./batch.ts";
import type { TransferSummary } from "./transfer.ts";

/** A listed file as --json shows it. */
export function toJson(file: FileEntry) {
  return {
    name: file.name,
    size: file.size,
    modified: new Date(file.mtimeMs).toISOString(),
    mtimeMs: file.mtimeMs,
    sha256: file.sha256,
  };
}

/** One file's line: what moved in this run, and the whole when it resumed. */
export function describe(result: TransferSummary): string {
  const upload = result.action === "upload";
  const local = result.path === "-"
    ? (upload ? "standard input" : "standard output")
    : printable(result.path);
  const name = quoteName(result.name);
  if (result.skipped) {
    return upload
      ? `Skipped ${local}: ${name} is already on the server, SHA-256 ${result.sha256}`
      : `Skipped ${name}: ${local} is already the same file, SHA-256 ${result.sha256}`;
  }
  const verb = upload ? "Uploaded" : "Downloaded";
  const where = upload ? `${local} as ${name}` : `${name} to ${local}`;
  const rate = `${formatBytes(result.bytesPerSecond)}/s`;
  const seconds = `${result.seconds.toFixed(2)} s`;
  if (result.resumedFrom > 0) {
    const moved = upload ? "sent" : "received";
    return `${verb} ${where}: ${formatBytes(result.transferred)} ${moved} in ${seconds}, ${rate} ` +
      `(resumed at byte ${result.resumedFrom}; ${formatBytes(result.size)} in all), ` +
      `SHA-256 ${result.sha256}`;
  }
  return `${verb} ${where}: ${formatBytes(result.size)} in ${seconds}, ${rate}, ` +
    `SHA-256 ${result.sha256}`;
}

/** One transfer's line (or object with --json), through `print`. */
export function printResult(result: TransferSummary, json: boolean, print: (line: string) => void) {
  print(json ? JSON.stringify(result) : describe(result));
}

/** One file: its line (or object); a batch: the total (or one object with every file). */
export function printBatch(summary: BatchSummary, batch: boolean, json: boolean): void {
  if (!batch) return printResult(summary.files[0]!, json, console.log);
  if (json) {
    printJsonInSlices(summary);
    return;
  }
  const upload = summary.action === "upload";
  const verb = upload ? "Uploaded" : "Downloaded";
  const count = `${summary.count} file${summary.count === 1 ? "" : "s"}`;
  const skipped = summary.skipped > 0 ? `; ${summary.skipped} already there (skipped)` : "";
  const refused = summary.refused.length > 0 ? `; ${summary.refused.length} refused` : "";
  console.log(
    `${verb} ${count}, ${formatBytes(summary.size)}: ${formatBytes(summary.transferred)} ${
      upload ? "sent" : "received"
    } in ${summary.seconds.toFixed(2)} s, ${
      formatBytes(summary.bytesPerSecond)
    }/s, ${summary.filesPerSecond} files/s${skipped}${refused}`,
  );
}

/** Files per write of a batch's --json object. */
const JSON_SLICE = 1000;

/**
 * The batch's --json object, exactly as JSON.stringify writes it, written a
 * slice of files at a time: one string of 100,000 files (and its copies on
 * the way out) cost hundreds of MB.
 */
function printJsonInSlices(summary: BatchSummary): void {
  const { action, files, ...rest } = summary;
  const encoder = new TextEncoder();
  const write = (text: string) => {
    const bytes = encoder.encode(text);
    for (let done = 0; done < bytes.length;) done += Deno.stdout.writeSync(bytes.subarray(done));
  };
  write(`{"action":${JSON.stringify(action)},"files":[`);
  for (let i = 0; i < files.length; i += JSON_SLICE) {
    const slice = files.slice(i, i + JSON_SLICE).map((file) => JSON.stringify(file)).join(",");
    write(i === 0 ? slice : `,${slice}`);
  }
  write(`],${JSON.stringify(rest).slice(1)}\n`);
}
