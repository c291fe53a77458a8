/**
 * Client transfers of one file over a FileSession: upload and download with
 * resume, SHA-256 verification over the whole file, a download that appears
 * under its output name only once complete and verified, a file already
 * there and identical skipped; and the pipe forms (an upload from a reader
 * of unknown length, a download to a writer). Many files are batch.ts.
 */
import { basename, dirname, join } from "node:path";
import { RuntimeError } from "../../base/errors.ts";
import { formatBytes } from "../../base/progress.ts";
import { closeQuietly, isDisconnect, type Reader, type Writer } from "../../base/io.ts";
import { type FileSession, ServerError } from "./file_client.ts";
import { hashPrefix, sha256, sha256Hex } from "../hashing.ts";
import { checkName, quoteName } from "../names.ts";
import { paced, throttleFor } from "../pace.ts";
import {
  CHUNK_SIZE,
  chunkLine,
  digestLine,
  type FileEntry,
  parseDigestLine,
  parseReply,
} from "../protocol.ts";
import { pump, PumpError } from "../pump.ts";
import { readRecord, removeNow, statNow, writeRecord } from "../records.ts";
import { encode } from "../../base/text.ts";
import { concatBytes, writeAll } from "../../base/io.ts";

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

/**
 * Uploads the local file `path` as `name`, resuming an interrupted upload
 * and skipping a file the server already holds with the same SHA-256.
 * `remote`: what the server has under `name` if the caller already knows
 * (null: nothing; undefined: ask). Throws RuntimeError (ServerError for
 * refusals).
 */
export async function uploadFile(
  session: FileSession,
  path: string,
  name: string,
  options: TransferOptions,
  remote?: FileEntry | null,
): Promise<TransferSummary> {
  checkName(name);
  const file = await openLocal(path);
  try {
    const size = (await file.stat()).size;
    const there = remote === undefined ? await statRemote(session, name) : remote;
    if (there !== null && there.size === size && there.sha256 !== null) {
      const began = performance.now();
      if ((await hashFile(file)) === there.sha256) {
        return summary("upload", name, path, size, size, began, there.sha256, true);
      }
      await file.seek(0, Deno.SeekMode.Start);
    }
    for (let attempt = 1;; attempt++) {
      try {
        return await session.transfer(() => uploadOnce(session, file, path, name, size, options));
      } catch (error) {
        // A resumed upload whose server-side prefix differed from ours: the
        // server dropped it, so one fresh attempt is all it takes.
        if (!(error instanceof ResumeMismatch) || attempt > 1) throw unwrap(error);
        options.note?.(
          `The server's partial copy of ${quoteName(name)} did not match; uploading from the start`,
        );
        await file.seek(0, Deno.SeekMode.Start);
      }
    }
  } finally {
    closeQuietly(file);
  }
}

async function uploadOnce(
  session: FileSession,
  file: Deno.FsFile,
  path: string,
  name: string,
  size: number,
  options: TransferOptions,
): Promise<TransferSummary> {
  const client = await session.client();
  let offset: number;
  try {
    offset = await client.put(name, size, options.force);
  } catch (error) {
    throw refusalOf(error);
  }
  const began = performance.now();
  if (offset > 0) {
    options.note?.(
      `Resuming upload of ${quoteName(name)} at byte ${offset} (${formatBytes(offset)}, ${
        percent(offset, size)
      })`,
    );
  }
  const hash = sha256();
  const buffer = new Uint8Array(Math.min(CHUNK_SIZE, Math.max(size, 1)));
  if (!await hashPrefix(file, offset, hash, buffer)) throw changedLocally(path);
  options.onStart?.(offset, size);
  const reply = replyWatch(client.readLine());
  const throttle = throttleFor(options.limitRate);
  let sent = 0;
  let hex = "";
  try {
    sent = await pump(file, client.conn, size - offset, {
      hash,
      stop: () => reply.arrived,
      throttle,
      onProgress: progressOf(options),
    });
    if (!reply.arrived) {
      if (sent < size - offset) throw changedLocally(path);
      hex = hash.digest("hex");
      await client.writeLine(digestLine(hex));
    }
  } catch (error) {
    const cause = error instanceof PumpError ? error.cause : error;
    if (!(error instanceof PumpError && error.side === "write") && !isDisconnect(cause)) {
      client.close(); // settles the pending reply read
      await reply.line;
      throw cause;
    }
    // The connection broke while sending: the server's reply may say why.
  }
  const line = await reply.line;
  if (line instanceof Error) {
    throw new RuntimeError(
      `Upload of ${quoteName(name)} interrupted after ${offset + sent} of ${size} bytes (${
        client.lost(line) instanceof RuntimeError ? "connection lost" : line.message
      }); run the same command again to resume`,
    );
  }
  const parsed = parseReply(line);
  if (!parsed.ok) {
    if (parsed.code === "verify-failed" && offset > 0) throw new ResumeMismatch(parsed.message);
    throw refusal(parsed.code, parsed.message);
  }
  if (parsed.word !== "OK" || parsed.rest !== hex) {
    throw new RuntimeError(
      `Verification failed for ${
        quoteName(name)
      }: the server stored SHA-256 ${parsed.rest}, expected ${hex}`,
    );
  }
  return summary("upload", name, path, size, offset, began, hex);
}

