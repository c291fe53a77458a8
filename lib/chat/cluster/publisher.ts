/**
 * The publish queue: events of this instance wait here and go to Redis in
 * pipelined batches (everything published in one turn of the event loop in
 * one round trip). While Redis is away they stay queued, bounded in number
 * and age, and go out on recovery. Each event carries a sequence number, so
 * a receiver drops the repeats a retried batch may leave and sees the gaps
 * an overflow left.
 */
import { type HistoryEvent, isHistoryEvent } from "../events.ts";
import { nameKey } from "../protocol.ts";
import { HISTORY_TTL_MS, historyStream } from "./history.ts";
import type { RedisConn, ScriptRunner } from "./redis.ts";
import { type ClusterEvent, eventFields, isDirect } from "./wire.ts";

/** Events queued while Redis is away; the oldest are dropped past this (docs/cluster.md). */
export const MAX_QUEUE = 10_000;
/** Queued events older than this are dropped rather than sent late (docs/cluster.md). */
export const MAX_QUEUE_AGE_MS = 60_000;
/** Events per pipelined flush. */
const FLUSH_BATCH = 512;
/** Writes of one event before it is given up (e.g. Redis answers an error, not a disconnect). */
const MAX_ATTEMPTS = 5;
/** MAXLEN of an instance's private-message inbox stream. */
const INBOX_LIMIT = 1000;

/** A chat event waiting to be written to Redis. */
interface Outgoing {
  seq: number;
  event: ClusterEvent;
  json: string;
  queuedAt: number;
  /** Failed writes so far; an entry Redis keeps refusing is dropped after MAX_ATTEMPTS. */
  attempts: number;
}

/** What a {@link Publisher} needs of its cluster. */
export interface PublisherOptions {
  commands: RedisConn;
  scripts: ScriptRunner;
  instanceId: string;
  /** The cluster's key prefix, e.g. "socketkit:". */
  prefix: string;
  /** The event stream's approximate MAXLEN. */
  streamLimit: number;
  /** Messages each room's history stream keeps (0: none written). */
  historyLimit: number;
  /** False while Redis is away or the cluster closed: the queue waits. */
  canWrite: () => boolean;
  /** Settles once the presence ops issued so far are written (they go first). */
  presenceWritten: () => Promise<unknown>;
  /** The delay before retry number `failures` of a failed batch. */
  retryDelay: (failures: number) => number;
  now: () => number;
  stats: { published: number; queueDropped: number };
}

/** The queue of events on their way to Redis. */
export class Publisher {
  #options: PublisherOptions;
  #eventsKey: string;
  // Sequence numbers: one series for the event stream (contiguous, so a
  // receiver can tell a gap), one for private messages.
  #seq = { events: 0, inbox: 0 };
  #queue: Outgoing[] = [];
  #flushing: Promise<void> | null = null;
  #flushScheduled = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #droppedWhileAway = 0;

  constructor(options: PublisherOptions) {
    this.#options = options;
    this.#eventsKey = options.prefix + "events";
  }

  /** Events waiting to be written (grows while Redis is away). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Events dropped since {@link resetDropped} (queue overflow, age, refused writes). */
  get droppedWhileAway(): number {
    return this.#droppedWhileAway;
  }

  /** Starts counting dropped events afresh (at the start of an outage). */
  resetDropped(): void {
    this.#droppedWhileAway = 0;
  }

