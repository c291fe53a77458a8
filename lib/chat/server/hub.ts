/**
 * The chat of one server: every member (names are unique server-wide, so
 * /msg can find anyone), the rooms (#lobby always, others created by /join up
 * to a cap and removed when their last member leaves), and the slow-member
 * rule. Everything here is synchronous: a line is queued on each member's
 * Outbox and the hub moves on. A member whose queue overflows is dropped
 * after the broadcast that found it, never during it, and its room is told.
 *
 * With a cluster (--redis), a relay is attached: every local event is also
 * handed to it, events of other instances come back through deliver(), and
 * names, /users, /rooms and the roster include the other instances' members.
 * Claiming a name cluster-wide is asynchronous and happens before join()
 * and rename() (see session.ts); the hub itself stays synchronous.
 */
import type { Logger } from "../../base/logger.ts";
import { printable } from "../../base/text.ts";
import {
  type ChatEvent,
  type HistoryEvent,
  historyKey,
  isHistoryEvent,
  type KickEvent,
  type PrivateEvent,
  Rendered,
  type RoomEvent,
  systemBytes,
} from "../events.ts";
import {
  CHAT_LABEL,
  historyLine,
  joinedLine,
  joinedRoomLine,
  LOBBY,
  nameKey,
  youAreNowLine,
  youWereKickedLine,
} from "../protocol.ts";
import type { MemberInfo, RemoteMember } from "../members.ts";
import type { HubRelay } from "../cluster/relay.ts";
import { type Member, Room } from "./room.ts";

export type { Member } from "./room.ts";

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

/** Why the hub did not do a join, rename or move. */
export type HubRefusal = "taken" | "full" | "same" | "rooms";

/** Reason given to the room for a member dropped because its queue overflowed. */
export const STUCK_REASON = "disconnected: not reading";

/** Every member and room of one chat server. */
export class Hub {
  #options: HubOptions;
  #members = new Map<string, Member>();
  #rooms = new Map<string, Room>();
  /** The greeting as text lines and as JSON system events (a WebSocket member's form). */
  #greeting: { text: Uint8Array; json: Uint8Array }[];
  #stuck: Member[] = [];
  #dropping = false;
  #closed = false;
  #messages = 0;
  #relay: HubRelay | null = null;
  /** Rooms new here whose past is being read from the cluster, and what was said meanwhile. */
  #expected = new Map<string, { said: HistoryEvent[]; readers: number }>();
  #push = (member: Member, bytes: Uint8Array) => this.#enqueue(member, bytes);