/**
 * Uploads everything `reader` yields until its end as `name`, in chunks (the
 * length is not known in advance). Never resumes: an interrupted stream
 * leaves nothing on the server. Throws RuntimeError (ServerError for
 * refusals, such as too-large once the stream passes --max-file-size).
 */
export async function uploadStream(
  session: FileSession,
  reader: Reader,
  name: string,
  options: TransferOptions,
): Promise<TransferSummary> {
  checkName(name);
  return await session.transfer(() => uploadStreamOnce(session, reader, name, options));
}

async function uploadStreamOnce(
  session: FileSession,
  reader: Reader,
  name: string,
  options: TransferOptions,
): Promise<TransferSummary> {
  const client = await session.client();
  try {
    await client.put(name, null, options.force);
  } catch (error) {
    throw refusalOf(error);
  }
  const began = performance.now();
  options.onStart?.(0, null);
  const reply = replyWatch(client.readLine());
  const throttle = throttleFor(options.limitRate);
  const out = paced(client.conn, throttle);
  const chunk = new Uint8Array(throttle?.chunkSize ?? CHUNK_SIZE);
  const hash = sha256();
  const onBytes = options.onBytes ?? (() => {});
  let size = 0;
  let hex = "";
  try {
    while (!reply.arrived) {
      const n = await readFull(reader, chunk);
      if (n === 0) break;
      const bytes = chunk.subarray(0, n);
      hash.update(bytes);
      await writeAll(out, concatBytes([encode(chunkLine(n) + "\n"), bytes]));
      size += n;
      onBytes(n);
    }
  } catch (error) {
    if (!isDisconnect(error)) {
      client.close(); // an input error: settles the pending reply read
      await reply.line;
      throw error;
    }
    // The connection broke while sending: the server's reply may say why.
  }
  if (!reply.arrived && !client.closed) {
    if (options.beforeCommit && !(await options.beforeCommit())) {
      client.close(); // the server keeps nothing of a stream without its end
      await reply.line;
      throw new RuntimeError(`The upload of ${quoteName(name)} was abandoned`);
    }
    hex = hash.digest("hex");
    try {
      await client.writeLine(`${chunkLine(0)}\n${digestLine(hex)}`);
    } catch {
      // Lost: the reply read says so.
    }
  }
  const line = await reply.line;
  if (line instanceof Error) {
    throw new RuntimeError(
      `Upload of ${quoteName(name)} from standard input interrupted after ${size} bytes (${
        client.lost(line) instanceof RuntimeError ? "connection lost" : line.message
      }); a stream cannot resume, so nothing was kept on the server`,
    );
  }
  const parsed = parseReply(line);
  if (!parsed.ok) throw refusal(parsed.code, parsed.message);
  if (parsed.word !== "OK" || parsed.rest !== hex) {
    throw new RuntimeError(
      `Verification failed for ${
        quoteName(name)
      }: the server stored SHA-256 ${parsed.rest}, expected ${hex}`,
    );
  }
  return summary("upload", name, "-", size, 0, began, hex);
}

