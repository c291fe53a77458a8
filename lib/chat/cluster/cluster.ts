/**
 * ChatCluster: several `socketkit serve` instances share one chat through a
 * Redis server (docs/cluster.md). Loaded only with --redis: importing
 * @redis/client costs a few hundred milliseconds at start.
 *
 * What crosses instances, and how:
 *   - Chat events (messages, join/leave/rename notices) go to one capped
 *     Redis stream per cluster, `<cluster>:events`. Every instance reads it
 *     with XREAD BLOCK ... COUNT on a connection of its own and remembers the
 *     last id it read, so a reconnect resumes exactly where it stopped (no
 *     loss while the stream still holds the entries, no repeats).
 *   - Messages and renames are also added to a capped stream per room,
 *     `<cluster>:history:<room>`, which newcomers on any instance read.
 *   - Private messages go to the inbox stream of the instance holding the
 *     recipient's name (looked up inside Redis, atomically).
 *   - Names are claimed with Lua scripts on a hash `<cluster>:names`
 *     (case-insensitive key -> instance id), so a name is unique
 *     cluster-wide. Presence (name, room, joinedAt) lives in a hash per
 *     instance; changes are also written to the event stream, so every
 *     instance keeps a local cache that `members()` answers from at once.
 *   - Each instance refreshes a heartbeat key with an expiry. Every
 *     heartbeat also reaps the instances whose key expired: one atomic script
 *     frees their names and presence and writes one "instance gone" entry to
 *     the stream; every survivor turns that entry into leave events for its
 *     own members, exactly once.
 *
 * Failure behaviour:
 *   - Redis unreachable at connect(): rejects with a clear Error within ~3 s.
 *   - Redis lost later: `degraded` turns true and ONE line is logged; publish()
 *     keeps queueing (bounded), claims are decided locally, the local chat goes
 *     on. The client reconnects with capped exponential backoff; then this
 *     instance re-registers with all its members (names someone else took
 *     meanwhile are reported through onConflict), sends what it queued, and
 *     logs ONE recovery line.
 *
 * Permissions: only --allow-net to the Redis host; see
 * {@link CLIENT_OPTIONS_NOTE} for why no --allow-env is needed.
 */
import { backoff } from "../../base/backoff.ts";
import { createClient } from "@redis/client";
import { printable } from "../../base/text.ts";
import {
  type HistoryEvent,
  isHistoryEvent,
  type KickEvent,
  type PrivateEvent,
  type RoomEvent,
} from "../events.ts";
import { isValidName, nameKey, roomName } from "../protocol.ts";
import { redactUrl } from "./config.ts";
import * as Scripts from "./scripts.ts";

// ---------------------------------------------------------------------------
// Public types

/** Options of {@link ChatCluster.connect}. */
export interface ClusterOptions {
  /**
   * redis://[[user]:password@]host:port[/db] (or rediss:// for TLS). The
   * password is never logged or put in an error message.
   */
  url: string;
  /** Namespace of every key, so several clusters can share one Redis. Default "socketkit". */
  clusterName?: string;
  /** Unique per process, e.g. `${crypto.randomUUID().slice(0, 8)}@host:port`. No spaces. */
  instanceId: string;
  /** Messages kept per room for newcomers, like --chat-history. 0 = no history. */
  historyLimit: number;
  /** How often the heartbeat key is refreshed (and dead instances looked for). Default 2000 ms. */
  heartbeatMs?: number;
  /**
   * How long a heartbeat key lives. Default 9000 ms: a SIGKILLed instance is
   * reaped within expiryMs + heartbeatMs (+10 % jitter) = about 11.2 s.
   */
  expiryMs?: number;
  /** How often the presence cache is rebuilt from Redis. Default 5000 ms. */
  resyncMs?: number;
  /** Approximate MAXLEN of the event stream: the reconnect window. Default 10000. */
  streamLimit?: number;
  /** Events queued while Redis is away; the oldest are dropped past this. Default 10000. */
  maxQueue?: number;
  /** Queued events older than this are dropped rather than sent late. Default 60000 ms. */
  maxQueueAgeMs?: number;
  /** Bound on connect(): Redis must answer within this. Default 3000 ms. */
  connectTimeoutMs?: number;
  /** A connection silent this long is dropped and made again (a hung Redis). Default 6000 ms. */
  silenceMs?: number;
  /** Info lines: degraded (once per outage), recovered (once), conflicts. */
  log: (line: string) => void;
  /** Members this instance already has (joining late, after running local-only). */
  members?: { name: string; room: string; joinedAt: number }[];
  /** Called for each event of another instance (as {@link ChatCluster.onEvent}). */
  onEvent?: (event: ClusterEvent, origin: string) => void;
  /** Called for a name lost to another instance (as {@link ChatCluster.onConflict}). */
  onConflict?: (name: string, room: string) => void;
}

/** What crosses instances: the chat's own room and private events, as they are, and kicks. */
export type ClusterEvent = RoomEvent | PrivateEvent | KickEvent;

/** Events for one member: they go to the inbox of the instance that holds the name. */
function isDirect(event: ClusterEvent): event is PrivateEvent | KickEvent {
  return event.type === "private" || event.type === "kick";
}

/** One member as USERS shows it. */
export interface ClusterMember {
  name: string;
  room: string;
  joinedAt: number;
  instance: string;
}

