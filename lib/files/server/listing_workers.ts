/**
 * Where LIST replies are made: a worker thread (_listing_worker.ts), started
 * when the first LIST comes and kept until the service stops. The
 * event loop only passes chunks of lines from a worker to the socket, so a
 * listing of 100,000 files costs the other clients nothing but the writes
 * (on the loop, the walk and the digest reads would hold every reply up for
 * the whole listing; with time slices, it would still pay a 4 ms timer per
 * slice, as Deno polls its sockets only when the loop sleeps).
 *
 * Backpressure: a listing asks for one chunk beyond the first, then one
 * more each time a chunk arrives, before writing it; so the worker works
 * while the socket is written, at most three chunks of a listing exist at
 * a time, and a reader that stops reading stops its listing.
 */
import { writeAll, type Writer } from "../../base/io.ts";
import type { FromWorker, ToWorker } from "./_listing_messages.ts";
import { FileRefusal } from "./refusals.ts";

const WORKER_URL = new URL("./_listing_worker.ts", import.meta.url);

/** Options of {@link ListingWorkers}. */
export interface ListingWorkersOptions {
  /**
   * Most worker threads; listings beyond share them, a chunk at a time.
   * Default 1: each thread is a V8 heap of its own (measured: a second one
   * took the server from 200 to 250 MB with four listings of 100,000 files),
   * and the listings are bound by the disk's metadata calls anyway.
   */
  maxWorkers?: number;
}

/** What a LIST lists: the store's folders and records. */
export interface ListingRequest {
  /** The store's directory. */
  root: string;
  /** Its digest records (digests.ts). */
  metaDir: string;
  /** A checked folder name, "" for every file. */
  folder: string;
}

/** One worker and the listings it runs. */
interface Slot {
  worker: Worker;
  jobs: Map<number, Inbox>;
  /** Resolves once the worker has loaded, failed, or been ended. */
  ready: Promise<void>;
  loaded: () => void;
}

/** The pool of listing workers of one file service; see the module comment. */
export class ListingWorkers {
  #slots: Slot[] = [];
  #max: number;
  #nextId = 1;
  #closed = false;

  constructor(options: ListingWorkersOptions = {}) {
    this.#max = options.maxWorkers ?? 1;
  }

  /**
   * Writes the whole LIST reply for `request` to `out`. Throws FileRefusal
   * io when the listing fails before its first line (the folder cannot be
   * read), an Error when it fails later (the connection cannot carry an
   * ERR line then) or when `out` does.
   */
  async write(out: Writer, request: ListingRequest): Promise<void> {
    if (this.#closed) throw new Error("The file service is stopping");
    const slot = this.#slot();
    const id = this.#nextId++;
    const inbox = new Inbox();
    slot.jobs.set(id, inbox);
    const send = (message: ToWorker) => slot.worker.postMessage(message);
    let finished = false;
    let wrote = false;
    try {
      send({ kind: "start", id, ...request });
      send({ kind: "more", id }); // taken as soon as the first chunk is out
      while (true) {
        const message = await inbox.next();
        if (message.kind === "failed") {
          const why = `Cannot list the files: ${message.message}`;
          throw wrote ? new Error(why) : new FileRefusal("io", why);
        }
        wrote = true;
        // The worker makes the chunk after next while this one is written.
        if (!message.done) send({ kind: "more", id });
        await writeAll(out, message.bytes);
        if (message.done) break;
      }
      finished = true;
    } finally {
      slot.jobs.delete(id);
      if (!finished && this.#slots.includes(slot)) send({ kind: "end", id });
    }
  }

  /** Ends the workers; listings still running fail. */
  close(): void {
    this.#closed = true;
    for (const slot of this.#slots.splice(0)) this.#retire(slot, "The file service stopped");
  }

  /**
   * Starts the first worker now and resolves once it has loaded: serve does
   * this after its Listening lines and before it gives up FFI, which the
   * worker needs to read the digests kept as extended attributes.
   */
  prestart(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    // A listing that came first started one already: it must have loaded too.
    if (this.#slots.length > 0) return Promise.all(this.#slots.map((s) => s.ready)).then(() => {});
    return this.#newSlot().ready;
  }

  /** The worker with the fewest listings, a new one while there are fewer than the most. */
  #slot(): Slot {
    let best: Slot | undefined;
    for (const slot of this.#slots) if (!best || slot.jobs.size < best.jobs.size) best = slot;
    if (best && (best.jobs.size === 0 || this.#slots.length >= this.#max)) return best;
    return this.#newSlot();
  }

  #newSlot(): Slot {
    const worker = new Worker(WORKER_URL, { type: "module", name: "socketkit listing" });
    let loaded!: () => void;
    const ready = new Promise<void>((resolve) => (loaded = resolve));
    const slot: Slot = { worker, jobs: new Map(), ready, loaded };
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      if (event.data.kind === "ready") return loaded();
      slot.jobs.get(event.data.id)?.put(event.data);
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault(); // the listings fail; the server goes on
      loaded();
      this.#slots = this.#slots.filter((other) => other !== slot);
      this.#retire(slot, `The listing worker failed: ${event.message}`);
    };
    this.#slots.push(slot);
    return slot;
  }

  #retire(slot: Slot, why: string): void {
    slot.worker.terminate();
    slot.loaded();
    for (const [id, inbox] of slot.jobs) inbox.put({ kind: "failed", id, message: why });
    slot.jobs.clear();
  }
}

/** What a worker sends about one listing. */
type JobMessage = Exclude<FromWorker, { kind: "ready" }>;

/** The messages of one listing, awaited one at a time. */
class Inbox {
  #queue: JobMessage[] = [];
  #waiter: ((message: JobMessage) => void) | null = null;

  put(message: JobMessage): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    if (waiter) waiter(message);
    else this.#queue.push(message);
  }

  next(): Promise<JobMessage> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => (this.#waiter = resolve));
  }
}