/**
 * Downloads `name` to the file `target`, resuming from its hidden part file
 * and skipping a target that is already identical. `remote`: the server's
 * entry if the caller already knows it. Throws RuntimeError.
 */
export async function downloadFile(
  session: FileSession,
  name: string,
  target: string,
  options: TransferOptions,
  remote?: FileEntry,
): Promise<TransferSummary> {
  checkName(name);
  const existing = statNow(target);
  if (existing?.isDirectory) {
    throw new RuntimeError(`Cannot write ${quoteName(target)}: it is a directory`);
  }
  if (existing) {
    const there = remote ?? await statRemote(session, name);
    if (there === null) throw notFound(name);
    if (existing.isFile && existing.size === there.size && there.sha256 !== null) {
      const began = performance.now();
      using local = await Deno.open(target, { read: true });
      if ((await hashFile(local)) === there.sha256) {
        return summary("download", name, target, there.size, there.size, began, there.sha256, true);
      }
    }
    if (!options.force) {
      throw new RuntimeError(`${quoteName(target)} already exists (use --force to replace it)`);
    }
  }
  const parent = statNow(dirname(target) || ".");
  if (!parent?.isDirectory) {
    throw new RuntimeError(
      `Cannot write ${quoteName(target)}: no directory ${quoteName(dirname(target))}`,
    );
  }
  const partial = partialPath(target);
  for (let attempt = 1;; attempt++) {
    try {
      return await session.transfer(() => downloadOnce(session, name, target, partial, options));
    } catch (error) {
      if (!(error instanceof ResumeMismatch) || attempt > 2) throw unwrap(error);
      options.note?.(error.message);
      removeNow(partial.data);
      removeNow(partial.meta);
    }
  }
}

/** What a download in progress records beside its partial file. */
interface PartialRecord {
  name: string;
  size: number;
  mtimeMs: number;
  sha256: string | null;
}

async function downloadOnce(
  session: FileSession,
  name: string,
  target: string,
  partial: { data: string; meta: string },
  options: TransferOptions,
): Promise<TransferSummary> {
  const record = readRecord<PartialRecord>(partial.meta);
  const have = record?.name === name ? sizeOf(partial.data) : 0;
  const client = await session.client();
  let entry: FileEntry;
  try {
    entry = await client.get(name, have);
  } catch (error) {
    if (have > 0 && error instanceof ServerError && error.code === "bad-offset") {
      throw new ResumeMismatch(
        `The partial download of ${quoteName(name)} is longer than the file; starting over`,
      );
    }
    throw refusalOf(error);
  }
  const began = performance.now();
  if (have > 0 && !sameFile(record!, entry)) {
    throw new ResumeMismatch(
      `${quoteName(name)} changed on the server since the interrupted download; starting over`,
    );
  }
  let file: Deno.FsFile;
  if (have > 0) {
    file = await Deno.open(partial.data, { read: true, write: true });
    options.note?.(
      `Resuming download of ${quoteName(name)} at byte ${have} (${formatBytes(have)}, ${
        percent(have, entry.size)
      })`,
    );
  } else {
    writeRecord(
      partial.meta,
      {
        name,
        size: entry.size,
        mtimeMs: entry.mtimeMs,
        sha256: entry.sha256,
      } satisfies PartialRecord,
    );
    file = await Deno.open(partial.data, { read: true, write: true, create: true, truncate: true });
  }
  try {
    const hash = sha256();
    const buffer = new Uint8Array(Math.min(CHUNK_SIZE, Math.max(entry.size, 1)));
    if (!await hashPrefix(file, have, hash, buffer)) {
      throw new ResumeMismatch(`The partial download of ${quoteName(name)} shrank; starting over`);
    }
    options.onStart?.(have, entry.size);
    const length = entry.size - have;
    const throttle = throttleFor(options.limitRate);
    let received: number;
    try {
      received = await pump(client.wire, file, length, {
        hash,
        throttle,
        onProgress: progressOf(options),
      });
    } catch (error) {
      if (!(error instanceof PumpError)) throw error;
      if (error.side === "write") {
        const detail = error.message;
        throw new RuntimeError(`Cannot write ${quoteName(partial.data)}: ${detail}`);
      }
      if (!isDisconnect(error.cause)) throw error.cause;
      received = -1;
    }
    if (received < length) {
      const kept = (await file.stat()).size;
      throw new RuntimeError(
        `Download of ${
          quoteName(name)
        } interrupted (connection lost) with ${kept} of ${entry.size} bytes kept; run the same command again to resume`,
      );
    }
    const trailer = parseReply(await client.readLine());
    if (!trailer.ok) {
      discard(file, partial);
      throw refusal(trailer.code, trailer.message);
    }
    const theirs = parseDigestLine(`${trailer.word} ${trailer.rest}`);
    const ours = hash.digest("hex");
    if (theirs !== ours) {
      discard(file, partial);
      if (have > 0) {
        throw new ResumeMismatch(
          `The resumed download of ${quoteName(name)} did not verify; starting over`,
        );
      }
      throw new RuntimeError(
        `Verification failed for ${quoteName(name)}: received SHA-256 ${ours}, the server sent ${
          theirs ?? "no digest"
        }; nothing was kept`,
      );
    }
    await file.syncData();
    closeQuietly(file);
    Deno.renameSync(partial.data, target);
    removeNow(partial.meta);
    return summary("download", name, target, entry.size, have, began, ours);
  } finally {
    closeQuietly(file);
  }
}