/** One instance as STATUS shows it. */
export interface ClusterInstance {
  id: string;
  members: number;
  /** Heartbeat seen lately (for this instance: not degraded). */
  alive: boolean;
  self: boolean;
}

/** Why this instance re-registers while Redis is up. */
const DROPPED_REASON =
  "this instance was dropped from the cluster after missed heartbeats; re-registering";

/** Reasons given in leave events that the cluster makes up itself. */
export const LOST_REASON = "server lost";
export const SHUTDOWN_REASON = "server shut down";

/** The longest text accepted from another instance, in characters (a line escaped 4x, and more). */
const MAX_REMOTE_TEXT = 64 * 1024;

/**
 * Why createClient gets `maintNotifications: "disabled"`: with the default
 * ("auto" under RESP3) @redis/client 6.3.1 reads the env var
 * REDIS_DEBUG_MAINTENANCE during every handshake, which under Deno needs
 * --allow-env and fails the connection without it. Its only other env var,
 * REDIS_EMIT_DIAGNOSTICS, is read on maintenance push messages only, which
 * are then never requested. We also pin RESP2 so raw replies are plain arrays.
 */
export const CLIENT_OPTIONS_NOTE = "maintNotifications disabled, RESP2";

/**
 * A unique instance id: 8 random hex digits and a label, e.g. "1f3a9c0e@web1:4000".
 * (The label is the caller's: reading the hostname would need --allow-sys.)
 */
export function newInstanceId(label: string): string {
  return `${crypto.randomUUID().slice(0, 8)}@${label.replace(/\s+/g, "_")}`;
}

/** `text` with the URL's password (if any) replaced by "***". */
function maskPassword(text: string, url: string): string {
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password ? text.replaceAll(password, "***") : text;
  } catch {
    return text; // not a URL: nothing to hide
  }
}

// ---------------------------------------------------------------------------
// Internals: the few client calls we use, typed narrowly

type Reply = string | number | null | Reply[];
/** setTimeout's handle (a number in Deno; the npm package's Node types say otherwise). */
type Timer = ReturnType<typeof setTimeout>;

/** The part of @redis/client's client this module uses. */
interface RedisConn {
  connect(): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  destroy(): void;
  close(): Promise<void>;
  duplicate(overrides?: Record<string, unknown>): RedisConn;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  readonly isReady: boolean;
}

/** A member of this instance as stored in Redis (the instance is implied). */
interface MemberRecord {
  name: string;
  room: string;
  joinedAt: number;
}

/** What this instance knows about another one. */
interface RemoteInstance {
  alive: boolean;
  members: Map<string, MemberRecord>;
  /** Date.now() when a resync first did not find it registered. */
  missingSince?: number;
}

/** A chat event waiting to be written to Redis. */
interface Outgoing {
  seq: number;
  event: ClusterEvent;
  data: string;
  queuedAt: number;
  /** Failed writes so far; an entry Redis keeps refusing is dropped after MAX_ATTEMPTS. */
  attempts: number;
}

const DEFAULTS = {
  clusterName: "socketkit",
  heartbeatMs: 2000,
  expiryMs: 9000,
  resyncMs: 5000,
  streamLimit: 10000,
  maxQueue: 10000,
  maxQueueAgeMs: 60000,
  connectTimeoutMs: 3000,
  silenceMs: 6000,
};
/** XREAD BLOCK: also bounds how late a due resync or close() is noticed. */
const BLOCK_MS = 1000;
/** A room's history stream goes this long after its last message or rename: 30 days. */
const HISTORY_TTL_MS = String(30 * 24 * 3600 * 1000);
/** Entries per XREAD. */
const READ_COUNT = 1000;
/** Events per pipelined flush. */
const FLUSH_BATCH = 512;
/** Writes of one event before it is given up (e.g. Redis answers an error, not a disconnect). */
const MAX_ATTEMPTS = 5;
/** MAXLEN of an instance's private-message inbox stream. */
const INBOX_LIMIT = 1000;
/** Reconnect backoff: 100 ms doubling to 3 s, plus up to 25 % jitter. */
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 3000;
/** Rooms whose recent history is mirrored locally (for history() while degraded). */
const MIRROR_ROOMS = 1024;
/** Instances we remember having announced as gone (for join notices on return). */
const GONE_REMEMBERED = 64;

function retryDelay(attempt: number): number {
  return backoff(attempt, { firstMs: BACKOFF_MIN_MS, capMs: BACKOFF_MAX_MS, jitter: [1, 1.25] });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function sha1(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Field list [f1, v1, f2, v2, ...] of a stream entry to an object. */
function fields(list: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(list)) return out;
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = String(list[i + 1]);
  return out;
}

function parseMember(json: string): MemberRecord | null {
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

/**
 * Checks an event read from Redis (written by another instance, perhaps of
 * another version) before use: names and rooms must be valid, text is made
 * printable again and cut. Null when it is not an event we know.
 */
function parseEvent(json: string): ClusterEvent | null {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof e !== "object" || e === null || typeof e.ts !== "string") return null;
  // Shown as a clock in text mode: anything but a valid instant becomes now.
  const when = Date.parse(e.ts.slice(0, 40));
  const ts = new Date(Number.isNaN(when) ? Date.now() : when).toISOString();
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

/** A sleep that close() can cut short. */
class Sleeper {
  #timers = new Map<Timer, () => void>();
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const id = setTimeout(() => {
        this.#timers.delete(id);
        resolve();
      }, ms);
      this.#timers.set(id, resolve);
    });
  }
  wakeAll(): void {
    for (const [id, resolve] of this.#timers) {
      clearTimeout(id);
      resolve();
    }
    this.#timers.clear();
  }
}

