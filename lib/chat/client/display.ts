/**
 * What the chat client shows of each line from the server, decided without
 * sockets or a terminal: the connection hands it every line and gets back
 * what to print (escaped) and what the line says about us (a rename, a move,
 * a kick, a shutdown), which it acts on.
 *
 * It hides the replies to the client's own setup commands (the lobby's
 * history before a /join, the text before JSON mode, the reply to /echo on),
 * skips history lines already shown before a reconnect, and marks the lines
 * that mention our name, with a bell at most once per second.
 */
import { printable } from "../../base/text.ts";
import {
  type ChatEvent,
  eventText,
  parseEventJson,
  parseSpokenLine,
  systemEvent,
} from "../events.ts";
import {
  ECHO_ON_LINE,
  GOODBYE_LINE,
  IDLE_LINE,
  isRoomRefusal,
  isShutdownNotice,
  JSON_ON_LINE,
  LOBBY,
  nameKey,
  parseHistoryHeader,
  parseJoinedRoom,
  parseKicked,
  parseRenamed,
  SHUTDOWN_NOTICE,
  systemText,
} from "../protocol.ts";

// History lines remembered, so a replay after a reconnect shows only what is new.
const SEEN_LINES = 1000;
// At most one bell per this many milliseconds, whatever the room does.
const BELL_GAP_MS = 1000;
// The shutdown notice as a JSON reader gets it (a system event), rendered as text.
const SHUTDOWN_AS_EVENT = eventText(systemEvent(SHUTDOWN_NOTICE));

/** Options of {@link ChatDisplay}. */
export interface DisplayOptions {
  /** --json: the server speaks JSON after setup; print one JSON object per line. */
  json: boolean;
  /** Ring the terminal bell when a line mentions us. */
  bell: boolean;
  /** The raw-mode terminal UI: only it draws highlights and bells. */
  fancy: boolean;
  /** The clock that spaces the bells, in milliseconds. Default: `Date.now`. */
  now?: () => number;
}

/** What to print for one server line. */
export type Output =
  /**
   * A room line for stdout (or the UI); `highlight` and `bell` for a mention;
   * `before`, a line to print first (the history header, held back until a
   * history line not already shown follows it).
   */
  | { kind: "line"; line: string; highlight: boolean; bell: boolean; before?: string }
  /** One JSON object (--json), every unsafe character escaped. */
  | { kind: "json"; json: string }
  /** The client's own word to the user (stderr or the UI), not a room line. */
  | { kind: "notice"; text: string };

/** One server line as the client reads it. */
export interface Reading {
  /** What to print; null when the line is hidden. */
  output: Output | null;
  /** Our name changed (/name): the new one. */
  renamed?: string;
  /** We moved (/join): the room we are in now. */
  room?: string;
  /** The server ended our session for good (a kick, idle): why, for the user. */
  refused?: string;
  /** The server is shutting down (it may come back: reconnect). */
  shutdown?: true;
  /** The server confirmed our /quit. */
  goodbye?: true;
}

/** The display filter of one client, across its reconnections. */
export class ChatDisplay {
  /** Our name now, to find mentions by; the connection sets it on each join. */
  name = "";
  #options: DisplayOptions;
  #now: () => number;
  // Lines hidden until this one arrives (the reply to our own setup commands).
  #hideUntil: ((line: string) => boolean) | null = null;
  #hideEcho = false;
  #historyLeft = 0;
  // "! The last N messages:", until a line under it is shown (never, when all were seen).
  #heldHeader: string | null = null;
  #seen = new Set<string>();
  #lastBell = -Infinity;

