/**
 * The read loop: XREAD BLOCK on the cluster's event stream and this
 * instance's inbox, on a connection of its own, remembering the last id read
 * from each so a reconnect resumes exactly where it stopped. Each entry is
 * checked and dispatched: other instances' chat events to the handlers
 * (repeats dropped and gaps counted by sequence number), presence entries to
 * the presence cache.
 */
import { isHistoryEvent } from "../events.ts";
import type { Health } from "./health.ts";
import type { HistoryMirror } from "./history.ts";
import { DROPPED_REASON, LOST_REASON, type Presence } from "./presence.ts";
import { errorText, type RedisConn } from "./redis.ts";
import {
  type ClusterEvent,
  EntryKind,
  isDirect,
  parseEntry,
  parseEvent,
  type Reply,
  type StreamEntry,
} from "./wire.ts";

/** Entries per XREAD. */
const READ_COUNT = 1000;
/** At most one "missed events" line per this long. */
const GAP_LOG_MS = 10_000;

/** What a {@link StreamReader} needs of its cluster. */
export interface ReaderOptions {
  /** The reader's own connection (XREAD BLOCK holds it). */
  conn: RedisConn;
  instanceId: string;
  /** The cluster's key prefix, e.g. "socketkit:". */
  prefix: string;
  presence: Presence;
  health: Health;
  mirror: HistoryMirror;
  /** XREAD BLOCK: also bounds how late a due resync or close() is noticed. */
  blockMs: number;
  /** The delay before retry number `failures` of a failed read. */
  retryDelay: (failures: number) => number;
  /** The degraded reason for a connection error. */
  unavailable: (error: unknown) => string;
  /** Hands another instance's event to the event handlers. */
  emit: (event: ClusterEvent, origin: string) => void;
  now: () => number;
  log: (line: string) => void;
  stats: { received: number; duplicatesDropped: number; malformed: number; missed: number };
}

/** Reads the event stream and the inbox until stopped. */
export class StreamReader {
  #options: ReaderOptions;
  #keys: { events: string; inbox: string };
  #last = { events: "0-0", inbox: "0-0" };
  /** The last sequence number seen of each origin, per stream. */
  #lastSeq = { events: new Map<string, number>(), inbox: new Map<string, number>() };
  #resyncDue = true;
  #lastGapLog = -Infinity;
  #loop: Promise<void> = Promise.resolve();
  #pause: { timer: ReturnType<typeof setTimeout>; wake: () => void } | null = null;