// ---------------------------------------------------------------------------

/** One instance's membership of a chat cluster. */
export class ChatCluster {
  readonly instanceId: string;
  readonly clusterName: string;

  #o: Required<ClusterOptions>;
  #prefix: string;
  #keys: { events: string; inbox: string };
  #cmd: RedisConn;
  #reader: RedisConn;
  #shas = new Map<string, string>();

  // Health. degraded = !(cmdOk && readerOk && registered).
  #cmdOk = true;
  #readerOk = true;
  #registered = false;
  #degraded = false;
  #degradedReason = "";
  #started = false;
  #closing = false;
  #closed = false;

  // This instance's members, by name key. The truth for our own presence.
  #mine = new Map<string, MemberRecord>();
  // Other instances as last seen, and the members we announced as gone.
  #remote = new Map<string, RemoteInstance>();
  #gone = new Map<string, Map<string, MemberRecord>>();

  // Reading.
  #lastEvents = "0-0";
  #lastInbox = "0-0";
  #lastSeq = { events: new Map<string, number>(), inbox: new Map<string, number>() };
  #resyncDue = true;
  #readLoop: Promise<void> = Promise.resolve();

  // Writing.
  // Sequence numbers: one series for the event stream (contiguous, so a
  // receiver can tell a gap), one for private messages.
  #seq = { events: 0, inbox: 0 };
  #lastGapLog = 0;
  #queue: Outgoing[] = [];
  #flushing: Promise<void> | null = null;
  #flushScheduled = false;
  #flushRetry: Timer | undefined;
  #flushFailures = 0;
  #dropped = 0;

  // Presence ops run one at a time (a rejoin must see a stable member list).
  #presenceChain: Promise<unknown> = Promise.resolve();
  #rejoining: Promise<void> | null = null;

  // Local mirror of recent messages per room: history() when Redis is away.
  #mirror = new Map<string, HistoryEvent[]>();

  #handlers: ((event: ClusterEvent, origin: string) => void)[] = [];
  #conflictHandlers: ((name: string, room: string) => void)[] = [];
  #beatTimer: Timer | undefined;
  #resyncTimer: ReturnType<typeof setInterval> | undefined;
  #beating = false;
  #sleeper = new Sleeper();

  /** Counters for STATUS / benchmarks. */
  readonly stats = {
    published: 0,
    received: 0,
    duplicatesDropped: 0,
    malformed: 0,
    queueDropped: 0,
    /** Events of other instances never received (gaps in their sequence). */
    missed: 0,
    reaped: 0,
  };

