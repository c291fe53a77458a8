/**
 * The chat room: who is in it, the recent history, and fan-out. Everything
 * here is synchronous: a line is queued on each member's Outbox and the
 * room moves on, so one member's socket can never hold up the others. A
 * member whose queue overflows is dropped, and the room is told.
 */
import type { Logger } from "../base/logger.ts";
import { encode, printable } from "../base/text.ts";
import type { Outbox } from "./outbox.ts";
import {
  actionLine,
  CHAT_LABEL,
  clock,
  historyLine,
  joinedLine,
  joinedNotice,
  leftNotice,
  messageLine,
  nameKey,
  renamedNotice,
  youAreNowLine,
} from "./protocol.ts";

/** A connection that has joined (or is about to join) the room. */
export interface Member {
  /** Current name; the room changes it on join and rename. */
  name: string;
  /** "127.0.0.1:50412", for the log. */
  readonly peer: string;
  /** Date.now() at join; set by the room. */
  joinedAt: number;
  readonly outbox: Outbox;
  /** Closes the member's socket; its connection handler then finishes. */
  disconnect(): void;
}

/** A member as the info service's USERS shows it. */
export interface MemberView {
  name: string;
  /** Date.now() when the member joined. */
  joinedAt: number;
}

/** Options of {@link Room}. */
export interface RoomOptions {
  /** Messages kept for newcomers. */
  history: number;
  maxMembers: number;
  /** Each member's Outbox limit; a newcomer's history is cut to half of it. */
  buffer: number;
  /** Lines a newcomer gets right after the join line (the limits). */
  greeting: string[];
  log: Logger;
}

/** Why a join or rename did not happen. */
export type Refusal = "taken" | "full" | "same";

/** Reason given to the room for a member dropped because its queue overflowed. */
export const STUCK_REASON = "disconnected: not reading";

/** The one chat room of a server. */
export class Room {
  #options: RoomOptions;
  #members = new Map<string, Member>();
  #history: Uint8Array[] = [];
  #greeting: Uint8Array[];
  #stuck: Member[] = [];
  #dropping = false;
  #closed = false;
  #messages = 0;

  constructor(options: RoomOptions) {
    this.#options = options;
    this.#greeting = options.greeting.map((line) => encode(line + "\n"));
  }

  /** Messages and actions posted since the room opened. */
  get messages(): number {
    return this.#messages;
  }

  /** Members now. */
  get size(): number {
    return this.#members.size;
  }

  get full(): boolean {
    return this.#members.size >= this.#options.maxMembers;
  }

  /** Names, sorted case-insensitively. */
  names(): string[] {
    return [...this.#members.values()].map((member) => member.name).sort((a, b) =>
      nameKey(a) < nameKey(b) ? -1 : nameKey(a) > nameKey(b) ? 1 : 0
    );
  }

