/**
 * The client's pipelined upload of many small files (`PUTS`): each file is
 * read and hashed synchronously and appended to a run of about 256 KiB
 * that is written in one call, without waiting for the server's answers,
 * which a second task reads as they come (one per file, in order, sent once
 * the server has made its group durable). Files the server already holds
 * with the same size and SHA-256 are not sent; a refused file is reported
 * and the rest go on.
 */
import { RuntimeError } from "../../base/errors.ts";
import { writeAll } from "../../base/io.ts";
import { BatchInput } from "../batch_input.ts";
import { sha256 } from "../hashing.ts";
import { quoteName } from "../names.ts";
import {
  batchFileLine,
  type FileEntry,
  MAX_BATCH_FILE,
  MAX_LINE,
  parseEndLine,
  parseReply,
  request,
} from "../protocol.ts";
import type { FileSession } from "./file_client.ts";
import { type ManyHooks, refusal } from "./transfer.ts";
import { localReadError } from "./upload.ts";

/** Bytes of files gathered before one write to the socket. */
const WRITE_RUN = 256 * 1024;

/** A local file of a pipelined upload. */
export interface ManyUpItem {
  path: string;
  name: string;
  size: number;
}

interface InFlight {
  item: ManyUpItem;
  sha256: string;
  size: number;
}

/**
 * Uploads `items` (each at most MAX_BATCH_FILE) in one `PUTS`. `remote`:
 * what the server holds under those names (from a listing). Throws
 * RuntimeError when the connection is lost (what was acknowledged stays).
 */
export async function uploadMany(
  session: FileSession,
  items: ManyUpItem[],
  remote: Map<string, FileEntry>,
  force: boolean,
  hooks: ManyHooks,
): Promise<void> {
  const client = await session.client();
  await client.writeLine(request.puts(force));
  const ready = await client.readReply().catch((error) => {
    throw error instanceof RuntimeError && "code" in error
      ? refusal(String(error.code), error.message)
      : error;
  });
  if (ready.word !== "READY") {
    throw new RuntimeError(`Unexpected reply to PUTS from ${client.where}: ${ready.word}`);
  }
  const inFlight: InFlight[] = [];
  let head = 0;
  let sentAll = false;
  const input = new BatchInput(client.wire);
  const answers = (async () => {
    while (true) {
      const line = input.line();
      if (line === null) {
        if (!(await input.fill())) throw lost(client.where, head, inFlight.length);
        continue;
      }
      const end = parseEndLine(line);
      if (end !== null && sentAll && head === inFlight.length) return;
      const file = inFlight[head];
      const reply = parseReply(line);
      if (file === undefined) {
        if (!reply.ok) throw refusal(reply.code, reply.message); // the whole batch refused
        throw new RuntimeError(`Unexpected reply to PUTS from ${client.where}: ${line}`);
      }
      head++;
      if (!reply.ok) {
        hooks.refused(file.item.path, file.item.name, reply.code, reply.message);
      } else if (reply.word !== "OK" || reply.rest !== file.sha256) {
        hooks.refused(
          file.item.path,
          file.item.name,
          "verify-failed",
          `the server stored SHA-256 ${reply.rest} for ${
            quoteName(file.item.name)
          }, expected ${file.sha256}`,
        );
      } else {
        hooks.done(file.item.path, file.item.name, file.size, file.sha256, false);
      }
      if (head % 64 === 0) inFlight.fill(undefined as unknown as InFlight, 0, head); // free memory
    }
  })();
  // If the answers end first (the connection broke), stop sending too.
  let failed: unknown = null;
  answers.catch((error) => {
    failed = error;
    client.close();
  });
  // One buffer for the run and one for the file being read, reused for every
  // file: a buffer per file (readFileSync) is freed only when the GC gets to
  // it, which for 100,000 files was hundreds of MB of RSS.
  const run = new Uint8Array(WRITE_RUN + MAX_LINE + 1);
  let runBytes = 0;
  let scratch = new Uint8Array(64 * 1024);
  const flush = async () => {
    if (runBytes > 0) await writeAll(client.conn, run.subarray(0, runBytes));
    runBytes = 0;
  };
  /** Appends to the run, writing it out whenever it is full. */
  const append = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) {
      const n = Math.min(bytes.length - at, run.length - runBytes);
      run.set(bytes.subarray(at, at + n), runBytes);
      runBytes += n;
      at += n;
      if (runBytes === run.length) await flush();
    }
  };
  try {
    for (const item of items) {
      if (failed !== null) break;
      if (item.size > MAX_BATCH_FILE) {
        hooks.refused(
          item.path,
          item.name,
          "local",
          `${quoteName(item.path)} is too big to go pipelined`,
        );
        continue;
      }
      let bytes: Uint8Array;
      try {
        if (scratch.length <= item.size) scratch = new Uint8Array(item.size + 1);
        bytes = readInto(item.path, scratch);
      } catch (error) {
        hooks.refused(item.path, item.name, "local", localReadError(item.path, error).message);
        continue;
      }
      if (bytes.length > item.size) {
        hooks.refused(
          item.path,
          item.name,
          "local",
          `${quoteName(item.path)} grew while being read`,
        );
        continue;
      }
      const hex = sha256().update(bytes).digest("hex");
      const there = remote.get(item.name);
      if (there !== undefined && there.size === bytes.length && there.sha256 === hex) {
        hooks.done(item.path, item.name, bytes.length, hex, true);
        continue;
      }
      inFlight.push({ item, sha256: hex, size: bytes.length });
      const line = batchFileLine({ size: bytes.length, sha256: hex, name: item.name }) + "\n";
      if (runBytes + line.length * 3 > run.length) await flush();
      runBytes += encoder.encodeInto(line, run.subarray(runBytes)).written;
      await append(bytes);
      hooks.bytes(bytes.length);
      if (runBytes >= WRITE_RUN) await flush();
    }
    run[runBytes++] = 10; // the empty line: no more files
    sentAll = true;
    await flush();
  } catch (error) {
    if (failed === null) {
      client.close();
      await answers.catch(() => {});
      throw client.lost(error);
    }
  }
  await answers;
}

const encoder = new TextEncoder();

/**
 * Reads the whole file at `path` into `buffer` (at most its length): a view
 * of what was read. Longer than expected shows as a full buffer.
 */
function readInto(path: string, buffer: Uint8Array): Uint8Array {
  using file = Deno.openSync(path, { read: true });
  let filled = 0;
  while (filled < buffer.length) {
    const n = file.readSync(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return buffer.subarray(0, filled);
}

function lost(where: string, answered: number, sent: number): RuntimeError {
  return new RuntimeError(
    `Lost the connection to ${where} with ${sent - answered} files not yet confirmed`,
  );
}
