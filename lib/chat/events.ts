/**
 * What happens in the chat, as plain data, and its two renderings: the text
 * line a netcat user reads and the JSON object a bot reads (`/json`). Every
 * room event carries its room, so a layer that relays events between servers
 * (a cluster) can hand them to another server's Room as they are. A Rendered
 * event encodes each form at most once, however many members get it.
 */
import { encode } from "../base/text.ts";
import { clock } from "./protocol.ts";

/** A member's message or /me action. */
export interface MessageEvent {
  type: "message";
  room: string;
  from: string;
  text: string;
  /** ISO 8601 in UTC, the server's clock. */
  ts: string;
  /** Present (true) for a /me action. */
  action?: true;
}

/** A member arrived in a room (joined the server or moved in with /join). */
export interface JoinEvent {
  type: "join";
  room: string;
  name: string;
  ts: string;
}

/** A member left a room: quit, closed, dropped, kicked or moved on (the reason says). */
export interface LeaveEvent {
  type: "leave";
  room: string;
  name: string;
  reason?: string;
  ts: string;
}

/** A member of the room changed its name. */
export interface RenameEvent {
  type: "rename";
  room: string;
  from: string;
  to: string;
  ts: string;
}

/** `/msg`: seen by its sender and its recipient only, never kept. */
export interface PrivateEvent {
  type: "private";
  from: string;
  to: string;
  text: string;
  ts: string;
}

/**
 * An operator's /kick of a member of another cluster instance: travels to
 * that instance only, which removes the member. Never shown as such.
 */
export interface KickEvent {
  type: "kick";
  /** The operator. */
  from: string;
  to: string;
  /** Up to 200 characters; may be empty. */
  reason: string;
  ts: string;
}

/** A line for one connection (the `! ...` lines of the text protocol). */
export interface SystemEvent {
  type: "system";
  text: string;
}

/** `/users`: the members of a room. */
export interface UsersEvent {
  type: "users";
  room: string;
  users: string[];
}

/** `/rooms`: every room and how many members it has. */
export interface RoomsEvent {
  type: "rooms";
  rooms: { room: string; members: number }[];
}

/** Anything the chat server tells a connection after it joined. */
export type ChatEvent =
  | MessageEvent
  | JoinEvent
  | LeaveEvent
  | RenameEvent
  | PrivateEvent
  | SystemEvent
  | UsersEvent
  | RoomsEvent;

/** Events a room sends to its members (they carry the room). */
export type RoomEvent = MessageEvent | JoinEvent | LeaveEvent | RenameEvent;

/** Events a room keeps in its history. */
export type HistoryEvent = MessageEvent | RenameEvent;

/** True for what a room keeps for newcomers: messages and renames. */
export function isHistoryEvent(event: { type: string }): event is HistoryEvent {
  return event.type === "message" || event.type === "rename";
}

/**
 * Identifies one event that reached this instance twice (as history read
 * from the cluster and live): the same instant, author and text.
 */
export function historyKey(event: HistoryEvent): string {
  return JSON.stringify(event);
}

/** The text line of an event (no newline). */
export function eventText(event: ChatEvent): string {
  switch (event.type) {
    case "message": {
      const time = clock(new Date(event.ts));
      return event.action
        ? `[${time}] * ${event.from} ${event.text}`
        : `[${time}] ${event.from}: ${event.text}`;
    }
    case "join":
      return `* ${event.name} joined`;
    case "leave":
      return event.reason ? `* ${event.name} left (${event.reason})` : `* ${event.name} left`;
    case "rename":
      return `* ${event.from} is now known as ${event.to}`;
    case "private":
      return `[${clock(new Date(event.ts))}] (private) ${event.from} -> ${event.to}: ${event.text}`;
    case "system":
      return `! ${event.text}`;
    case "users":
      return `! ${event.users.length} here: ${event.users.join(", ")}`;
    case "rooms": {
      const count = `${event.rooms.length} room${event.rooms.length === 1 ? "" : "s"}`;
      return `! ${count}: ${event.rooms.map((r) => `${r.room} (${r.members})`).join(", ")}`;
    }
  }
}

/** The JSON line of an event (no newline); `history` marks a replayed one. */
export function eventJson(event: ChatEvent, history = false): string {
  return JSON.stringify(history ? { ...event, history: true } : event);
}

/** The system event a `! ...` (or `* ...`) line is in JSON mode: its text without the marker. */
export function systemEvent(line: string): SystemEvent {
  return { type: "system", text: line.replace(/^[!*] /, "") };
}

/** A `! ...` line as the connection wants it: as is, or as a JSON system event. */
export function systemBytes(line: string, json: boolean): Uint8Array {
  if (!json) return encode(line + "\n");
  return encode(eventJson(systemEvent(line)) + "\n");
}

/**
 * A line of JSON mode ({@link eventJson}) as the object it holds, or null
 * when it is not a JSON object. Its fields are not checked: it came from the
 * network, so a reader renders it inside a try.
 */
export function parseEventJson(line: string): Record<string, unknown> | null {
  if (!line.startsWith("{")) return null;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? value as Record<string, unknown>
      : null;
  } catch {
    return null;
  }
}

/** A message, /me action or /msg line of the text protocol, taken apart. */
export interface SpokenLine {
  type: "message" | "action" | "private";
  /** `12:00:01`. */
  time: string;
  from: string;
  /** The recipient of a private line. */
  to?: string;
  text: string;
}

const NAME = "[A-Za-z0-9_.-]{1,32}";
const SPOKEN = new RegExp(
  String
    .raw`^\[(\d\d:\d\d:\d\d)\] (?:\* (${NAME}) (.*)|\(private\) (${NAME}) -> (${NAME}): (.*)|(${NAME}): (.*))$`,
  "s",
);

/**
 * The parts of a line {@link eventText} writes for a message, an action or a
 * private message; null for any other line (notices, `!` lines).
 */
export function parseSpokenLine(line: string): SpokenLine | null {
  const m = line.match(SPOKEN);
  if (!m) return null;
  const time = m[1]!;
  if (m[2] !== undefined) return { type: "action", time, from: m[2], text: m[3]! };
  if (m[4] !== undefined) return { type: "private", time, from: m[4], to: m[5]!, text: m[6]! };
  return { type: "message", time, from: m[7]!, text: m[8]! };
}

/** One event, encoded for text and JSON readers on demand, once each. */
export class Rendered {
  readonly event: ChatEvent;
  #text: Uint8Array | null = null;
  #json: Uint8Array | null = null;
  #replay: Uint8Array | null = null;

  constructor(event: ChatEvent) {
    this.event = event;
  }

  /** The bytes for a reader in JSON mode or not. */
  bytes(json: boolean): Uint8Array {
    if (json) return this.#json ??= encode(eventJson(this.event) + "\n");
    return this.#text ??= encode(eventText(this.event) + "\n");
  }

  /** As {@link bytes}, for a history replay (JSON gets `"history":true`). */
  replay(json: boolean): Uint8Array {
    if (json) return this.#replay ??= encode(eventJson(this.event, true) + "\n");
    return this.bytes(false);
  }
}
