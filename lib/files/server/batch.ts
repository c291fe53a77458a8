/**
 * The pipelined requests on the server: `PUTS` (many files up) and `GETS`
 * (many files down), see protocol.ts and docs/files.md. Files are taken
 * from the input buffer and handled synchronously, one await per read or
 * write of the socket; uploads are acknowledged per group once durable
 * (group.ts), downloads are written back to back in large writes.
 */
import { isDisconnect, type Reader, writeAll, type Writer } from "../../base/io.ts";
import type { Logger } from "../../base/logger.ts";
import { encode } from "../../base/text.ts";
import { BatchInput } from "../batch_input.ts";
import { sha256 } from "../hashing.ts";
import { canonicalName, quoteName } from "../names.ts";
import {
  describeFile,
  digestLine,
  endLine,
  errorLine,
  FILE_LABEL,
  MAX_BATCH_FILE,
  parseBatchFileLine,
} from "../protocol.ts";
import type { FileCounters } from "../status.ts";
import type { GroupResult } from "./group.ts";
import { FileRefusal, lineRefusal } from "./refusals.ts";
import type { FileStore } from "./store.ts";

/** A group waiting for more input is committed after this long without it. */
const IDLE_COMMIT_MS = 5;

/** Downloads are written in runs of about this many bytes. */
const WRITE_RUN = 256 * 1024;

/** Files of `GETS` at most this big are read whole and synchronously; bigger ones stream. */
const SMALL_SEND = 1024 * 1024;

/** What the pipelined requests need of their connection. */
export interface BatchChannel {
  /** The connection's reader (what it buffered first). */
  wire: Reader;
  out: Writer;
  peer: string;
  store: FileStore;
  log: Logger;
  counters: Pick<FileCounters, "bytesUploaded" | "bytesDownloaded">;
  /** Sends one file as GET 0 would (the streaming path); false when the connection broke. */
  sendFile(name: string): Promise<boolean>;
}

/**
 * `PUTS`: READY, then files until an empty line, each answered in order
 * once its group is durable; then END. False when the connection cannot
 * carry another request.
 */
export async function receiveBatch(channel: BatchChannel, force: boolean): Promise<boolean> {
  const { store, log, out, peer, counters } = channel;
  await writeAll(out, encode("READY\n"));
  const input = new BatchInput(channel.wire);
  const group = store.uploadGroup();
  let stored = 0;
  let refused = 0;
  let bytes = 0;
  // A group is made durable while the next one arrives: its commit runs in
  // the background, answers are written in order, at most two commits at once.
  let answered: Promise<void> = Promise.resolve();
  let inFlight = 0;
  let failure: unknown = null;
  const writeAnswers = async (results: GroupResult[]) => {
    for (const result of results) {
      if (result.ok) stored++;
      else {
        refused++;
        log.event(
          `${FILE_LABEL} Refused ${quoteName(result.name)} from ${peer}: ${result.error.message}`,
        );
      }
    }
    if (results.length > 0) await writeAll(out, encode(results.map(answer).join("\n") + "\n"));
  };
  const commit = async () => {
    if (group.length === 0) return;
    if (inFlight >= 2) await answered;
    if (failure !== null) throw failure;
    const results = group.commit(); // takes the group's files now
    inFlight++;
    const previous = answered;
    answered = (async () => {
      try {
        const done = await results;
        await previous;
        await writeAnswers(done);
      } catch (error) {
        failure ??= error;
      } finally {
        inFlight--;
      }
    })();
  };
  /** Every commit started has answered. */
  const settled = async () => {
    await answered;
    if (failure !== null) throw failure;
  };
  log.event(`${FILE_LABEL} Receiving files from ${peer} (pipelined)`);
  let pending: { size: number; sha256: string; name: string } | null = null;
  try {
    while (true) {
      let need = 0;
      // Everything complete in the buffer, without awaiting.
      while (true) {
        if (pending === null) {
          const line = input.line();
          if (line === null) break;
          if (line === "") {
            await commit();
            await settled();
            await writeAll(out, encode(endLine(stored + refused) + "\n"));
            log.event(
              `${FILE_LABEL} Stored ${stored} files (${bytes} bytes) from ${peer}, ${refused} refused`,
            );
            return true;
          }
          pending = parseBatchFileLine(line);
          if (pending === null) {
            await commit();
            await settled();
            await writeAll(
              out,
              encode(
                errorLine(
                  "bad-request",
                  `Expected "<size> <sha256> <name>" (size at most ${MAX_BATCH_FILE}) or an empty line`,
                ) + "\n",
              ),
            );
            return false;
          }
        }
        const data = input.bytes(pending.size);
        if (data === null) {
          need = pending.size;
          break;
        }
        group.add(pending.name, pending.sha256, data, force);
        counters.bytesUploaded += pending.size;
        bytes += pending.size;
        pending = null;
        if (group.full) await commit();
      }
      const more = input.fill(need).then((ok) => ({ ok }), (error: unknown) => ({ error }));
      if (group.length > 0) {
        // The client may be waiting for these answers: commit when the input pauses.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const idle = new Promise<"idle">((resolve) =>
          timer = setTimeout(resolve, IDLE_COMMIT_MS, "idle")
        );
        const first = await Promise.race([more, idle]);
        clearTimeout(timer);
        if (first === "idle") await commit();
      }
      const read = await more;
      if ("error" in read) throw read.error;
      if (!read.ok) {
        group.abandon();
        await answered; // what was already durable is visible; the answers may not arrive
        log.event(
          `${FILE_LABEL} ${peer} went away during a pipelined upload; ${stored} files were stored`,
        );
        return false;
      }
    }
  } catch (error) {
    group.abandon();
    await answered;
    if (isDisconnect(error)) {
      log.event(
        `${FILE_LABEL} ${peer} went away during a pipelined upload; ${stored} files were stored`,
      );
      return false;
    }
    const refusal = lineRefusal(error, "A file line of PUTS");
    if (refusal === null) throw error;
    await writeAll(out, encode(errorLine(refusal.code, refusal.message) + "\n")).catch(() => {});
    return false;
  }
}

