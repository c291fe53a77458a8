/**
 * What a client transfer of one file is told and reports, and what the
 * upload and the download share: asking the server what it holds, the
 * wording of its refusals, a resume that turned out wrong, the summary.
 * The transfers themselves are upload.ts and download.ts; many files,
 * batch.ts.
 */
import { RuntimeError } from "../../base/errors.ts";
import { type FileSession, ServerError } from "./file_client.ts";
import { sha256For } from "../hashing.ts";
import { quoteName } from "../names.ts";
import { CHUNK_SIZE, type FileEntry } from "../protocol.ts";

/** What one finished transfer reports (the --json object of one file). */
export interface TransferSummary {
  action: "upload" | "download";
  name: string;
  /** The local file; "-" for standard input or output. */
  path: string;
  size: number;
  /** Bytes that crossed the network in this run. */
  transferred: number;
  /** Bytes that were already there from an interrupted run (0: not resumed). */
  resumedFrom: number;
  /** Already there and identical (same size and SHA-256): nothing moved. */
  skipped: boolean;
  seconds: number;
  /** transferred / seconds. */
  bytesPerSecond: number;
  sha256: string;
}

/** How to transfer, and how to report. */
export interface TransferOptions {
  /** upload: replace an existing name; download: replace an existing output file. */
  force: boolean;
  /** Bytes per second at most (--limit-rate); 0: no limit. */
  limitRate: number;
  /** Notes such as "Resuming ..." (stderr). Default: none. */
  note?: (line: string) => void;
  /**
   * Called once the bytes start to flow, with the bytes already there
   * (resumed) and the whole size (null: a stream of unknown length).
   */
  onStart?: (resumedFrom: number, size: number | null) => void;
  /** Called as bytes move, with how many moved since the last call. */
  onBytes?: (bytes: number) => void;
  /**
   * A streamed upload asks this at the end of its input, before telling the
   * server the file is complete: false abandons it (the input ended because
   * the user pressed Ctrl-C, which also killed the command writing into it).
   */
  beforeCommit?: () => Promise<boolean>;
}

/** What a pipelined transfer of many files (many_up.ts, many_down.ts) reports as it goes. */
export interface ManyHooks {
  /** A file is done: stored and durable on the other side, or already there (`skipped`). */
  done(path: string, name: string, size: number, sha256: string, skipped: boolean): void;
  /** A file was refused (`code` from the server, or "local"); the rest go on. */
  refused(path: string, name: string, code: string, message: string): void;
  /** Bytes sent or received. */
  bytes(count: number): void;
}

/** What the server holds under `name`, or null. Throws RuntimeError. */
export async function statRemote(session: FileSession, name: string): Promise<FileEntry | null> {
  const client = await session.client();
  try {
    return await client.stat(name);
  } catch (error) {
    if (error instanceof ServerError && error.code === "not-found") return null;
    throw refusalOf(error);
  }
}

/** A pump's progress as the bytes each chunk moved, for the progress display. */
export function progressOf(options: TransferOptions): (copied: number, moved: number) => void {
  return (_, moved) => options.onBytes?.(moved);
}

/** The hex SHA-256 of a whole local file, read from the start. */
export async function hashFile(file: Deno.FsFile): Promise<string> {
  await file.seek(0, Deno.SeekMode.Start);
  const hash = await sha256For((await file.stat()).size);
  const buffer = new Uint8Array(CHUNK_SIZE);
  while (true) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return hash.digest("hex");
}

/** Raised when resumed bytes turn out not to belong to the file; the caller starts over. */
export class ResumeMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ResumeMismatch";
  }
}

export function unwrap(error: unknown): unknown {
  return error instanceof ResumeMismatch ? new RuntimeError(error.message) : error;
}

export function notFound(name: string): ServerError {
  return new ServerError("not-found", `File ${quoteName(name)} not found`);
}

export function refusalOf(error: unknown): unknown {
  return error instanceof ServerError ? refusal(error.code, error.message) : error;
}

/** A server refusal as the user should read it. */
export function refusal(code: string, message: string): RuntimeError {
  if (code === "exists") return new ServerError(code, `${message} (use --force to replace it)`);
  if (code === "verify-failed") return new ServerError(code, `Verification failed: ${message}`);
  return new ServerError(code, message);
}

export function summary(
  action: "upload" | "download",
  name: string,
  path: string,
  size: number,
  resumedFrom: number,
  began: number,
  hex: string,
  skipped = false,
): TransferSummary {
  const seconds = (performance.now() - began) / 1000;
  const transferred = size - resumedFrom;
  return {
    action,
    name,
    path,
    size,
    transferred,
    resumedFrom: skipped ? 0 : resumedFrom,
    skipped,
    seconds: Math.round(seconds * 1000) / 1000,
    bytesPerSecond: seconds > 0 ? Math.round(transferred / seconds) : 0,
    sha256: hex,
  };
}

export function percent(part: number, whole: number): string {
  return `${whole > 0 ? Math.floor((part / whole) * 100) : 100}%`;
}
