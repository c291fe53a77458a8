/**
 * A room's history across the cluster: read from the room's capped Redis
 * stream, or, while Redis is away, from a local mirror of the recent
 * messages of each room as this instance saw them (said here or received).
 */
import { type HistoryEvent, isHistoryEvent } from "../events.ts";
import { nameKey } from "../protocol.ts";
import type { RedisConn } from "./redis.ts";
import { parseEntry, parseEvent, type Reply } from "./wire.ts";

/** A room's history stream goes this long after its last message or rename: 30 days. */
export const HISTORY_TTL_MS = 30 * 24 * 3600 * 1000;

/** The key of `room`'s history stream (any case) in the cluster whose keys start with `prefix`. */
export function historyStream(prefix: string, room: string): string {
  return prefix + "history:" + nameKey(room);
}

/**
 * The last `count` events of the history stream `key`, oldest first, without
 * the repeats a retried write may have left. Throws what the connection throws.
 */
export async function readHistory(
  commands: RedisConn,
  key: string,
  count: number,
): Promise<HistoryEvent[]> {
  // A few extra in case a retried write left a duplicate.
  const newest = ["XREVRANGE", key, "+", "-", "COUNT", String(count + 8)];
  const reply = await commands.sendCommand(newest) as Reply[];
  const seen = new Set<string>();
  const out: HistoryEvent[] = [];
  for (const item of reply ?? []) {
    if (!Array.isArray(item)) continue;
    const entry = parseEntry(item[1] ?? null);
    const id = `${entry.origin}/${entry.seq}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const event = parseEvent(entry.data);
    if (event !== null && isHistoryEvent(event)) out.push(event);
  }
  return out.reverse();
}

/** Rooms whose recent history is mirrored (bounded in messages per room too). */
const MIRROR_ROOMS = 1024;

/** A bounded local copy of each room's recent history. */
export class HistoryMirror {
  #rooms = new Map<string, HistoryEvent[]>();
  #limit: number;

  /** @param limit messages kept per room (0: none) */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Notes a message or rename said in its room. */
  remember(event: HistoryEvent): void {
    if (this.#limit <= 0) return;
    const key = nameKey(event.room);
    let list = this.#rooms.get(key);
    if (!list) {
      // The least recently created room goes first.
      if (this.#rooms.size >= MIRROR_ROOMS) this.#rooms.delete(this.#rooms.keys().next().value!);
      this.#rooms.set(key, list = []);
    }
    list.push(event);
    if (list.length > this.#limit) list.shift();
  }

  /** The last `count` events of `room` (any case), oldest first. */
  recent(room: string, count: number): HistoryEvent[] {
    return (this.#rooms.get(nameKey(room)) ?? []).slice(-count);
  }
}
