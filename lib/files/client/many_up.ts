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
import { encode } from "../../base/text.ts";
import { BatchInput } from "../batch_input.ts";
import { sha256 } from "../hashing.ts";
import { quoteName } from "../names.ts";
import {
  batchFileLine,
  type FileEntry,
  MAX_BATCH_FILE,
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
  let run: Uint8Array[] = [];
  let runBytes = 0;
  const flush = async () => {
    const joined = new Uint8Array(runBytes);
    let at = 0;
    for (const part of run) {
      joined.set(part, at);
      at += part.length;
    }
    run = [];
    runBytes = 0;
    await writeAll(client.conn, joined);
  };
  try {
    for (const item of items) {
      if (failed !== null) break;
      let bytes: Uint8Array;
      try {
        bytes = Deno.readFileSync(item.path);
      } catch (error) {
        hooks.refused(item.path, item.name, "local", localReadError(item.path, error).message);
        continue;
      }
      if (bytes.length > MAX_BATCH_FILE) {
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
      const line = encode(
        batchFileLine({ size: bytes.length, sha256: hex, name: item.name }) + "\n",
      );
      run.push(line, bytes);
      runBytes += line.length + bytes.length;
      hooks.bytes(bytes.length);
      if (runBytes >= WRITE_RUN) await flush();
    }
    run.push(encode("\n"));
    runBytes += 1;
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

function lost(where: string, answered: number, sent: number): RuntimeError {
  return new RuntimeError(
    `Lost the connection to ${where} with ${sent - answered} files not yet confirmed`,
  );
}
