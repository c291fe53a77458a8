/**
 * The client's download of one file: to a local file, through a hidden
 * part file beside it that resumes an interrupted run and is renamed into
 * place only once complete and verified (a file already identical is
 * skipped); or to a writer (standard output), checked at the end, never
 * resumed.
 */
import { fsReason } from "../../base/fs_error.ts";
import { basename, dirname, joinPath as join } from "../../base/local_path.ts";
import { RuntimeError } from "../../base/errors.ts";
import { formatBytes } from "../../base/progress.ts";
import { closeQuietly, isDisconnect, type Writer } from "../../base/io.ts";
import { hashPrefix, sha256For, type StreamHash } from "../hashing.ts";
import { sha256Hex } from "../sha256_hex.ts";
import { checkName, quoteName } from "../names.ts";
import { throttleFor } from "../pace.ts";
import { CHUNK_SIZE, type FileEntry, parseDigestLine, parseReply } from "../protocol.ts";
import { pump, PumpError } from "../pump.ts";
import { readRecord, removeNow, statNow, writeRecord } from "../records.ts";
import { type FileClient, type FileSession, ServerError } from "./file_client.ts";
import {
  hashFile,
  notFound,
  percent,
  progressOf,
  refusal,
  refusalOf,
  ResumeMismatch,
  statRemote,
  summary,
  type TransferOptions,
  type TransferSummary,
  unwrap,
} from "./transfer.ts";

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
    const hash = await sha256For(entry.size);
    const buffer = new Uint8Array(Math.min(CHUNK_SIZE, Math.max(entry.size, 1)));
    if (!await hashPrefix(file, have, hash, buffer)) {
      throw new ResumeMismatch(`The partial download of ${quoteName(name)} shrank; starting over`);
    }
    options.onStart?.(have, entry.size);
    const complete = await receiveBytes(
      client,
      file,
      entry.size - have,
      hash,
      options,
      (detail) => new RuntimeError(`Cannot write ${quoteName(partial.data)}: ${detail}`),
    );
    if (!complete) {
      const kept = (await file.stat()).size;
      throw new RuntimeError(
        `Download of ${
          quoteName(name)
        } interrupted (connection lost) with ${kept} of ${entry.size} bytes kept; run the same command again to resume`,
      );
    }
    const theirs = await readTrailer(client, () => discard(file, partial));
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
  return await session.transfer(async () => {
    const client = await session.client();
    let entry: FileEntry;
    try {
      entry = await client.get(name, 0);
    } catch (error) {
      throw refusalOf(error);
    }
    const began = performance.now();
    options.onStart?.(0, entry.size);
    const hash = await sha256For(entry.size);
    const complete = await receiveBytes(
      client,
      writer,
      entry.size,
      hash,
      options,
      (detail) => new RuntimeError(`Cannot write to standard output: ${detail}`),
    );
    if (!complete) {
      throw new RuntimeError(
        `Download of ${
          quoteName(name)
        } to standard output interrupted (connection lost); what was written is incomplete`,
      );
    }
    const theirs = await readTrailer(client);
    const ours = hash.digest("hex");
    if (theirs !== ours) {
      throw new RuntimeError(
        `Verification failed for ${quoteName(name)}: received SHA-256 ${ours}, the server sent ${
          theirs ?? "no digest"
        }; the bytes written to standard output are damaged`,
      );
    }
    return summary("download", name, "-", entry.size, 0, began, ours);
  });
}

/**
 * Receives the `length` bytes of a GET into `writer`, hashing them and paced
 * by --limit-rate; false when the connection broke first. A failed write
 * throws `cannotWrite(detail)`.
 */
async function receiveBytes(
  client: FileClient,
  writer: Writer,
  length: number,
  hash: StreamHash,
  options: TransferOptions,
  cannotWrite: (detail: string) => Error,
): Promise<boolean> {
  try {
    const received = await pump(client.wire, writer, length, {
      hash,
      throttle: throttleFor(options.limitRate),
      onProgress: progressOf(options),
    });
    return received >= length;
  } catch (error) {
    if (!(error instanceof PumpError)) throw error;
    if (error.side === "write") throw cannotWrite(fsReason(error.cause) ?? error.message);
    if (!isDisconnect(error.cause)) throw error.cause;
    return false;
  }
}

/**
 * The digest line after a GET's bytes: the server's SHA-256, or null when
 * the line is not one. An ERR instead is thrown as the server's refusal,
 * after `onRefused` (which discards what was received).
 */
async function readTrailer(client: FileClient, onRefused?: () => void): Promise<string | null> {
  const trailer = parseReply(await client.readLine());
  if (!trailer.ok) {
    onRefused?.();
    throw refusal(trailer.code, trailer.message);
  }
  return parseDigestLine(`${trailer.word} ${trailer.rest}`);
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

function discard(file: Deno.FsFile, partial: { data: string; meta: string }): void {
  closeQuietly(file);
  removeNow(partial.data);
  removeNow(partial.meta);
}

function sizeOf(path: string): number {
  const info = statNow(path);
  return info?.isFile ? info.size : 0;
}