  /** Queues `event`; never throws, never waits. */
  publish(event: ClusterEvent): void {
    this.#queue.push({
      seq: isDirect(event) ? ++this.#seq.inbox : ++this.#seq.events,
      event,
      json: JSON.stringify(event),
      queuedAt: this.#options.now(),
      attempts: 0,
    });
    if (this.#queue.length > MAX_QUEUE) this.#drop();
    this.flushSoon();
  }

  /** The queued messages and renames of `room` (any case), oldest first. */
  pendingHistory(room: string): HistoryEvent[] {
    const key = nameKey(room);
    return this.#queue.map((queued) => queued.event).filter((event): event is HistoryEvent =>
      isHistoryEvent(event) && nameKey(event.room) === key
    );
  }

  /** Writes the queue in a microtask (unless Redis is away or a flush runs). */
  flushSoon(): void {
    if (
      this.#flushScheduled || this.#flushing || !this.#options.canWrite() ||
      this.#queue.length === 0
    ) {
      return;
    }
    this.#flushScheduled = true;
    // A microtask: everything published in this turn of the event loop goes
    // out in one pipelined write.
    queueMicrotask(() => {
      this.#flushScheduled = false;
      if (this.#flushing) return;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = null;
        // More may have arrived while the batch was in flight.
        this.flushSoon();
      });
    });
  }

  /** Settles when the flush in flight (if any) is done. */
  flushed(): Promise<void> {
    return this.#flushing ?? Promise.resolve();
  }

  /** Stops retrying; with `discard`, forgets what is queued. */
  stop(discard = false): void {
    clearTimeout(this.#retryTimer);
    if (discard) this.#queue = [];
  }

  #drop(): void {
    this.#queue.shift();
    this.#droppedWhileAway++;
    this.#options.stats.queueDropped++;
  }

  async #flush(): Promise<void> {
    const options = this.#options;
    while (this.#queue.length > 0 && options.canWrite()) {
      // Presence first: a member's move or departure is written before the
      // notices published with it, so an instance that shows "* bob left"
      // already lists bob where he went (or not at all).
      await options.presenceWritten();
      if (!options.canWrite()) break;
      const now = options.now();
      while (this.#queue.length > 0 && now - this.#queue[0]!.queuedAt > MAX_QUEUE_AGE_MS) {
        this.#drop();
      }
      const batch = this.#queue.splice(0, FLUSH_BATCH);
      if (batch.length === 0) break;
      // Commands issued in one tick are written together by @redis/client
      // (auto-pipelining): one round trip per batch.
      const results = await Promise.allSettled(batch.map((entry) => this.#write(entry)));
      const failed = results.findIndex((r) => r.status === "rejected");
      if (failed >= 0) {
        // Put back the first failed and everything after it, in order. Some
        // may have been applied: receivers drop repeats by sequence number.
        options.stats.published += failed;
        const again = batch.slice(failed).filter((entry) => ++entry.attempts < MAX_ATTEMPTS);
        this.#droppedWhileAway += batch.length - failed - again.length;
        this.#queue.unshift(...again);
        // Retry after a pause; a reconnect (recovery) flushes at once anyway.
        clearTimeout(this.#retryTimer);
        this.#retryTimer = setTimeout(() => this.flushSoon(), options.retryDelay(this.#failures++));
        return;
      }
      this.#failures = 0;
      options.stats.published += batch.length;
    }
  }

  #write(entry: Outgoing): Promise<unknown> {
    const { event, seq, json } = entry;
    const options = this.#options;
    if (isDirect(event)) {
      const args = [nameKey(event.to), String(seq), json, String(INBOX_LIMIT)];
      return options.scripts.run("PRIVATE", args);
    }
    const fields = eventFields(options.instanceId, seq, json);
    const limit = String(options.streamLimit);
    const add = ["XADD", this.#eventsKey, "MAXLEN", "~", limit, "*", ...fields];
    const writes = [options.commands.sendCommand(add)];
    if (isHistoryEvent(event) && options.historyLimit > 0) {
      const room = historyStream(options.prefix, event.room);
      const cap = String(options.historyLimit);
      writes.push(options.commands.sendCommand(["XADD", room, "MAXLEN", "~", cap, "*", ...fields]));
      // A room nobody speaks in any more leaves nothing behind in Redis for ever.
      writes.push(options.commands.sendCommand(["PEXPIRE", room, String(HISTORY_TTL_MS)]));
    }
    return Promise.all(writes);
  }
}
