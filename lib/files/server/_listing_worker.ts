/// <reference lib="deno.worker" />
/**
 * A listing worker: takes the snapshots of LIST requests and makes their
 * lines (listing.ts), off the event loop that serves the connections. Every
 * job moves one chunk per request of the pool, so a client that reads slowly
 * holds back only its own listing, and at most three chunks of it exist at
 * a time. Shares the process's permissions (reads the files directory only).
 */
import { join } from "../../base/path.ts";
import { loadFsLibc } from "../../base/fs_libc.ts";
import type { FromWorker, ToWorker } from "./_listing_messages.ts";
import { describeStored } from "./digests.ts";
import { ListingLines, takeSnapshot } from "./listing.ts";

/**
 * Characters of lines per chunk: large, as each chunk costs two thread
 * wake-ups, which take milliseconds on a busy machine.
 */
const CHUNK_CHARS = 256 * 1024;

const encoder = new TextEncoder();
const jobs = new Map<number, ListingLines>();
/** Jobs whose snapshot is being taken; an end meanwhile removes them. */
const starting = new Set<number>();
/** Chunks asked for while the snapshot was being taken, sent after the first. */
const early = new Map<number, number>();

// The digests of pipelined uploads are extended attributes, read through
// libc: bound now, while the process may still use FFI (serve starts this
// worker before it gives FFI up); without it they read as unknown.
loadFsLibc();
self.postMessage({ kind: "ready", id: 0 } satisfies FromWorker);

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.kind) {
    case "start":
      start(message).catch((error) => fail(message.id, error));
      return;
    case "more":
      if (starting.has(message.id)) {
        early.set(message.id, (early.get(message.id) ?? 0) + 1);
        return;
      }
      try {
        sendChunk(message.id);
      } catch (error) {
        fail(message.id, error);
      }
      return;
    case "end":
      starting.delete(message.id);
      early.delete(message.id);
      jobs.delete(message.id);
      return;
  }
};

async function start({ id, root, metaDir, folder }: ToWorker & { kind: "start" }): Promise<void> {
  starting.add(id);
  const snapshot = await takeSnapshot(root, folder, false);
  const extra = early.get(id) ?? 0;
  early.delete(id);
  if (!starting.delete(id)) return; // its client went away meanwhile
  const describe = (n: string, s: number, m: number) =>
    describeStored(metaDir, join(root, ...n.split("/")), n, s, m);
  jobs.set(id, new ListingLines(snapshot, describe));
  for (let i = 0; i <= extra; i++) sendChunk(id);
}

function sendChunk(id: number): void {
  const lines = jobs.get(id);
  if (lines === undefined) return;
  const bytes = encoder.encode(lines.take(CHUNK_CHARS));
  const done = lines.done;
  if (done) jobs.delete(id);
  post({ kind: "chunk", id, bytes, done }, [bytes.buffer]);
}

function fail(id: number, error: unknown): void {
  starting.delete(id);
  early.delete(id);
  jobs.delete(id);
  post({ kind: "failed", id, message: error instanceof Error ? error.message : String(error) });
}

function post(message: FromWorker, transfer: Transferable[] = []): void {
  self.postMessage(message, transfer);
}