  constructor(options: DisplayOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The commands that put a new connection (in the lobby, echo off, text)
   * where the user is: echo on (when `echo`), `room`, JSON mode; the replies
   * to them are hidden from here on, and so is what arrives before the last
   * reply (the lobby's history before a /join, text before JSON mode).
   */
  setup(room: string, echo: boolean): string[] {
    const json = this.#options.json;
    const moving = nameKey(room) !== nameKey(LOBBY);
    const commands: string[] = [];
    if (echo) commands.push("/echo on");
    if (moving) commands.push(`/join ${room}`);
    if (json) commands.push("/json");
    this.#hideEcho = echo;
    this.#hideUntil = json
      ? (line) => line === JSON_ON_LINE
      : moving
      ? (line) => parseJoinedRoom(line) !== null || isRoomRefusal(line)
      : null;
    this.#historyLeft = 0;
    this.#heldHeader = null;
    return commands;
  }

  /** Reads one line from the server: what to print and what it tells us. */
  take(raw: string): Reading {
    const json = this.#options.json;
    const event = json ? parseEventJson(raw) : null;
    const line = event ? textOf(event) : printable(raw);
    const reading = this.#about(line, event);
    reading.output = this.#output(line, event);
    return reading;
  }

  #output(line: string, event: Record<string, unknown> | null): Output | null {
    const json = this.#options.json;
    if (this.#hideEcho && line === ECHO_ON_LINE) {
      this.#hideEcho = false;
      return null;
    }
    if (this.#hideUntil) {
      if (this.#hideUntil(line)) {
        this.#hideUntil = null;
        if (json) return null;
      } else {
        // A --json user still learns that the room was refused.
        return json && isRoomRefusal(line) ? { kind: "notice", text: systemText(line)! } : null;
      }
    }
    const history = event ? event.history === true : this.#historyLeft > 0;
    if (!event && this.#historyLeft > 0) this.#historyLeft--;
    const header = parseHistoryHeader(line);
    if (header !== null && !json) {
      this.#historyLeft = header;
      this.#heldHeader = line;
      return null;
    }
    const before = history ? this.#heldHeader : null;
    if (!history || this.#historyLeft === 0) this.#heldHeader = null;
    if (parseSpokenLine(line) !== null) {
      const key = event ? `${event.ts}|${event.from}|${event.text}` : line;
      if (history && this.#seen.has(key)) return null;
      this.#remember(key);
    }
    this.#heldHeader = null;
    if (json) return { kind: "json", json: safeJson(event ?? systemEvent(line)) };
    const fancy = this.#options.fancy;
    const mention = mentions(line, this.name);
    let bell = false;
    if (mention && !history && this.#options.bell) {
      const now = this.#now();
      if (now - this.#lastBell > BELL_GAP_MS) {
        bell = true;
        this.#lastBell = now;
      }
    }
    const output: Output = { kind: "line", line, highlight: mention && fancy, bell: bell && fancy };
    if (before !== null) output.before = before;
    return output;
  }

  /** What a line says about us: a rename, a move, a kick, a shutdown. */
  #about(line: string, event: Record<string, unknown> | null): Reading {
    const reading: Reading = { output: null };
    const renamed = parseRenamed(line);
    if (renamed) {
      this.name = renamed;
      reading.renamed = renamed;
    }
    const room = parseJoinedRoom(line);
    if (room) reading.room = room;
    const kicked = parseKicked(line);
    if (kicked) reading.refused = `You were ${kicked}`;
    if (isShutdownNotice(line) || (event !== null && line === SHUTDOWN_AS_EVENT)) {
      reading.shutdown = true;
    }
    if (line === IDLE_LINE) {
      reading.refused = "The chat server closed the connection: idle for too long";
    }
    if (line === GOODBYE_LINE) reading.goodbye = true;
    return reading;
  }

  #remember(key: string): void {
    this.#seen.add(key);
    if (this.#seen.size > SEEN_LINES) this.#seen.delete(this.#seen.values().next().value!);
  }
}

/** The text line an event from the server stands for, escaped ("" if it is not one we know). */
function textOf(event: Record<string, unknown>): string {
  try {
    return printable(eventText(event as unknown as ChatEvent) ?? "");
  } catch {
    return "";
  }
}

// Escapes what JSON.stringify leaves raw but a terminal would act on.
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON text that is safe to print: every control and bidi character escaped. */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    UNSAFE_IN_JSON,
    (ch) => "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

/** True when a message, action or private line from someone else names `name` as a word. */
export function mentions(line: string, name: string): boolean {
  if (name === "") return false;
  const spoken = parseSpokenLine(line);
  if (!spoken || nameKey(spoken.from) === nameKey(name)) return false;
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^A-Za-z0-9_.-])${escaped}($|[^A-Za-z0-9_-])`, "i").test(spoken.text);
}