  private constructor(options: ClusterOptions, cmd: RedisConn, reader: RedisConn) {
    this.#o = { ...DEFAULTS, ...options } as Required<ClusterOptions>;
    this.instanceId = options.instanceId;
    this.clusterName = this.#o.clusterName;
    this.#prefix = this.#o.clusterName + ":";
    this.#keys = {
      events: this.#prefix + "events",
      inbox: this.#prefix + "inbox:" + this.instanceId,
    };
    this.#cmd = cmd;
    this.#reader = reader;
    for (const member of options.members ?? []) this.#mine.set(nameKey(member.name), { ...member });
    if (options.onEvent) this.#handlers.push(options.onEvent);
    if (options.onConflict) this.#conflictHandlers.push(options.onConflict);
  }

  /**
   * Connects two clients (commands; blocking reads), registers this instance
   * and reads the cluster's presence. Rejects with a clear Error (never
   * showing the password) if Redis does not answer within connectTimeoutMs.
   */
  static async connect(options: ClusterOptions): Promise<ChatCluster> {
    const o = { ...DEFAULTS, ...options };
    if (!o.instanceId || /\s/.test(o.instanceId)) throw new Error("cluster: bad instanceId");
    if (!o.clusterName || /\s/.test(o.clusterName)) throw new Error("cluster: bad clusterName");
    if (o.expiryMs < 2 * o.heartbeatMs) {
      throw new Error("cluster: expiryMs must be at least twice heartbeatMs");
    }
    if (o.silenceMs < 2 * Math.max(o.heartbeatMs, BLOCK_MS)) {
      throw new Error("cluster: silenceMs must be at least twice heartbeatMs");
    }
    const shown = redactUrl(o.url);
    let started = false;
    // Before connect() succeeds, a failed attempt ends it (an Error);
    // afterwards the clients reconnect for ever with backoff.
    const reconnectStrategy = (retries: number, cause: Error) =>
      started
        ? retryDelay(retries)
        : new Error(`cluster: cannot connect to Redis at ${shown}: ${cause.message}`);
    let cmd: RedisConn;
    try {
      const clientOptions = {
        url: o.url,
        RESP: 2,
        maintNotifications: "disabled", // see CLIENT_OPTIONS_NOTE: no env var reads
        disableOfflineQueue: true, // fail fast while away; our own queue decides
        socket: {
          connectTimeout: o.connectTimeoutMs,
          // A Redis that stops answering without closing (stopped, or a partition
          // that sends no reset) would otherwise be noticed by TCP keepalive only,
          // minutes later. Both connections are never quiet that long while Redis
          // answers: the reader's XREAD returns every BLOCK_MS, the heartbeat
          // writes every heartbeatMs and writes no more while one goes unanswered.
          socketTimeout: o.silenceMs,
          reconnectStrategy,
        },
      };
      cmd = createClient(
        clientOptions as Parameters<typeof createClient>[0],
      ) as unknown as RedisConn;
    } catch (error) {
      throw new Error(`cluster: bad Redis URL ${shown}: ${errorText(error)}`);
    }
    const reader = cmd.duplicate();
    const self = new ChatCluster(options, cmd, reader);
    // Listeners first: an 'error' event without one would crash the process.
    cmd.on("error", (e) => self.#connectionLost("cmd", e));
    reader.on("error", (e) => self.#connectionLost("reader", e));
    cmd.on("ready", () => self.#cmdReady());

    let timer: Timer | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`cluster: Redis at ${shown} did not answer within ${o.connectTimeoutMs} ms`),
          ),
        o.connectTimeoutMs,
      );
    });
    const connecting = Promise.all([cmd.connect(), reader.connect()]);
    connecting.catch(() => {}); // it may settle after the deadline won
    try {
      await Promise.race([connecting, deadline]);
      for (const [name, text] of Object.entries(Scripts)) self.#shas.set(name, await sha1(text));
      await self.#rejoinNow();
      await self.#resync(true);
    } catch (error) {
      cmd.destroy();
      reader.destroy();
      const message = maskPassword(errorText(error), o.url);
      throw new Error(
        message.startsWith("cluster:")
          ? message
          : `cluster: cannot use Redis at ${shown}: ${message}`,
      );
    } finally {
      clearTimeout(timer);
    }
    started = self.#started = true;
    self.#cmdOk = self.#readerOk = true;
    self.#readLoop = self.#read();
    self.#scheduleBeat();
    self.#resyncTimer = setInterval(() => self.#resyncDue = true, self.#o.resyncMs);
    return self;
  }

  /** Events waiting to be written to Redis (backlog; grows while degraded). */
  get queued(): number {
    return this.#queue.length;
  }

  /** True while Redis is away (or this instance is not registered yet again). */
  get degraded(): boolean {
    return this.#degraded;
  }

  /** Events from OTHER instances (own events are the caller's to deliver). */
  onEvent(handler: (event: ClusterEvent, origin: string) => void): void {
    this.#handlers.push(handler);
  }

  /**
   * Told when, after an outage, a name this instance kept locally turned out
   * to be taken elsewhere. The name is no longer this instance's in the
   * cluster; the caller should rename the member (claimName) or disconnect it.
   */
  onConflict(handler: (name: string, room: string) => void): void {
    this.#conflictHandlers.push(handler);
  }

  /**
   * Claims `name` cluster-wide (atomic, case-insensitive). While degraded the
   * answer is local: "taken" if this instance has it or the last-known
   * cluster view has it, else "ok"; the claim is then checked on reconnect
   * and a loss reported through onConflict.
   */
  claimName(name: string, room: string): Promise<"ok" | "taken"> {
    const key = nameKey(name);
    return this.#serial(async () => {
      if (this.#closing || this.#mine.has(key)) return "taken";
      const member: MemberRecord = { name, room, joinedAt: Date.now() };
      if (this.#degraded) return this.#claimLocally(key, member);
      const json = JSON.stringify(member);
      try {
        const ok = await this.#script("CLAIM", [
          key,
          json,
          JSON.stringify({ op: "set", key, member }),
        ]);
        if (ok !== 1) return "taken";
      } catch {
        // Lost Redis mid-call (it may or may not have run): decide locally;
        // the rejoin re-claims it either way.
        return this.#claimLocally(key, member);
      }
      this.#mine.set(key, member);
      return "ok";
    });
  }

  /** Gives the name back (idempotent). Never throws. */
  releaseName(name: string): Promise<void> {
    const key = nameKey(name);
    return this.#serial(async () => {
      if (!this.#mine.delete(key) || this.#degraded || this.#closing) return;
      // On failure the rejoin after the outage drops it anyway.
      await this.#script("RELEASE", [key, JSON.stringify({ op: "del", key })]).catch(() => {});
    });
  }

  /** Renames atomically; "taken" if the new name belongs to anyone else. */
  rename(from: string, to: string): Promise<"ok" | "taken"> {
    const oldKey = nameKey(from);
    const newKey = nameKey(to);
    return this.#serial(async () => {
      const current = this.#mine.get(oldKey);
      if (this.#closing || current === undefined) return "taken";
      if (newKey !== oldKey && this.#mine.has(newKey)) return "taken";
      const member: MemberRecord = { ...current, name: to };
      if (!this.#degraded) {
        const op = { op: "rename", from: oldKey, key: newKey, member };
        try {
          const ok = await this.#script("RENAME", [
            oldKey,
            newKey,
            JSON.stringify(member),
            JSON.stringify(op),
          ]);
          if (ok !== 1) return "taken";
        } catch {
          if (newKey !== oldKey && this.#knownRemotely(newKey)) return "taken";
        }
      } else if (newKey !== oldKey && this.#knownRemotely(newKey)) {
        return "taken";
      }
      this.#mine.delete(oldKey);
      this.#mine.set(newKey, member);
      return "ok";
    });
  }

  /** A member moved to another room (presence only; publish the notices yourself). */
  setRoom(name: string, room: string): void {
    const key = nameKey(name);
    void this.#serial(async () => {
      const current = this.#mine.get(key);
      if (current === undefined || current.room === room) return;
      const member = { ...current, room };
      this.#mine.set(key, member);
      if (this.#degraded || this.#closing) return;
      const op = JSON.stringify({ op: "set", key, member });
      await this.#script("SET_ROOM", [key, JSON.stringify(member), op]).catch(() => {});
    });
  }

  /**
   * Sends an event to the other instances. Never throws, never waits: the
   * event is queued and written with others in one pipelined round trip.
   * While degraded, events stay queued (at most maxQueue, the oldest dropped
   * first; anything older than maxQueueAgeMs is dropped rather than sent
   * late) and go out on reconnect. Private messages reach the instance that
   * holds the recipient's name when they are written; nobody gets one to an
   * unknown name (check with locate() first to tell the sender).
   */
  publish(event: ClusterEvent): void {
    if (this.#closing) return;
    const entry: Outgoing = {
      seq: isDirect(event) ? ++this.#seq.inbox : ++this.#seq.events,
      event,
      data: JSON.stringify(event),
      queuedAt: Date.now(),
      attempts: 0,
    };
    if (isHistoryEvent(event)) this.#remember(event);
    this.#queue.push(entry);
    if (this.#queue.length > this.#o.maxQueue) {
      this.#queue.shift();
      this.#dropped++;
      this.stats.queueDropped++;
    }
    this.#scheduleFlush();
  }

  /**
   * The last `count` messages said in `room` anywhere in the cluster, oldest
   * first (what --chat-history shows a newcomer). Falls back to the local
   * mirror (what this instance said or received) when Redis is away.
   */
  async history(room: string, count: number): Promise<HistoryEvent[]> {
    count = Math.min(count, this.#o.historyLimit);
    if (count <= 0) return [];
    const pending = this.#queue.map((q) => q.event)
      .filter((event): event is HistoryEvent =>
        isHistoryEvent(event) && nameKey(event.room) === nameKey(room)
      );
    if (!this.#degraded) {
      try {
        // A few extra in case a retried write left a duplicate.
        const key = this.#prefix + "history:" + nameKey(room);
        const newest = ["XREVRANGE", key, "+", "-", "COUNT", String(count + 8)];
        const reply = await this.#cmd.sendCommand(newest) as Reply[];
        const seen = new Set<string>();
        const out: HistoryEvent[] = [];
        for (const entry of reply ?? []) {
          if (!Array.isArray(entry)) continue;
          const f = fields(entry[1] ?? null);
          const id = `${f.o}/${f.s}`;
          if (seen.has(id)) continue;
          seen.add(id);
          const event = parseEvent(f.d ?? "");
          if (event !== null && isHistoryEvent(event)) out.push(event);
        }
        out.reverse();
        return [...out, ...pending].slice(-count);
      } catch {
        // fall back below
      }
    }
    return (this.#mirror.get(nameKey(room)) ?? []).slice(-count);
  }

  /** Cluster-wide presence from the local cache (no I/O). */
  members(): ClusterMember[] {
    const out: ClusterMember[] = [];
    for (const m of this.#mine.values()) out.push({ ...m, instance: this.instanceId });
    for (const [id, inst] of this.#remote) {
      for (const m of inst.members.values()) out.push({ ...m, instance: id });
    }
    return out;
  }

  /** Where a member is, from the local cache (for /msg: "no such user" at once). */
  locate(name: string): ClusterMember | undefined {
    const key = nameKey(name);
    const own = this.#mine.get(key);
    if (own) return { ...own, instance: this.instanceId };
    for (const [id, inst] of this.#remote) {
      const m = inst.members.get(key);
      if (m) return { ...m, instance: id };
    }
    return undefined;
  }

  /** The instances this one knows of, itself first. */
  instances(): ClusterInstance[] {
    const out: ClusterInstance[] = [
      { id: this.instanceId, members: this.#mine.size, alive: !this.#degraded, self: true },
    ];
    for (const [id, inst] of this.#remote) {
      out.push({ id, members: inst.members.size, alive: inst.alive, self: false });
    }
    return out;
  }

  /**
   * Leaves the cluster: sends what is queued (up to ~1 s), gives back every
   * name and the presence (other instances show leave notices, reason
   * "shutdown", for members still listed), stops timers and connections.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearTimeout(this.#beatTimer);
    clearInterval(this.#resyncTimer);
    clearTimeout(this.#flushRetry);
    if (!this.#degraded) {
      this.#scheduleFlush();
      await this.#within(this.#flushing ?? Promise.resolve(), 1000);
      await this.#within(this.#presenceChain, 1000);
      await this.#within(this.#script("BYE", [SHUTDOWN_REASON]).catch(() => {}), 1000);
    }
    this.#closed = true;
    this.#sleeper.wakeAll();
    this.#reader.destroy(); // unblocks the XREAD
    await this.#readLoop;
    await this.#within(this.#flushing ?? Promise.resolve(), 1000);
    clearTimeout(this.#flushRetry);
    try {
      await this.#within(this.#cmd.close(), 1000);
    } finally {
      this.#cmd.destroy();
    }
    this.#queue = [];
  }

  // -------------------------------------------------------------------------
  // Health

  #connectionLost(which: "cmd" | "reader", error: unknown): void {
    if (!this.#started || this.#closed) return;
    if (which === "cmd") this.#cmdOk = false;
    else this.#readerOk = false;
    this.#updateHealth(this.#unavailable(error));
  }

  /** The degraded reason for a connection error, with any password masked. */
  #unavailable(error: unknown): string {
    // @redis/client's SocketTimeoutError (socketTimeout above) has no name of its own.
    const silent = error instanceof Error && error.constructor.name === "SocketTimeoutError";
    const text = silent
      ? `no answer for ${this.#o.silenceMs / 1000} s`
      : maskPassword(errorText(error), this.#o.url);
    return `Redis at ${redactUrl(this.#o.url)} unavailable: ${text}`;
  }

  #cmdReady(): void {
    if (!this.#started || this.#closing) return;
    this.#cmdOk = true;
    void this.#rejoin();
  }

  #updateHealth(reason = ""): void {
    const degraded = !(this.#cmdOk && this.#readerOk && this.#registered);
    if (degraded === this.#degraded) return;
    this.#degraded = degraded;
    if (this.#closing) return;
    if (degraded) {
      this.#degradedReason = reason;
      this.#dropped = 0;
      this.#o.log(
        `cluster: degraded (${reason || "Redis unavailable"}); ` +
          `local members keep talking locally; reconnecting`,
      );
    } else {
      const queued = this.#queue.length;
      this.#o.log(
        `cluster: Redis is back; rejoined with ${this.#mine.size} member(s), ` +
          `sending ${queued} queued event(s), ${this.#dropped} dropped while away`,
      );
      this.#scheduleFlush();
    }
  }

  // -------------------------------------------------------------------------
  // Scripts and presence

  async #script(name: keyof typeof Scripts, args: string[], conn = this.#cmd): Promise<Reply> {
    const sha = this.#shas.get(name)!;
    const common = [this.#prefix, this.instanceId, String(this.#o.streamLimit)];
    try {
      return await conn.sendCommand(["EVALSHA", sha, "0", ...common, ...args]) as Reply;
    } catch (error) {
      if (!errorText(error).includes("NOSCRIPT")) throw error;
      return await conn.sendCommand(["EVAL", Scripts[name], "0", ...common, ...args]) as Reply;
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#presenceChain.then(fn, fn);
    this.#presenceChain = run.catch(() => {});
    return run;
  }

  #claimLocally(key: string, member: MemberRecord): "ok" | "taken" {
    if (this.#knownRemotely(key)) return "taken";
    this.#mine.set(key, member);
    return "ok";
  }

  #knownRemotely(key: string): boolean {
    for (const inst of this.#remote.values()) if (inst.members.has(key)) return true;
    return false;
  }

  /** Re-registers with every member (single flight, serialised with presence ops). */
  #rejoin(reason = "re-registering after a reconnect"): Promise<void> {
    if (this.#rejoining) return this.#rejoining;
    this.#registered = false;
    this.#updateHealth(reason);
    this.#rejoining = this.#serial(() => this.#rejoinNow())
      .catch(() => {/* retried on the next 'ready' or heartbeat */})
      .finally(() => this.#rejoining = null);
    return this.#rejoining;
  }

  async #rejoinNow(): Promise<void> {
    const args = [String(this.#o.expiryMs), JSON.stringify({ startedAt: Date.now() })];
    for (const [key, member] of this.#mine) args.push(key, JSON.stringify(member));
    const conflicts = await this.#script("REJOIN", args) as string[];
    for (const key of conflicts ?? []) {
      const member = this.#mine.get(key);
      if (!member) continue;
      this.#mine.delete(key);
      this.#o.log(
        `cluster: name "${member.name}" was taken on another instance while Redis was away`,
      );
      for (const handler of this.#conflictHandlers) {
        try {
          handler(member.name, member.room);
        } catch (error) {
          this.#o.log(`cluster: conflict handler threw: ${errorText(error)}`);
        }
      }
    }
    this.#registered = true;
    this.#resyncDue = true;
    this.#updateHealth();
  }

  #scheduleBeat(): void {
    if (this.#closing) return;
    const delay = this.#o.heartbeatMs * (0.9 + Math.random() * 0.1);
    this.#beatTimer = setTimeout(() => {
      this.#beat().finally(() => this.#scheduleBeat());
    }, delay);
  }

  async #beat(): Promise<void> {
    if (this.#beating || this.#closing || !this.#cmd.isReady) return;
    this.#beating = true;
    try {
      const reply = await this.#script("BEAT", [String(this.#o.expiryMs)]) as [number, string[]];
      this.stats.reaped += reply[1]?.length ?? 0;
      if (reply[0] !== 1) await this.#rejoin(DROPPED_REASON);
      else if (!this.#registered) await this.#rejoin();
    } catch {
      // The connection's events report the outage.
    } finally {
      this.#beating = false;
    }
  }

  // -------------------------------------------------------------------------
  // Writing

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#flushing || this.#degraded || this.#queue.length === 0) {
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
        this.#scheduleFlush();
      });
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0 && !this.#degraded && !this.#closed) {
      // Presence first: a member's move or departure is written before the
      // notices published with it, so an instance that shows "* bob left"
      // already lists bob where he went (or not at all).
      await this.#presenceChain;
      if (this.#degraded || this.#closed) break;
      const now = Date.now();
      while (this.#queue.length > 0 && now - this.#queue[0]!.queuedAt > this.#o.maxQueueAgeMs) {
        this.#queue.shift();
        this.#dropped++;
        this.stats.queueDropped++;
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
        this.stats.published += failed;
        const again = batch.slice(failed).filter((entry) => ++entry.attempts < MAX_ATTEMPTS);
        this.#dropped += batch.length - failed - again.length;
        this.#queue.unshift(...again);
        // Retry after a pause; a reconnect (recovery) flushes at once anyway.
        clearTimeout(this.#flushRetry);
        this.#flushRetry = setTimeout(
          () => this.#scheduleFlush(),
          retryDelay(this.#flushFailures++),
        );
        return;
      }
      this.#flushFailures = 0;
      this.stats.published += batch.length;
    }
  }

  #write(entry: Outgoing): Promise<unknown> {
    const { event, seq, data } = entry;
    const me = this.instanceId;
    const limit = String(this.#o.streamLimit);
    if (isDirect(event)) {
      return this.#script("PRIVATE", [nameKey(event.to), String(seq), data, String(INBOX_LIMIT)]);
    }
    // Stream entry fields: o origin, k kind ("e" = chat event), s sequence, d JSON.
    const body = ["o", me, "k", "e", "s", String(seq), "d", data];
    const events = ["XADD", this.#keys.events, "MAXLEN", "~", limit, "*", ...body];
    const writes = [this.#cmd.sendCommand(events)];
    if (isHistoryEvent(event) && this.#o.historyLimit > 0) {
      const room = this.#prefix + "history:" + nameKey(event.room);
      const cap = String(this.#o.historyLimit);
      writes.push(this.#cmd.sendCommand(["XADD", room, "MAXLEN", "~", cap, "*", ...body]));
      // A room nobody speaks in any more leaves nothing behind in Redis for ever.
      writes.push(this.#cmd.sendCommand(["PEXPIRE", room, HISTORY_TTL_MS]));
    }
    return Promise.all(writes);
  }

  #remember(event: HistoryEvent): void {
    if (this.#o.historyLimit <= 0) return;
    const key = nameKey(event.room);
    let list = this.#mirror.get(key);
    if (!list) {
      // Bounded in rooms too: the least recently created goes first.
      if (this.#mirror.size >= MIRROR_ROOMS) this.#mirror.delete(this.#mirror.keys().next().value!);
      this.#mirror.set(key, list = []);
    }
    list.push(event);
    if (list.length > this.#o.historyLimit) list.shift();
  }

  // -------------------------------------------------------------------------
  // Reading

  async #read(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      try {
        if (this.#resyncDue) await this.#resync(false);
        const { events, inbox } = this.#keys;
        const read = ["XREAD", "COUNT", String(READ_COUNT), "BLOCK", String(BLOCK_MS)];
        read.push("STREAMS", events, inbox, this.#lastEvents, this.#lastInbox);
        const reply = await this.#reader.sendCommand(read) as Reply[] | null;
        if (!this.#readerOk) {
          this.#readerOk = true;
          this.#updateHealth();
        }
        failures = 0;
        if (reply) this.#handleRead(reply);
      } catch (error) {
        if (this.#closed) break;
        this.#readerOk = false;
        this.#resyncDue = true;
        this.#updateHealth(this.#unavailable(error));
        await this.#sleeper.sleep(retryDelay(failures++));
      }
    }
  }

  #handleRead(reply: Reply[]): void {
    for (const stream of reply) {
      if (!Array.isArray(stream)) continue;
      const isInbox = stream[0] === this.#keys.inbox;
      const entries = stream[1];
      if (!Array.isArray(entries)) continue;
      for (const entry of entries) {
        if (!Array.isArray(entry)) continue;
        const id = String(entry[0]);
        if (isInbox) this.#lastInbox = id;
        else this.#lastEvents = id;
        try {
          this.#handleEntry(fields(entry[1] ?? null), isInbox);
        } catch (error) {
          this.stats.malformed++;
          this.#o.log(`cluster: skipped a stream entry: ${errorText(error)}`);
        }
      }
    }
  }

  #handleEntry(f: Record<string, string>, isInbox: boolean): void {
    const origin = f.o ?? "";
    switch (f.k) {
      case "e": {
        if (origin === this.instanceId) return;
        const seq = Number(f.s);
        const seen = isInbox ? this.#lastSeq.inbox : this.#lastSeq.events;
        if (seq <= (seen.get(origin) ?? 0)) {
          this.stats.duplicatesDropped++;
          return;
        }
        const last = seen.get(origin);
        seen.set(origin, seq);
        if (!isInbox && last !== undefined && seq > last + 1) this.#gap(origin, seq - last - 1);
        const event = parseEvent(f.d ?? "");
        if (event === null) {
          this.stats.malformed++;
          return;
        }
        if (isDirect(event) && !this.#mine.has(nameKey(event.to))) return;
        if (isHistoryEvent(event)) this.#remember(event);
        this.stats.received++;
        this.#emit(event, origin);
        return;
      }
      case "p":
        if (origin !== this.instanceId) this.#applyOp(origin, JSON.parse(f.d ?? "{}"));
        return;
      case "x":
        if (origin === this.instanceId) {
          // We were reaped (too long without a heartbeat) but are alive: re-register.
          if (!this.#closing) void this.#rejoin(DROPPED_REASON);
          return;
        }
        this.#instanceGone(origin, String(JSON.parse(f.d ?? "{}").reason ?? LOST_REASON));
        return;
      case "j":
        if (origin !== this.instanceId) {
          this.#instanceJoined(origin, JSON.parse(f.d ?? "{}").members);
        }
        return;
    }
  }

  /**
   * Events of `origin` never reached us: dropped from its queue during an
   * outage, or trimmed from the stream (MAXLEN) before this reader got to
   * them. Counted, logged at most every 10 s, and the presence is re-read.
   */
  #gap(origin: string, missed: number): void {
    this.stats.missed += missed;
    this.#resyncDue = true;
    const now = Date.now();
    if (now - this.#lastGapLog < 10000) return;
    this.#lastGapLog = now;
    this.#o.log(
      `cluster: missed ${missed} event(s) from ${origin} (queue overflow or stream trimmed)`,
    );
  }

  #emit(event: ClusterEvent, origin: string): void {
    for (const handler of this.#handlers) {
      try {
        handler(event, origin);
      } catch (error) {
        this.#o.log(`cluster: event handler threw: ${errorText(error)}`);
      }
    }
  }

  #remoteFor(id: string): RemoteInstance {
    let inst = this.#remote.get(id);
    if (!inst) this.#remote.set(id, inst = { alive: true, members: new Map() });
    return inst;
  }

  /** A presence op of another instance: set / del / rename (last writer wins). */
  #applyOp(
    origin: string,
    op: { op?: string; key?: string; from?: string; member?: unknown },
  ): void {
    const inst = this.#remoteFor(origin);
    inst.alive = true;
    if (op.op === "del" && typeof op.key === "string") inst.members.delete(op.key);
    if (op.op === "rename" && typeof op.from === "string") inst.members.delete(op.from);
    if ((op.op === "set" || op.op === "rename") && typeof op.key === "string") {
      const member = parseMember(JSON.stringify(op.member));
      if (member) inst.members.set(op.key, member);
    }
  }

  /** Another instance is gone (reaped or closed): leave events for its members we still list. */
  #instanceGone(id: string, reason: string): void {
    const inst = this.#remote.get(id);
    if (!inst) return;
    this.#remote.delete(id);
    // Its sequence numbers are not needed any more (ids are new at every start).
    this.#lastSeq.events.delete(id);
    this.#lastSeq.inbox.delete(id);
    this.#gone.set(id, inst.members);
    if (this.#gone.size > GONE_REMEMBERED) this.#gone.delete(this.#gone.keys().next().value!);
    const ts = new Date().toISOString();
    for (const m of inst.members.values()) {
      this.#emit({ type: "leave", room: m.room, name: m.name, reason, ts }, id);
    }
  }

  /**
   * Another instance (re)registered with this member list. Members we had
   * announced as gone get join events again; others are added quietly (the
   * instance publishes their join notices itself).
   */
  #instanceJoined(id: string, list: unknown): void {
    const members = new Map<string, MemberRecord>();
    for (const json of Array.isArray(list) ? list : []) {
      const m = typeof json === "string" ? parseMember(json) : null;
      if (m) members.set(nameKey(m.name), m);
    }
    const inst = this.#remoteFor(id);
    inst.alive = true;
    delete inst.missingSince;
    this.#replaceMembers(id, inst, members);
  }

  #replaceMembers(id: string, inst: RemoteInstance, members: Map<string, MemberRecord>): void {
    const gone = this.#gone.get(id);
    inst.members = members;
    if (!gone) return;
    this.#gone.delete(id);
    const ts = new Date().toISOString();
    for (const [key, m] of members) {
      if (gone.has(key)) this.#emit({ type: "join", room: m.room, name: m.name, ts }, id);
    }
  }

  /**
   * Rebuilds the view of other instances from Redis (on the reader
   * connection, between two reads). Runs at start, after a reconnect and
   * every resyncMs. An instance no longer registered is given expiryMs of
   * grace (Redis may have restarted empty and the instance not re-registered
   * yet) before its members are announced as gone.
   */
  async #resync(initial: boolean): Promise<void> {
    this.#resyncDue = false;
    const [lastId, list] = await this.#script("SNAPSHOT", [], this.#reader) as [string, Reply[]];
    if (initial) this.#lastEvents = lastId;
    const now = Date.now();
    const seen = new Set<string>();
    for (const item of list ?? []) {
      if (!Array.isArray(item)) continue;
      const id = String(item[0]);
      if (id === this.instanceId) continue;
      seen.add(id);
      const members = new Map<string, MemberRecord>();
      const flat = Array.isArray(item[3]) ? item[3] : [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const m = parseMember(String(flat[i + 1]));
        if (m) members.set(String(flat[i]), m);
      }
      const inst = this.#remoteFor(id);
      inst.alive = item[2] === 1;
      delete inst.missingSince;
      this.#replaceMembers(id, inst, members);
    }
    for (const [id, inst] of [...this.#remote]) {
      if (seen.has(id)) continue;
      inst.missingSince ??= now;
      inst.alive = false;
      if (now - inst.missingSince >= this.#o.expiryMs) this.#instanceGone(id, LOST_REASON);
    }
  }

  async #within(promise: Promise<unknown>, ms: number): Promise<void> {
    let timer: Timer | undefined;
    await Promise.race([
      promise.catch(() => {}),
      new Promise<void>((resolve) => timer = setTimeout(resolve, ms)),
    ]);
    clearTimeout(timer);
  }
}