/**
 * Downloads `name` into `writer` (standard output). The digest is checked at
 * the end, when the bytes are already written: a mismatch is an error the
 * caller must heed (the exit code). Never resumes. Throws RuntimeError.
 */
export async function downloadStream(
  session: FileSession,
  name: string,
  writer: Writer,
  options: TransferOptions,
): Promise<TransferSummary> {
  checkName(name);
  return await session.transfer(() => downloadStreamOnce(session, name, writer, options));
}

async function downloadStreamOnce(
  session: FileSession,
  name: string,
  writer: Writer,
  options: TransferOptions,
): Promise<TransferSummary> {
  const client = await session.client();
  let entry: FileEntry;
  try {
    entry = await client.get(name, 0);
  } catch (error) {
    throw refusalOf(error);
  }
  const began = performance.now();
  options.onStart?.(0, entry.size);
  const hash = sha256();
  const throttle = throttleFor(options.limitRate);
  let received: number;
  try {
    received = await pump(client.wire, writer, entry.size, {
      hash,
      throttle,
      onProgress: progressOf(options),
    });
  } catch (error) {
    if (!(error instanceof PumpError)) throw error;
    if (error.side === "write") {
      throw new RuntimeError(`Cannot write to standard output: ${error.message}`);
    }
    if (!isDisconnect(error.cause)) throw error.cause;
    received = -1;
  }
  if (received < entry.size) {
    throw new RuntimeError(
      `Download of ${
        quoteName(name)
      } to standard output interrupted (connection lost); what was written is incomplete`,
    );
  }
  const trailer = parseReply(await client.readLine());
  if (!trailer.ok) throw refusal(trailer.code, trailer.message);
  const theirs = parseDigestLine(`${trailer.word} ${trailer.rest}`);
  const ours = hash.digest("hex");
  if (theirs !== ours) {
    throw new RuntimeError(
      `Verification failed for ${quoteName(name)}: received SHA-256 ${ours}, the server sent ${
        theirs ?? "no digest"
      }; the bytes written to standard output are damaged`,
    );
  }
  return summary("download", name, "-", entry.size, 0, began, ours);
}

/**
 * The hidden temporary file next to the output (same directory, so the final
 * rename is atomic), and its record. Long names get a hashed form.
 */
export function partialPath(target: string): { data: string; meta: string } {
  const base = basename(target);
  const hidden = new TextEncoder().encode(base).length <= 200
    ? `.${base}.socketkit-part`
    : `.socketkit-${sha256Hex(base).slice(0, 16)}.part`;
  const data = join(dirname(target), hidden);
  return { data, meta: data + ".json" };
}

/** What the server holds under `name`, or null. Throws RuntimeError. */
async function statRemote(session: FileSession, name: string): Promise<FileEntry | null> {
  const client = await session.client();
  try {
    return await client.stat(name);
  } catch (error) {
    if (error instanceof ServerError && error.code === "not-found") return null;
    throw refusalOf(error);
  }
}

