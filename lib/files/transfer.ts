/**
 * Client transfers of local files: upload and download with resume, SHA-256
 * verification over the whole file, and a download that appears under its
 * output name only once complete and verified.
 */
import { basename, dirname, join } from "node:path";
import { RuntimeError } from "../base/errors.ts";
import { formatBytes, Progress } from "../base/progress.ts";
import { closeQuietly, isDisconnect } from "../base/io.ts";
import type { ClientSecurity } from "../security/client_settings.ts";
import { FileClient, ServerError } from "./file_client.ts";
import { hashPrefix, sha256, sha256Hex } from "./hashing.ts";
import { nameRefusal, quoteName } from "./names.ts";
import { CHUNK_SIZE, digestLine, type FileEntry, parseDigestLine, parseReply } from "./protocol.ts";
import { pump, PumpError } from "./pump.ts";
import { readJson, removeIfExists, statOrNull, writeJsonAtomic } from "../base/fs.ts";

/** What one finished transfer reports (the --json object). */
export interface TransferSummary {
  action: "upload" | "download";
  name: string;
  /** The local file. */
  path: string;
  size: number;
  /** Bytes sent over the network in this run. */
  transferred: number;
  /** Bytes that were already there from an interrupted run (0: not resumed). */
  resumedFrom: number;
  seconds: number;
  /** transferred / seconds. */
  bytesPerSecond: number;
  sha256: string;
}

/** Where to reach the server, and how to report. */
export interface TransferOptions {
  host: string;
  port: number;
  /** TLS and token settings. */
  security: ClientSecurity;
  /** upload: replace an existing name; download: replace an existing output file. */
  force: boolean;
  /** Notes such as "Resuming ..." (stderr). Default: none. */
  note?: (line: string) => void;
  /** Draw a progress bar on stderr (default: when stderr is a terminal). */
  progress?: boolean;
}