  constructor(options: HubOptions) {
    this.#options = options;
    this.#greeting = options.greeting.map((line) => ({
      text: systemBytes(line, false),
      json: systemBytes(line, true),
    }));
    this.#openRoom(LOBBY);
  }

  /** Messages and actions posted since the server started. */
  get messages(): number {
    return this.#messages;
  }

  /** Members now, in every room. */
  get size(): number {
    return this.#members.size;
  }

  /** Members now on every instance of the cluster (this one alone without a cluster). */
  get total(): number {
    return this.#members.size + (this.#relay?.others().length ?? 0);
  }

  /** The cluster layer, once attached. */
  get relay(): HubRelay | null {
    return this.#relay;
  }

  /** Connects the hub to a cluster layer: from now on local events are relayed. */
  attach(relay: HubRelay): void {
    this.#relay = relay;
  }

  /** The local members, as a cluster layer registers them (name, room, joinedAt). */
  locals(): MemberInfo[] {
    return [...this.#members.values()].map(({ name, room, joinedAt }) => ({
      name,
      room: room?.name ?? LOBBY,
      joinedAt,
    }));
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

  /** Names in `member`'s room (on every instance), sorted case-insensitively. */
  names(room: Room | null): string[] {
    if (!room) return [];
    const names = [...room.members].map((member) => member.name);
    if (this.#relay) {
      const key = nameKey(room.name);
      for (const other of this.#relay.others()) {
        if (nameKey(other.room) === key) names.push(other.name);
      }
    }
    return sortNames(names);
  }

  /** Rooms on this instance, #lobby included. */
  get roomCount(): number {
    return this.#rooms.size;
  }

  /** Every room (on every instance) with its member count, by name. */
  rooms(): { room: string; members: number }[] {
    const counts = new Map<string, { room: string; members: number }>();
    for (const room of this.#rooms.values()) {
      counts.set(nameKey(room.name), { room: room.name, members: room.size });
    }
    for (const other of this.#relay?.others() ?? []) {
      const key = nameKey(other.room);
      const entry = counts.get(key) ?? { room: other.room, members: 0 };
      entry.members++;
      counts.set(key, entry);
    }
    return [...counts.values()].sort((a, b) => compareKeys(a.room, b.room));
  }

  /** The roster as the info service shows it (every instance): by room, then by name. */
  roster(): MemberInfo[] {
    const relay = this.#relay;
    const mine = relay ? { instance: relay.instance } : {};
    const views: MemberInfo[] = [...this.#members.values()]
      .map(({ name, room, joinedAt }) => ({ name, room: room?.name ?? LOBBY, joinedAt, ...mine }));
    for (const other of relay?.others() ?? []) views.push({ ...other });
    return views.sort((a, b) => compareKeys(a.room, b.room) || compareKeys(a.name, b.name));
  }

  /** The spelling of a room another instance has (by its key), if any. */
  remoteRoom(key: string): string | undefined {
    return this.#relay?.others().find((other) => nameKey(other.room) === key)?.room;
  }

  /** True if a room called `name` exists on this instance. */
  hasRoom(name: string): boolean {
    return this.#rooms.has(nameKey(name));
  }

  /** The room called `name` (any case), if it exists (never creates one). */
  findRoom(name: string): Room | undefined {
    return this.#rooms.get(nameKey(name));
  }

  /**
   * Adds a member under `name` (already valid) to #lobby: it gets the join
   * line, the greeting and the history; the room gets a join event.
   */
  join(member: Member, name: string): HubRefusal | null {
    if (this.#closed || this.full) return "full";
    const key = nameKey(name);
    if (this.#members.has(key)) return "taken";
    member.name = name;
    member.joinedAt = Date.now();
    this.#members.set(key, member);
    this.#options.log.event(`${CHAT_LABEL} ${name} joined from ${member.peer}`);
    const lobby = this.#openRoom(LOBBY)!;
    this.#enter(member, lobby, (names) => joinedLine(name, names), true);
    return null;
  }

  /**
   * Moves a member to the room `name` (already valid), creating it if need
   * be; a new room starts with `history` (the cluster's, read beforehand).
   */
  move(member: Member, name: string, history: HistoryEvent[] = []): HubRefusal | null {
    const from = member.room;
    if (from && nameKey(from.name) === nameKey(name)) return "same";
    // A room that exists on another instance keeps the spelling it has there.
    const key = nameKey(name);
    if (!this.#rooms.has(key)) name = this.remoteRoom(key) ?? name;
    const to = this.#openRoom(name, this.#withSaidMeanwhile(key, history));
    if (!to) return "rooms";
    if (from) this.#exit(member, from, `moved to ${to.name}`);
    this.#options.log.event(`${CHAT_LABEL} ${member.name} moved to ${to.name}`);
    this.#relay?.moved(member.name, to.name);
    this.#enter(member, to, (names) => joinedRoomLine(to.name, names), false);
    return null;
  }

  /**
   * Call before reading the past of a room new here from the cluster, and
   * the returned function once move() is done. Meanwhile what other
   * instances say in that room is kept, and move() adds it to the past it
   * is given: the read and the live events travel apart, and a line said
   * between them would otherwise be in neither.
   */
  expectRoom(name: string): () => void {
    const key = nameKey(name);
    const entry = this.#expected.get(key) ?? { said: [], readers: 0 };
    entry.readers++;
    this.#expected.set(key, entry);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--entry.readers === 0) this.#expected.delete(key);
    };
  }

  #withSaidMeanwhile(key: string, history: HistoryEvent[]): HistoryEvent[] {
    const said = this.#expected.get(key)?.said ?? [];
    if (said.length === 0) return history;
    const known = new Set(history.map(historyKey));
    return [...history, ...said.filter((event) => !known.has(historyKey(event)))];
  }

  /** Removes a member (idempotent); its room gets a leave event with `reason`. */
  leave(member: Member, reason?: string): void {
    if (!this.has(member)) return;
    this.#members.delete(nameKey(member.name));
    const suffix = reason ? ` (${reason})` : "";
    this.#options.log.event(`${CHAT_LABEL} ${member.name} left${suffix}`);
    if (member.room) this.#exit(member, member.room, reason);
    if (!this.#closed) this.#relay?.released(member.name);
    this.#dropStuck();
  }

  /** Changes a member's name (already valid); its room is told and keeps it in history. */
  rename(member: Member, name: string): HubRefusal | null {
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
    if (room) {
      const event = { type: "rename", room: room.name, from: old, to: name, ts: now() } as const;
      room.publish(event, member);
      this.#relay?.publish(event);
    }
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
    const said = action ? { ...event, action: true as const } : event;
    room.publish(said, member.echo ? undefined : member);
    this.#relay?.publish(said);
    this.#dropStuck();
  }

  /**
   * `/msg`: to `to` and back to `from`, never to anyone else and never kept.
   * A member of another instance gets it through the cluster. False when
   * nobody has that name.
   */
  whisper(from: Member, to: string, text: string): boolean {
    if (this.#closed) return false;
    const target = this.find(to);
    const remote = target ? undefined : this.remote(to);
    const toName = target?.name ?? remote?.name;
    if (toName === undefined) return false;
    // The log says who wrote to whom, never what.
    this.#options.log.event(`${CHAT_LABEL} private message from ${from.name} to ${toName}`);
    const event = { type: "private", from: from.name, to: toName, text, ts: now() } as const;
    const rendered = new Rendered(event);
    this.#enqueue(from, rendered.bytes(from.json));
    if (target && target !== from) this.#enqueue(target, rendered.bytes(target.json));
    if (remote) this.#relay?.publish(event);
    this.#dropStuck();
    return true;
  }

  /** The member of another instance called `name` (any case), if the cluster knows one. */
  remote(name: string): RemoteMember | undefined {
    const key = nameKey(name);
    return this.#relay?.others().find((other) => nameKey(other.name) === key);
  }

  /**
   * An event from another instance: a room event goes to this instance's
   * members of that room (and into its history), a private message to its
   * recipient here, a kick (an operator's there) removes its member here.
   * Never relayed again.
   */
  deliver(event: RoomEvent | PrivateEvent | KickEvent): void {
    if (this.#closed) return;
    if (event.type === "kick") {
      const target = this.find(event.to);
      if (target) this.#kick(`${event.from} (on another server)`, event.from, target, event.reason);
    } else if (event.type === "private") {
      const target = this.find(event.to);
      const shown = { ...event, to: target?.name ?? event.to }; // the name as its owner spells it
      if (target) this.#enqueue(target, new Rendered(shown).bytes(target.json));
    } else {
      const key = nameKey(event.room);
      const room = this.#rooms.get(key);
      if (room) {
        // Already shown to its members as the past the room was created with.
        if (!room.takeSeeded(event)) room.publish(event);
      } else if (isHistoryEvent(event)) {
        const said = this.#expected.get(key)?.said;
        if (said && said.push(event) > this.#options.history) said.shift();
      }
    }
    this.#dropStuck();
  }

  /** `/kick`: removes `target` with a last line; its room is told who kicked it. */
  kick(by: Member, target: Member, reason: string): void {
    this.#kick(by.name, by.name, target, reason);
  }

  /**
   * `/kick` of `name`, a member of another instance: that instance removes
   * it. The operator was checked here; the instances of a cluster trust
   * each other (they share Redis).
   */
  kickRemote(by: Member, name: string, reason: string): void {
    this.#options.log.info(`${CHAT_LABEL} ${by.name} (${by.peer}) kicks ${name} on another server`);
    this.#relay?.publish({ type: "kick", from: by.name, to: name, reason, ts: now() });
  }

  #kick(logged: string, by: string, target: Member, reason: string): void {
    const why = `kicked by ${by}${reason ? ": " + reason : ""}`;
    this.#options.log.info(
      `${CHAT_LABEL} ${target.name} (${target.peer}) kicked by ${logged}${
        reason ? ": " + reason : ""
      }`,
    );
    this.leave(target, why);
    target.finish(youWereKickedLine(why));
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
    if (greet) {
      for (const line of this.#greeting) this.#enqueue(member, member.json ? line.json : line.text);
    }
    this.#sendHistory(member, room, true);
    const event = { type: "join", room: room.name, name: member.name, ts: now() } as const;
    room.publish(event, member);
    this.#relay?.publish(event);
    this.#dropStuck();
  }

  #exit(member: Member, room: Room, reason?: string): void {
    room.members.delete(member);
    member.room = null;
    if (!this.#closed) {
      const event = { type: "leave", room: room.name, name: member.name, ts: now() } as const;
      const left = reason ? { ...event, reason } : event;
      room.publish(left);
      this.#relay?.publish(left);
    }
    if (room.size === 0 && room.name !== LOBBY) this.#rooms.delete(nameKey(room.name));
  }

  #sendHistory(member: Member, room: Room, header: boolean): void {
    const lines = room.recentHistory(member, this.#options.buffer / 2);
    if (lines.length === 0) return;
    if (header) this.send(member, historyLine(lines.length));
    for (const line of lines) this.#enqueue(member, line);
  }

  /**
   * The room called `name`, created (with `history`) if there is room for
   * one more; null if not.
   */
  #openRoom(name: string, history: HistoryEvent[] = []): Room | null {
    const key = nameKey(name);
    const existing = this.#rooms.get(key);
    if (existing) return existing;
    if (this.#rooms.size >= this.#options.maxRooms) return null;
    const room = new Room(name, { history: this.#options.history, push: this.#push });
    room.seed(history);
    this.#rooms.set(key, room);
    return room;
  }

  /** Gives #lobby the cluster's history, if it has none of its own yet (at start). */
  seedLobby(history: HistoryEvent[]): void {
    const lobby = this.#rooms.get(nameKey(LOBBY))!;
    if (lobby.history().length === 0) lobby.seed(history);
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
