/**
 * One chat room: its members, its history and fan-out. A Room only queues
 * bytes (through the `push` its Hub gives it) and never awaits a socket, so
 * one member can never hold up the others. Everything a room sends goes
 * through publish(event), the one place a cluster layer would relay from.
 */
import {
  type HistoryEvent,
  historyKey,
  isHistoryEvent,
  Rendered,
  type RoomEvent,
} from "../events.ts";
import type { MemberInfo } from "../members.ts";
import type { Outbox } from "./outbox.ts";

/**
 * A connection that has joined the chat (it is in exactly one room): a
 * MemberInfo, live. The hub sets its name (on join and rename), its join
 * time and its room.
 */
export interface Member extends Pick<MemberInfo, "name" | "joinedAt"> {
  /** "127.0.0.1:50412", for the log. */
  readonly peer: string;
  /** The room it is in. */
  room: Room | null;
  /** Receives events as JSON objects (`/json`) rather than text lines. */
  json: boolean;
  /** Receives its own messages back (`/echo on`). */
  echo: boolean;
  /** Authenticated with the server's token: may /kick. */
  readonly operator: boolean;
  readonly outbox: Outbox;
  /** Closes the member's socket; its connection handler then finishes. */
  disconnect(): void;
  /** Sends a last line and closes (after the hub has removed the member). */
  finish(line: string): void;
}

/** Options of {@link Room}. */
export interface RoomOptions {
  /** Messages (and renames) kept for newcomers. */
  history: number;
  /** Queues bytes for a member; the hub notes a member whose queue is full. */
  push: (member: Member, bytes: Uint8Array) => void;
}

/** A room of the chat: "#lobby", or one a member created with /join. */
export class Room {
  /** "#lobby": `#` and 1-32 letters, digits, _ - or . (as first typed). */
  readonly name: string;
  readonly members = new Set<Member>();
  #options: RoomOptions;
  #history: Rendered[] = [];
  /** The seeded past not yet seen live: a cluster reader that lags may deliver it again. */
  #seeded = new Set<string>();

  constructor(name: string, options: RoomOptions) {
    this.name = name;
    this.#options = options;
  }

  get size(): number {
    return this.members.size;
  }

  /**
   * Sends an event of this room to every member but `except`; a message or
   * rename also enters the history. Returns the rendered event.
   */
  publish(event: RoomEvent, except?: Member): Rendered {
    const rendered = new Rendered(event);
    if (isHistoryEvent(event) && this.#options.history > 0) {
      this.#history.push(rendered);
      if (this.#history.length > this.#options.history) this.#history.shift();
    }
    const push = this.#options.push;
    for (const member of this.members) {
      if (member !== except) push(member, rendered.bytes(member.json));
    }
    return rendered;
  }

  /** Adds events to the history (oldest first) without sending them: a new room's past. */
  seed(events: readonly HistoryEvent[]): void {
    if (this.#options.history <= 0) return;
    for (const event of events.slice(-this.#options.history)) {
      this.#history.push(new Rendered(event));
      this.#seeded.add(historyKey(event));
    }
    if (this.#history.length > this.#options.history) {
      this.#history.splice(0, this.#history.length - this.#options.history);
    }
  }

  /**
   * True (once) if `event` came with the seeded past, so its members have it
   * already. The reader delivers in stream order, so the first line that is
   * not from the past ends the check: nothing later can be, and every later
   * line is spared the lookup.
   */
  takeSeeded(event: RoomEvent): boolean {
    if (this.#seeded.size === 0 || !isHistoryEvent(event)) return false;
    if (this.#seeded.delete(historyKey(event))) return true;
    this.#seeded.clear();
    return false;
  }

  /** The newest history entries that fit in `budget` bytes for `member`, oldest first. */
  recentHistory(member: Member, budget: number): Uint8Array[] {
    const lines: Uint8Array[] = [];
    let used = 0;
    for (let i = this.#history.length - 1; i >= 0; i--) {
      const bytes = this.#history[i]!.replay(member.json);
      if (used + bytes.length > budget) break;
      lines.push(bytes);
      used += bytes.length;
    }
    return lines.reverse();
  }

  /** The events kept, oldest first (for tests and a cluster layer). */
  history(): HistoryEvent[] {
    return this.#history.map((rendered) => rendered.event as HistoryEvent);
  }
}