function answer(result: GroupResult): string {
  return result.ok ? `OK ${result.sha256}` : errorLine(result.error.code, result.error.message);
}

/**
 * `GETS`: READY, then the names until an empty line, each answered in
 * order as `GET 0 <name>` would be; then END. False when the connection
 * cannot carry another request.
 */
export async function sendBatch(channel: BatchChannel): Promise<boolean> {
  const { store, log, out, peer, counters } = channel;
  await writeAll(out, encode("READY\n"));
  const input = new BatchInput(channel.wire);
  let run: Uint8Array[] = [];
  let runBytes = 0;
  const push = (bytes: Uint8Array) => {
    run.push(bytes);
    runBytes += bytes.length;
  };
  const flush = async () => {
    if (runBytes === 0) return;
    const joined = new Uint8Array(runBytes);
    let at = 0;
    for (const part of run) {
      joined.set(part, at);
      at += part.length;
    }
    run = [];
    runBytes = 0;
    await writeAll(out, joined);
  };
  let count = 0;
  let sent = 0;
  log.event(`${FILE_LABEL} Sending files to ${peer} (pipelined)`);
  try {
    while (true) {
      const line = input.line();
      if (line === null) {
        await flush(); // the client may wait for these before it sends more names
        if (!(await input.fill())) return false;
        continue;
      }
      if (line === "") {
        push(encode(endLine(count) + "\n"));
        await flush();
        log.event(`${FILE_LABEL} Sent ${sent} of ${count} files to ${peer} (pipelined)`);
        return true;
      }
      count++;
      const name = canonicalName(line);
      let small: ReturnType<FileStore["readSmall"]>;
      try {
        small = store.readSmall(name, SMALL_SEND);
      } catch (error) {
        if (!(error instanceof FileRefusal)) throw error;
        push(encode(errorLine(error.code, error.message) + "\n"));
        continue;
      }
      if (small === null) {
        await flush();
        try {
          if (!(await channel.sendFile(name))) return false;
          sent++;
        } catch (error) {
          if (!(error instanceof FileRefusal)) throw error;
          push(encode(errorLine(error.code, error.message) + "\n"));
        }
        continue;
      }
      const { entry, bytes } = small;
      let hex = entry.sha256;
      if (hex === null) {
        hex = sha256().update(bytes).digest("hex");
        store.recordDigest(entry, hex); // best effort, as after a GET
      }
      push(encode(`OK ${describeFile(entry)}\n`));
      push(bytes);
      push(encode(digestLine(hex) + "\n"));
      counters.bytesDownloaded += bytes.length;
      sent++;
      if (runBytes >= WRITE_RUN) await flush();
    }
  } catch (error) {
    if (isDisconnect(error)) {
      log.event(`${FILE_LABEL} ${peer} went away during a pipelined download (${sent} files sent)`);
      return false;
    }
    const refusal = lineRefusal(error, "A name line of GETS");
    if (refusal === null) throw error;
    await flush().catch(() => {});
    await writeAll(out, encode(errorLine(refusal.code, refusal.message) + "\n")).catch(() => {});
    return false;
  }
}