  constructor(options: ReaderOptions) {
    this.#options = options;
    this.#keys = {
      events: options.prefix + "events",
      inbox: options.prefix + "inbox:" + options.instanceId,
    };
  }

  /** Rebuilds the presence cache from a snapshot before the next read. */
  requestResync(): void {
    this.#resyncDue = true;
  }

  /** The other instances' sequence numbers of `id` are not needed any more (ids are new at every start). */
  forget(id: string): void {
    this.#lastSeq.events.delete(id);
    this.#lastSeq.inbox.delete(id);
  }

  /** Reads the presence snapshot; the event stream is then read from its end. */
  async resyncFromNow(): Promise<void> {
    this.#resyncDue = false;
    this.#last.events = await this.#options.presence.resync(this.#options.conn);
  }

  /** Starts the loop (after resyncFromNow). */
  start(): void {
    this.#loop = this.#read();
  }

  /** Ends the loop (call once health.closed is set) and waits for it. */
  async stop(): Promise<void> {
    if (this.#pause) {
      clearTimeout(this.#pause.timer);
      this.#pause.wake();
    }
    this.#options.conn.destroy(); // unblocks the XREAD
    await this.#loop;
  }

  async #read(): Promise<void> {
    const { conn, health, presence, blockMs, retryDelay, unavailable } = this.#options;
    let failures = 0;
    while (!health.closed) {
      try {
        if (this.#resyncDue) {
          this.#resyncDue = false;
          await presence.resync(conn);
        }
        const read = ["XREAD", "COUNT", String(READ_COUNT), "BLOCK", String(blockMs), "STREAMS"];
        read.push(this.#keys.events, this.#keys.inbox, this.#last.events, this.#last.inbox);
        const reply = await conn.sendCommand(read) as Reply[] | null;
        if (!health.readerUp) {
          health.readerUp = true;
          health.update();
        }
        failures = 0;
        if (reply) this.#handleRead(reply);
      } catch (error) {
        if (health.closed) break;
        health.readerUp = false;
        this.#resyncDue = true;
        health.update(unavailable(error));
        await this.#sleep(retryDelay(failures++));
      }
    }
  }

  /** A pause that stop() cuts short. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.#pause = null;
        resolve();
      };
      this.#pause = { timer: setTimeout(wake, ms), wake };
    });
  }

  #handleRead(reply: Reply[]): void {
    for (const stream of reply) {
      if (!Array.isArray(stream)) continue;
      const isInbox = stream[0] === this.#keys.inbox;
      const entries = stream[1];
      if (!Array.isArray(entries)) continue;
      for (const item of entries) {
        if (!Array.isArray(item)) continue;
        const id = String(item[0]);
        if (isInbox) this.#last.inbox = id;
        else this.#last.events = id;
        try {
          this.#handleEntry(parseEntry(item[1] ?? null), isInbox);
        } catch (error) {
          this.#options.stats.malformed++;
          this.#options.log(`cluster: skipped a stream entry: ${errorText(error)}`);
        }
      }
    }
  }

  #handleEntry(entry: StreamEntry, isInbox: boolean): void {
    const { instanceId, presence, health } = this.#options;
    const { origin } = entry;
    switch (entry.kind) {
      case EntryKind.event:
        if (origin !== instanceId) this.#handleEvent(entry, isInbox);
        return;
      case EntryKind.presence:
        if (origin !== instanceId) presence.applyOp(origin, JSON.parse(entry.data || "{}"));
        return;
      case EntryKind.gone:
        if (origin === instanceId) {
          // We were reaped (too long without a heartbeat) but are alive: re-register.
          if (!health.closing) void presence.rejoin(DROPPED_REASON);
          return;
        }
        presence.instanceGone(origin, String(JSON.parse(entry.data || "{}").reason ?? LOST_REASON));
        return;
      case EntryKind.joined:
        if (origin !== instanceId) {
          presence.instanceJoined(origin, JSON.parse(entry.data || "{}").members);
        }
        return;
    }
  }

  #handleEvent({ origin, seq, data }: StreamEntry, isInbox: boolean): void {
    const { stats, presence, mirror, emit } = this.#options;
    const seen = isInbox ? this.#lastSeq.inbox : this.#lastSeq.events;
    const last = seen.get(origin);
    // NaN (no sequence number) compares false: such an entry is not taken for a repeat.
    if (seq <= (last ?? 0)) {
      stats.duplicatesDropped++;
      return;
    }
    seen.set(origin, seq);
    if (!isInbox && last !== undefined && seq > last + 1) this.#gap(origin, seq - last - 1);
    const event = parseEvent(data, this.#options.now());
    if (event === null) {
      stats.malformed++;
      return;
    }
    if (isDirect(event) && !presence.isOwn(event.to)) return;
    if (isHistoryEvent(event)) mirror.remember(event);
    stats.received++;
    emit(event, origin);
  }

  /**
   * Events of `origin` never reached us: dropped from its queue during an
   * outage, or trimmed from the stream (MAXLEN) before this reader got to
   * them. Counted, logged at most every GAP_LOG_MS, and the presence is re-read.
   */
  #gap(origin: string, missed: number): void {
    this.#options.stats.missed += missed;
    this.#resyncDue = true;
    const now = this.#options.now();
    if (now - this.#lastGapLog < GAP_LOG_MS) return;
    this.#lastGapLog = now;
    this.#options.log(
      `cluster: missed ${missed} event(s) from ${origin} (queue overflow or stream trimmed)`,
    );
  }
}