/** A reply the server may send while we are still sending (a refusal mid-stream). */
function replyWatch(read: Promise<string>): { arrived: boolean; line: Promise<string | Error> } {
  const watch = {
    arrived: false,
    line: read.then(
      (line): string | Error => {
        watch.arrived = true;
        return line;
      },
      (error: unknown) => {
        watch.arrived = true;
        return error instanceof Error ? error : new Error(String(error));
      },
    ),
  };
  return watch;
}

/** Reads until `buffer` is full or the input ends; 0 at the end. */
async function readFull(reader: Reader, buffer: Uint8Array): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const n = await reader.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
    // A pipe hands over what it has: send that rather than wait for more.
    if (filled >= 64 * 1024) break;
  }
  return filled;
}

/** A pump's progress as the bytes each chunk moved, for the progress display. */
function progressOf(options: TransferOptions): (copied: number, moved: number) => void {
  return (_, moved) => options.onBytes?.(moved);
}

/** The hex SHA-256 of a whole local file, read from the start. */
async function hashFile(file: Deno.FsFile): Promise<string> {
  await file.seek(0, Deno.SeekMode.Start);
  const hash = sha256();
  const buffer = new Uint8Array(CHUNK_SIZE);
  while (true) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return hash.digest("hex");
}

function sameFile(record: PartialRecord, entry: FileEntry): boolean {
  return record.size === entry.size && record.mtimeMs === entry.mtimeMs &&
    (record.sha256 === null || entry.sha256 === null || record.sha256 === entry.sha256);
}

/** Raised when resumed bytes turn out not to belong to the file; the caller starts over. */
class ResumeMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ResumeMismatch";
  }
}

function unwrap(error: unknown): unknown {
  return error instanceof ResumeMismatch ? new RuntimeError(error.message) : error;
}

function notFound(name: string): ServerError {
  return new ServerError("not-found", `File ${quoteName(name)} not found`);
}

function refusalOf(error: unknown): unknown {
  return error instanceof ServerError ? refusal(error.code, error.message) : error;
}

/** A server refusal as the user should read it. */
function refusal(code: string, message: string): RuntimeError {
  if (code === "exists") return new ServerError(code, `${message} (use --force to replace it)`);
  if (code === "verify-failed") return new ServerError(code, `Verification failed: ${message}`);
  return new ServerError(code, message);
}

/**
 * Why a local file to upload cannot be read, as the user should read it.
 * Devices and /proc are read only as standard input (Deno grants them only
 * with --allow-all), so that is what the message says to do.
 */
export function localReadError(path: string, error: unknown): RuntimeError {
  if (error instanceof Deno.errors.NotFound) {
    return new RuntimeError(`Cannot read ${quoteName(path)}: no such file`);
  }
  if (error instanceof Deno.errors.NotCapable) {
    return new RuntimeError(
      `Cannot read ${
        quoteName(path)
      }: devices and /proc files are read only as standard input: upload - --name NAME < ${path}`,
    );
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new RuntimeError(`Cannot read ${quoteName(path)}: permission denied`);
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new RuntimeError(`Cannot read ${quoteName(path)}: ${detail}`);
}

/** Opens a local file to upload; see localReadError. */
async function openLocal(path: string): Promise<Deno.FsFile> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    throw localReadError(path, error);
  }
  const info = await file.stat();
  if (!info.isFile) {
    closeQuietly(file);
    throw new RuntimeError(
      `Cannot upload ${
        quoteName(path)
      }: not a regular file (to send a pipe, use: upload - --name NAME)`,
    );
  }
  return file;
}

function changedLocally(path: string): RuntimeError {
  return new RuntimeError(`${quoteName(path)} shrank while being uploaded; nothing was stored`);
}

function discard(file: Deno.FsFile, partial: { data: string; meta: string }): void {
  closeQuietly(file);
  removeNow(partial.data);
  removeNow(partial.meta);
}

function summary(
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

function percent(part: number, whole: number): string {
  return `${whole > 0 ? Math.floor((part / whole) * 100) : 100}%`;
}

function sizeOf(path: string): number {
  const info = statNow(path);
  return info?.isFile ? info.size : 0;
}
