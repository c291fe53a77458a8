/**
 * The cluster's data as it lies in Redis: stream entries, member records and
 * chat events. Everything read back was written by another instance, perhaps
 * of another version, so it is checked before use.
 *
 * A stream entry has four fields (scripts.ts writes them too; the short
 * names are the stored format and stay as they are):
 *   o  origin instance id
 *   k  kind: e = chat event, p = presence op, x = instance gone, j = instance (re)joined
 *   s  sequence number (chat events only; receivers drop repeats)
 *   d  JSON payload
 */
import { printable } from "../../base/text.ts";
import type { KickEvent, PrivateEvent, RoomEvent } from "../events.ts";
import type { MemberInfo } from "../members.ts";
import { isValidName, roomName } from "../protocol.ts";

/** A raw reply of Redis in RESP2: a bulk string, an integer, nil or an array of those. */
export type Reply = string | number | null | Reply[];

/** What crosses instances: the chat's own room and private events, as they are, and kicks. */
export type ClusterEvent = RoomEvent | PrivateEvent | KickEvent;

/** Events for one member: they go to the inbox of the instance that holds the name. */
export function isDirect(event: ClusterEvent): event is PrivateEvent | KickEvent {
  return event.type === "private" || event.type === "kick";
}

/** The kinds of stream entry, as stored in the `k` field. */
export const EntryKind = {
  /** A chat event of one instance, with a sequence number. */
  event: "e",
  /** A presence op (set, del, rename) of one instance. */
  presence: "p",
  /** An instance was reaped or closed: its members are gone. */
  gone: "x",
  /** An instance (re)registered with its member list. */
  joined: "j",
} as const;

/** One entry of the event stream or an inbox, its fields named. */
export interface StreamEntry {
  /** The instance that wrote it. */
  origin: string;
  /** One of {@link EntryKind}'s values (anything else is skipped). */
  kind: string;
  /** The writer's sequence number (chat events only; NaN otherwise). */
  seq: number;
  /** The JSON payload. */
  data: string;
}

/** The field list of a chat event's entry, for XADD. */
export function eventFields(origin: string, seq: number, data: string): string[] {
  return ["o", origin, "k", EntryKind.event, "s", String(seq), "d", data];
}

/** A stream entry's field list [f1, v1, f2, v2, ...], its fields named. */
export function parseEntry(list: Reply): StreamEntry {
  const fields: Record<string, string> = {};
  if (Array.isArray(list)) {
    for (let i = 0; i + 1 < list.length; i += 2) fields[String(list[i])] = String(list[i + 1]);
  }
  return {
    origin: fields.o ?? "",
    kind: fields.k ?? "",
    seq: Number(fields.s),
    data: fields.d ?? "",
  };
}

/** A member of one instance as stored in Redis (the instance is implied), or null if invalid. */
export function parseMember(json: string): MemberInfo | null {
  try {
    const m = JSON.parse(json);
    if (
      typeof m?.name === "string" && isValidName(m.name) && typeof m.room === "string" &&
      roomName(m.room) !== null && typeof m.joinedAt === "number"
    ) {
      return { name: m.name, room: roomName(m.room)!, joinedAt: m.joinedAt };
    }
  } catch {
    // fall through
  }
  return null;
}

/** The longest text accepted from another instance, in characters (a line escaped 4x, and more). */
const MAX_REMOTE_TEXT = 64 * 1024;

/**
 * Checks an event read from Redis before use: names and rooms must be
 * valid, text is made printable again and cut. Null when it is not an event
 * we know. An event without a valid instant is stamped `now`.
 */
export function parseEvent(json: string, now = Date.now()): ClusterEvent | null {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof e !== "object" || e === null || typeof e.ts !== "string") return null;
  // Shown as a clock in text mode: anything but a valid instant becomes now.
  const when = Date.parse(e.ts.slice(0, 40));
  const ts = new Date(Number.isNaN(when) ? now : when).toISOString();
  const name = (key: string) => typeof e[key] === "string" && isValidName(e[key] as string);
  const room = typeof e.room === "string" ? roomName(e.room) : null;
  const text = typeof e.text === "string"
    ? printable(e.text.slice(0, MAX_REMOTE_TEXT)).slice(0, MAX_REMOTE_TEXT)
    : null;
  switch (e.type) {
    case "message":
      if (room === null || !name("from") || text === null) return null;
      return {
        type: "message",
        room,
        from: e.from as string,
        text,
        ts,
        ...(e.action === true ? { action: true as const } : {}),
      };
    case "join":
      return room !== null && name("name")
        ? { type: "join", room, name: e.name as string, ts }
        : null;
    case "leave":
      if (room === null || !name("name")) return null;
      return typeof e.reason === "string"
        ? {
          type: "leave",
          room,
          name: e.name as string,
          reason: printable(e.reason.slice(0, 300)),
          ts,
        }
        : { type: "leave", room, name: e.name as string, ts };
    case "rename":
      return room !== null && name("from") && name("to")
        ? { type: "rename", room, from: e.from as string, to: e.to as string, ts }
        : null;
    case "private":
      return name("from") && name("to") && text !== null
        ? { type: "private", from: e.from as string, to: e.to as string, text, ts }
        : null;
    case "kick":
      return name("from") && name("to") && typeof e.reason === "string"
        ? {
          type: "kick",
          from: e.from as string,
          to: e.to as string,
          reason: printable(e.reason.slice(0, 200)),
          ts,
        }
        : null;
    default:
      return null;
  }
}

/** A presence op of another instance, as written to the stream (`p` entries). */
export interface PresenceOp {
  op?: string;
  key?: string;
  from?: string;
  member?: unknown;
}
