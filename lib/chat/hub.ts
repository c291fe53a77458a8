/**
 * The chat of one server: every member (names are unique server-wide, so
 * /msg can find anyone), the rooms (#lobby always, others created by /join up
 * to a cap and removed when their last member leaves), and the slow-member
 * rule. Everything here is synchronous: a line is queued on each member's
 * Outbox and the hub moves on. A member whose queue overflows is dropped
 * after the broadcast that found it, never during it, and its room is told.
 */
import type { Logger } from "../base/logger.ts";
import { encode, printable } from "../base/text.ts";
import { type ChatEvent, Rendered, systemBytes } from "./events.ts";
import {
  CHAT_LABEL,
  historyLine,
  joinedLine,
  joinedRoomLine,
  LOBBY,
  nameKey,
  youAreNowLine,
} from "./protocol.ts";
import { type Member, Room } from "./room.ts";

export type { Member } from "./room.ts";

/** A member as the info service's USERS shows it. */
export interface MemberView {
  name: string;
  /** The room it is in, e.g. "#lobby". */
  room: string;
  /** Date.now() when the member joined. */
  joinedAt: number;
}

/** Options of {@link Hub}. */
export interface HubOptions {
  /** Messages (and renames) each room keeps for newcomers. */
  history: number;
  /** Members on the server at once. */
  maxMembers: number;
  /** Rooms at once, #lobby included. */
  maxRooms: number;
  /** Each member's Outbox limit; a newcomer's history is cut to half of it. */
  buffer: number;
  /** Lines a newcomer gets right after the join line (the limits). */
  greeting: string[];
  log: Logger;
}

/** Why a join, rename or move did not happen. */
export type Refusal = "taken" | "full" | "same" | "rooms";

/** Reason given to the room for a member dropped because its queue overflowed. */
export const STUCK_REASON = "disconnected: not reading";

/** Every member and room of one chat server. */
export class Hub {
  #options: HubOptions;
  #members = new Map<string, Member>();
  #rooms = new Map<string, Room>();
  #greeting: Uint8Array[];
  #stuck: Member[] = [];
  #dropping = false;
  #closed = false;
  #messages = 0;
  #push = (member: Member, bytes: Uint8Array) => this.#enqueue(member, bytes);

  constructor(options: HubOptions) {
    this.#options = options;
    this.#greeting = options.greeting.map((line) => encode(line + "\n"));
    this.#room(LOBBY);
  }

  /** Messages and actions posted since the server started. */
  get messages(): number {
    return this.#messages;
  }

  /** Members now, in every room. */
  get size(): number {
    return this.#members.size;
  }

  get full(): boolean {
    return this.#members.size >= this.#options.maxMembers;
  }

  /** The member called `name` (any case), if any. */
  find(name: string): Member | undefined {
    return this.#members.get(nameKey(name));
  }

  /** True if `member` has joined (not dropped, not left). */
  has(member: Member): boolean {
    return this.#members.get(nameKey(member.name)) === member;
  }

  /** Names in `member`'s room, sorted case-insensitively. */
  names(room: Room | null): string[] {
    return room ? sortNames([...room.members].map((member) => member.name)) : [];
  }