/** Uploads `path` as `name`. Throws RuntimeError (ServerError for refusals). */
export async function uploadFile(
  path: string,
  name: string,
  options: TransferOptions,
): Promise<TransferSummary> {
  checkName(name);
  const file = await openLocal(path);
  try {
    const size = (await file.stat()).size;
    for (let attempt = 1;; attempt++) {
      try {
        return await uploadOnce(file, path, name, size, options);
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
  file: Deno.FsFile,
  path: string,
  name: string,
  size: number,
  options: TransferOptions,
): Promise<TransferSummary> {
  using client = await FileClient.connect(options.host, options.port, options.security);
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
  // The server may refuse mid-stream (disk full): read its reply while sending.
  let replied = false;
  const reply = client.readLine().then(
    (line) => {
      replied = true;
      return line;
    },
    (error: unknown) => {
      replied = true;
      return error instanceof Error ? error : new Error(String(error));
    },
  );
  const progress = new Progress({ label: name, total: size, start: offset, ...bar(options) });
  let sent = 0;
  let hex = "";
  try {
    sent = await pump(file, client.conn, size - offset, {
      hash,
      stop: () => replied,
      onProgress: (copied) => progress.update(offset + copied),
    });
    if (!replied) {
      if (sent < size - offset) throw changedLocally(path);
      hex = hash.digest("hex");
      await client.writeLine(digestLine(hex));
    }
  } catch (error) {
    const cause = error instanceof PumpError ? error.cause : error;
    if (!(error instanceof PumpError && error.side === "write") && !isDisconnect(cause)) {
      client.close(); // settles the pending reply read
      await reply;
      throw cause;
    }
    // The connection broke while sending: the server's reply may say why.
  } finally {
    progress.finish();
  }
  const line = await reply;
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

/** Downloads `name` to `output` (a file path, or a directory to put it in). */
export async function downloadFile(
  name: string,
  output: string,
  options: TransferOptions,
): Promise<TransferSummary> {
  checkName(name);
  const target = await outputPath(output, name, options.force);
  const partial = partialPath(target);
  for (let attempt = 1;; attempt++) {
    try {
      return await downloadOnce(name, target, partial, options);
    } catch (error) {
      if (!(error instanceof ResumeMismatch) || attempt > 2) throw unwrap(error);
      options.note?.(error.message);
      await removeIfExists(partial.data);
      await removeIfExists(partial.meta);
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
  name: string,
  target: string,
  partial: { data: string; meta: string },
  options: TransferOptions,
): Promise<TransferSummary> {
  const record = await readJson<PartialRecord>(partial.meta);
  const have = record?.name === name ? await sizeOf(partial.data) : 0;
  using client = await FileClient.connect(options.host, options.port, options.security);
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
    await writeJsonAtomic(
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
    const length = entry.size - have;
    const progress = new Progress({ label: name, total: entry.size, start: have, ...bar(options) });
    let received: number;
    try {
      received = await pump(client.wire, file, length, {
        hash,
        onProgress: (copied) => progress.update(have + copied),
      });
    } catch (error) {
      if (!(error instanceof PumpError)) throw error;
      if (error.side === "write") {
        const detail = error.message;
        throw new RuntimeError(`Cannot write ${quoteName(partial.data)}: ${detail}`);
      }
      if (!isDisconnect(error.cause)) throw error.cause;
      received = -1;
    } finally {
      progress.finish();
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
      await discard(file, partial);
      throw refusal(trailer.code, trailer.message);
    }
    const theirs = parseDigestLine(`${trailer.word} ${trailer.rest}`);
    const ours = hash.digest("hex");
    if (theirs !== ours) {
      await discard(file, partial);
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
    await Deno.rename(partial.data, target);
    await removeIfExists(partial.meta);
    return summary("download", name, target, entry.size, have, began, ours);
  } finally {
    closeQuietly(file);
  }
}

/** The output file for a download; refuses to replace an existing one without force. */
async function outputPath(output: string, name: string, force: boolean): Promise<string> {
  let target = output;
  const info = await statOrNull(output);
  if (info?.isDirectory) target = join(output, name);
  const existing = target === output ? info : await statOrNull(target);
  if (existing?.isDirectory) {
    throw new RuntimeError(`Cannot write ${quoteName(target)}: it is a directory`);
  }
  if (existing && !force) {
    throw new RuntimeError(`${quoteName(target)} already exists (use --force to replace it)`);
  }
  const parent = await statOrNull(dirname(target) || ".");
  if (!parent?.isDirectory) {
    throw new RuntimeError(
      `Cannot write ${quoteName(target)}: no directory ${quoteName(dirname(target))}`,
    );
  }
  return target;
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

function checkName(name: string): void {
  const why = nameRefusal(name);
  if (why !== null) throw new RuntimeError(`Name ${quoteName(name)} refused: ${why}`);
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

async function openLocal(path: string): Promise<Deno.FsFile> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new RuntimeError(`Cannot read ${quoteName(path)}: no such file`);
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new RuntimeError(`Cannot read ${quoteName(path)}: permission denied`);
    }
    const detail = error instanceof Error ? error.message : String(error);
    throw new RuntimeError(`Cannot read ${quoteName(path)}: ${detail}`);
  }
  const info = await file.stat();
  if (!info.isFile) {
    closeQuietly(file);
    throw new RuntimeError(`Cannot upload ${quoteName(path)}: not a regular file`);
  }
  return file;
}

function changedLocally(path: string): RuntimeError {
  return new RuntimeError(`${quoteName(path)} shrank while being uploaded; nothing was stored`);
}

async function discard(file: Deno.FsFile, partial: { data: string; meta: string }) {
  closeQuietly(file);
  await removeIfExists(partial.data);
  await removeIfExists(partial.meta);
}

function summary(
  action: "upload" | "download",
  name: string,
  path: string,
  size: number,
  resumedFrom: number,
  began: number,
  hex: string,
): TransferSummary {
  const seconds = (performance.now() - began) / 1000;
  const transferred = size - resumedFrom;
  return {
    action,
    name,
    path,
    size,
    transferred,
    resumedFrom,
    seconds: Math.round(seconds * 1000) / 1000,
    bytesPerSecond: seconds > 0 ? Math.round(transferred / seconds) : 0,
    sha256: hex,
  };
}

function bar(options: TransferOptions): { enabled?: boolean } {
  return options.progress === undefined ? {} : { enabled: options.progress };
}

function percent(part: number, whole: number): string {
  return `${whole > 0 ? Math.floor((part / whole) * 100) : 100}%`;
}

async function sizeOf(path: string): Promise<number> {
  const info = await statOrNull(path);
  return info?.isFile ? info.size : 0;
}
