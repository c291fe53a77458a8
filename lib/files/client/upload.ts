/**
 * The client's upload of one file: a local file with resume and a skip when
 * the server already holds it (same SHA-256), or a stream of unknown length
 * from a reader (standard input), which never resumes. The server may
 * refuse mid-stream; its reply is watched while the bytes go out.
 */
import { fsReason } from "../../base/fs_error.ts";
import { RuntimeError } from "../../base/errors.ts";
import { formatBytes } from "../../base/progress.ts";
import { closeQuietly, concatBytes, isDisconnect, type Reader, writeAll } from "../../base/io.ts";
import { encode } from "../../base/text.ts";
import { hashPrefix, sha256For } from "../hashing.ts";
import { checkName, quoteName } from "../names.ts";
import { paced, throttleFor } from "../pace.ts";
import {
  CHUNK_SIZE,
  chunkLine,
  digestLine,
  type FileEntry,
  parseReply,
  type Reply,
} from "../protocol.ts";
import { pump, PumpError } from "../pump.ts";
import type { FileSession } from "./file_client.ts";
import {
  hashFile,
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
  const hash = await sha256For(size);
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
  checkStored(parsed, name, hex);
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
  return await session.transfer(async () => {
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
    const hash = await sha256For(null); // standard input: its size is not known
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
    checkStored(parsed, name, hex);
    return summary("upload", name, "-", size, 0, began, hex);
  });
}

/** The server's OK after an upload must name the digest we sent. Throws RuntimeError. */
function checkStored(reply: Reply & { ok: true }, name: string, hex: string): void {
  if (reply.word !== "OK" || reply.rest !== hex) {
    throw new RuntimeError(
      `Verification failed for ${
        quoteName(name)
      }: the server stored SHA-256 ${reply.rest}, expected ${hex}`,
    );
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
  const detail = fsReason(error) ?? (error instanceof Error ? error.message : String(error));
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