  /** The roster as the info service shows it. */
  roster(): MemberView[] {
    return [...this.#members.values()].map(({ name, joinedAt }) => ({ name, joinedAt }));
  }

  /** True if `member` is in the room (not dropped, not left). */
  has(member: Member): boolean {
    return this.#members.get(nameKey(member.name)) === member;
  }

  /**
   * Adds a member under `name` (already valid): it gets the join line, the
   * greeting and the history; everyone else gets `* name joined`.
   */
  join(member: Member, name: string): Refusal | null {
    if (this.#closed || this.full) return "full";
    const key = nameKey(name);
    if (this.#members.has(key)) return "taken";
    member.name = name;
    member.joinedAt = Date.now();
    this.#members.set(key, member);
    this.#options.log.event(`${CHAT_LABEL} ${name} joined from ${member.peer}`);
    this.send(member, joinedLine(name, this.names()));
    for (const line of this.#greeting) this.#push(member, line);
    const history = this.#recentHistory();
    if (history.length > 0) {
      this.send(member, historyLine(history.length));
      for (const line of history) this.#push(member, line);
    }
    this.#broadcast(encode(joinedNotice(name) + "\n"), member);
    this.#dropStuck();
    return null;
  }

  /** Removes a member (idempotent); the others get `* name left (reason)`. */
  leave(member: Member, reason?: string): void {
    if (!this.has(member)) return;
    this.#members.delete(nameKey(member.name));
    const suffix = reason ? ` (${reason})` : "";
    this.#options.log.event(`${CHAT_LABEL} ${member.name} left${suffix}`);
    if (!this.#closed) this.#broadcast(encode(leftNotice(member.name, reason) + "\n"), member);
    this.#dropStuck();
  }

  /** Changes a member's name (already valid); everyone is told. */
  rename(member: Member, name: string): Refusal | null {
    if (name === member.name) return "same";
    const key = nameKey(name);
    const holder = this.#members.get(key);
    if (holder !== undefined && holder !== member) return "taken";
    const old = member.name;
    this.#members.delete(nameKey(old));
    member.name = name;
    this.#members.set(key, member);
    this.#options.log.event(`${CHAT_LABEL} ${old} is now known as ${name}`);
    this.send(member, youAreNowLine(name));
    this.#broadcast(encode(renamedNotice(old, name) + "\n"), member);
    this.#dropStuck();
    return null;
  }

  /** A message from `member` (text already neutralised) to everyone else. */
  say(member: Member, text: string): void {
    this.#post(
      member,
      messageLine(clock(new Date()), member.name, text),
      `${member.name}: ${text}`,
    );
  }

  /** A /me action. */
  act(member: Member, text: string): void {
    this.#post(
      member,
      actionLine(clock(new Date()), member.name, text),
      `* ${member.name} ${text}`,
    );
  }

  /** A line for one member; if its queue is full it is dropped as stuck. */
  send(member: Member, line: string): void {
    this.#push(member, encode(line + "\n"));
    this.#dropStuck();
  }

  /**
   * The server is shutting down: no more joins, posts or leave notices (the
   * server sends every connection SHUTDOWN_NOTICE itself).
   */
  close(): void {
    this.#closed = true;
  }

  #post(member: Member, line: string, logged: string): void {
    if (this.#closed) return;
    this.#messages++;
    if (!this.#options.log.quiet) {
      const shown = logged.length > 200 ? logged.slice(0, 200) + "..." : logged;
      this.#options.log.event(`${CHAT_LABEL} ${printable(shown)}`);
    }
    const bytes = encode(line + "\n");
    if (this.#options.history > 0) {
      this.#history.push(bytes);
      if (this.#history.length > this.#options.history) this.#history.shift();
    }
    this.#broadcast(bytes, member);
    this.#dropStuck();
  }

  #broadcast(bytes: Uint8Array, except: Member): void {
    for (const member of this.#members.values()) {
      if (member !== except) this.#push(member, bytes);
    }
  }

  #push(member: Member, bytes: Uint8Array): void {
    if (!member.outbox.push(bytes) && this.has(member) && !this.#stuck.includes(member)) {
      this.#stuck.push(member);
    }
  }

  // Drops happen after a broadcast loop, never inside it: each drop broadcasts
  // a notice, which may find more stuck members, handled by the same loop.
  #dropStuck(): void {
    if (this.#dropping) return;
    this.#dropping = true;
    try {
      for (let member = this.#stuck.shift(); member; member = this.#stuck.shift()) {
        if (!this.has(member)) continue;
        this.#options.log.info(
          `${CHAT_LABEL} Dropping ${member.name} (${member.peer}): ${member.outbox.pending} bytes queued and not reading`,
        );
        member.outbox.discard();
        member.disconnect();
        this.leave(member, STUCK_REASON);
      }
    } finally {
      this.#dropping = false;
    }
  }

  // The newest messages that fit in half a member's buffer, oldest first.
  #recentHistory(): Uint8Array[] {
    const budget = this.#options.buffer / 2;
    let used = 0;
    let start = this.#history.length;
    while (start > 0 && used + this.#history[start - 1]!.length <= budget) {
      start--;
      used += this.#history[start]!.length;
    }
    return this.#history.slice(start);
  }
}