  /** Every room with its member count, by name. */
  rooms(): { room: string; members: number }[] {
    return [...this.#rooms.values()]
      .map((room) => ({ room: room.name, members: room.size }))
      .sort((a, b) => compareKeys(a.room, b.room));
  }

  /** The roster as the info service shows it: by room, then by name. */
  roster(): MemberView[] {
    return [...this.#members.values()]
      .map(({ name, room, joinedAt }) => ({ name, room: room?.name ?? LOBBY, joinedAt }))
      .sort((a, b) => compareKeys(a.room, b.room) || compareKeys(a.name, b.name));
  }

  /** The room called `name` (any case), if it exists. */
  room(name: string): Room | undefined {
    return this.#rooms.get(nameKey(name));
  }

  /**
   * Adds a member under `name` (already valid) to #lobby: it gets the join
   * line, the greeting and the history; the room gets a join event.
   */
  join(member: Member, name: string): Refusal | null {
    if (this.#closed || this.full) return "full";
    const key = nameKey(name);
    if (this.#members.has(key)) return "taken";
    member.name = name;
    member.joinedAt = Date.now();
    this.#members.set(key, member);
    this.#options.log.event(`${CHAT_LABEL} ${name} joined from ${member.peer}`);
    const lobby = this.#room(LOBBY)!;
    this.#enter(member, lobby, (names) => joinedLine(name, names), true);
    return null;
  }

  /** Moves a member to the room `name` (already valid), creating it if need be. */
  move(member: Member, name: string): Refusal | null {
    const from = member.room;
    if (from && nameKey(from.name) === nameKey(name)) return "same";
    const to = this.#room(name);
    if (!to) return "rooms";
    if (from) this.#exit(member, from, `moved to ${to.name}`);
    this.#options.log.event(`${CHAT_LABEL} ${member.name} moved to ${to.name}`);
    this.#enter(member, to, (names) => joinedRoomLine(to.name, names), false);
    return null;
  }

  /** Removes a member (idempotent); its room gets a leave event with `reason`. */
  leave(member: Member, reason?: string): void {
    if (!this.has(member)) return;
    this.#members.delete(nameKey(member.name));
    const suffix = reason ? ` (${reason})` : "";
    this.#options.log.event(`${CHAT_LABEL} ${member.name} left${suffix}`);
    if (member.room) this.#exit(member, member.room, reason);
    this.#dropStuck();
  }

  /** Changes a member's name (already valid); its room is told and keeps it in history. */
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
    const room = member.room;
    room?.publish({ type: "rename", room: room.name, from: old, to: name, ts: now() }, member);
    this.#dropStuck();
    return null;
  }

  /** A message from `member` (text already neutralised) to its room. */
  say(member: Member, text: string, action = false): void {
    const room = member.room;
    if (this.#closed || !room) return;
    this.#messages++;
    if (!this.#options.log.quiet) {
      const logged = action ? `* ${member.name} ${text}` : `${member.name}: ${text}`;
      const shown = logged.length > 200 ? logged.slice(0, 200) + "..." : logged;
      this.#options.log.event(`${CHAT_LABEL} ${room.name} ${printable(shown)}`);
    }
    const event = { type: "message", room: room.name, from: member.name, text, ts: now() } as const;
    room.publish(action ? { ...event, action: true } : event, member.echo ? undefined : member);
    this.#dropStuck();
  }

  /**
   * `/msg`: to `to` and back to `from`, never to anyone else and never kept.
   * False when nobody has that name.
   */
  whisper(from: Member, to: string, text: string): boolean {
    const target = this.find(to);
    if (this.#closed || !target) return false;
    // The log says who wrote to whom, never what.
    this.#options.log.event(`${CHAT_LABEL} private message from ${from.name} to ${target.name}`);
    const rendered = new Rendered({
      type: "private",
      from: from.name,
      to: target.name,
      text,
      ts: now(),
    });
    this.#enqueue(from, rendered.bytes(from.json));
    if (target !== from) this.#enqueue(target, rendered.bytes(target.json));
    this.#dropStuck();
    return true;
  }

  /** `/kick`: removes `target` with a last line; its room is told who kicked it. */
  kick(by: Member, target: Member, reason: string): void {
    const why = `kicked by ${by.name}${reason ? ": " + reason : ""}`;
    this.#options.log.info(`${CHAT_LABEL} ${target.name} (${target.peer}) ${why}`);
    this.leave(target, why);
    target.finish(`! You were ${why}`);
  }

  /** A `! ...` line for one member (a JSON system event in JSON mode). */
  send(member: Member, line: string): void {
    this.#enqueue(member, systemBytes(line, member.json));
    this.#dropStuck();
  }

  /** A structured reply (users, rooms) for one member. */
  reply(member: Member, event: ChatEvent): void {
    this.#enqueue(member, new Rendered(event).bytes(member.json));
    this.#dropStuck();
  }

  /** `/json` turned on: the room's members, then (unless `history` is false) its history. */
  replay(member: Member, history: boolean): void {
    const room = member.room;
    if (!room) return;
    this.reply(member, { type: "users", room: room.name, users: this.names(room) });
    if (history) this.#sendHistory(member, room, false);
  }

  /**
   * The server is shutting down: no more joins, posts or leave notices (the
   * server sends every connection the shutdown notice itself).
   */
  close(): void {
    this.#closed = true;
  }

  #enter(member: Member, room: Room, joined: (names: string[]) => string, greet: boolean): void {
    member.room = room;
    room.members.add(member);
    this.send(member, joined(this.names(room)));
    if (greet) { for (const line of this.#greeting) this.#enqueue(member, line); }
    this.#sendHistory(member, room, true);
    room.publish({ type: "join", room: room.name, name: member.name, ts: now() }, member);
    this.#dropStuck();
  }

  #exit(member: Member, room: Room, reason?: string): void {
    room.members.delete(member);
    member.room = null;
    if (!this.#closed) {
      const event = { type: "leave", room: room.name, name: member.name, ts: now() } as const;
      room.publish(reason ? { ...event, reason } : event);
    }
    if (room.size === 0 && room.name !== LOBBY) this.#rooms.delete(nameKey(room.name));
  }

  #sendHistory(member: Member, room: Room, header: boolean): void {
    const lines = room.recentHistory(member, this.#options.buffer / 2);
    if (lines.length === 0) return;
    if (header) this.send(member, historyLine(lines.length));
    for (const line of lines) this.#enqueue(member, line);
  }

  /** The room called `name`, created if there is room for one more; null if not. */
  #room(name: string): Room | null {
    const key = nameKey(name);
    const existing = this.#rooms.get(key);
    if (existing) return existing;
    if (this.#rooms.size >= this.#options.maxRooms) return null;
    const room = new Room(name, { history: this.#options.history, push: this.#push });
    this.#rooms.set(key, room);
    return room;
  }

  #enqueue(member: Member, bytes: Uint8Array): void {
    if (!member.outbox.push(bytes) && this.has(member) && !this.#stuck.includes(member)) {
      this.#stuck.push(member);
    }
  }

  // Drops happen after a broadcast loop, never inside it: each drop publishes
  // a leave event, which may find more stuck members, handled by the same loop.
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
}

function now(): string {
  return new Date().toISOString();
}

function compareKeys(a: string, b: string): number {
  const x = nameKey(a);
  const y = nameKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function sortNames(names: string[]): string[] {
  return names.sort(compareKeys);
}
