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
 *     loss while the stream still holds the entries, no repeats): reader.ts.
 *   - Messages and renames are also added to a capped stream per room,
 *     `<cluster>:history:<room>`, which newcomers on any instance read:
 *     publisher.ts writes, history.ts reads.
 *   - Private messages go to the inbox stream of the instance holding the
 *     recipient's name (looked up inside Redis, atomically).
 *   - Names are claimed with Lua scripts (scripts.ts) on a hash
 *     `<cluster>:names` (case-insensitive key -> instance id), so a name is
 *     unique cluster-wide. Presence (name, room, joinedAt) lives in a hash per
 *     instance; changes are also written to the event stream, so every
 *     instance keeps a local cache that `members()` answers from at once:
 *     presence.ts.
 *   - Each instance refreshes a heartbeat key with an expiry. Every
 *     heartbeat also reaps the instances whose key expired: one atomic script
 *     frees their names and presence and writes one "instance gone" entry to
 *     the stream; every survivor turns that entry into leave events for its
 *     own members, exactly once.
 *
 * Failure behaviour (health.ts):
 *   - Redis unreachable at connect(): rejects with a clear Error within
 *     connectTimeoutMs.
 *   - Redis lost later: `degraded` turns true and ONE line is logged; publish()
 *     keeps queueing (bounded), claims are decided locally, the local chat goes
 *     on. The client reconnects with capped exponential backoff; then this
 *     instance re-registers with all its members (names someone else took
 *     meanwhile are reported through onConflict), sends what it queued, and
 *     logs ONE recovery line.
 *
 * Every interval the cluster waits out is an option (options.ts), and its
 * clock (`now`) too, so tests run the same logic on milliseconds.
 *
 * Permissions: only --allow-net to the Redis host (redis.ts says why no
 * --allow-env is needed).
 */
import { TIMED_OUT, within } from "../../base/deadline.ts";
import { type HistoryEvent, isHistoryEvent } from "../events.ts";
import type { RemoteMember } from "../members.ts";
import { redactUrl } from "../cluster_config.ts";
import { Health } from "./health.ts";
import {
  checkSettings,
  type ClusterOptions,
  DEFAULTS,
  reconnectDelay,
  type Settings,
} from "./options.ts";
import { HistoryMirror, historyStream, readHistory } from "./history.ts";
import { type ClusterInstance, Presence, SHUTDOWN_REASON } from "./presence.ts";
import { Publisher } from "./publisher.ts";
import { StreamReader } from "./reader.ts";
import {
  type Connections,
  errorText,
  isSilence,
  maskPassword,
  openConnections,
  ScriptRunner,
} from "./redis.ts";
import type { ClusterEvent } from "./wire.ts";

export type { ClusterEvent } from "./wire.ts";
export type { ClusterInstance } from "./presence.ts";
export { LOST_REASON, SHUTDOWN_REASON } from "./presence.ts";
export type { ClusterOptions, ClusterTiming } from "./options.ts";

/** Approximate MAXLEN of the event stream: the reconnect window (docs/cluster.md). */
const STREAM_LIMIT = 10_000;

/**
 * A unique instance id: 8 random hex digits and a label, e.g. "1f3a9c0e@web1:4000".
 * (The label is the caller's: reading the hostname would need --allow-sys.)
 */
export function newInstanceId(label: string): string {
  return `${crypto.randomUUID().slice(0, 8)}@${label.replace(/\s+/g, "_")}`;
}

/** One instance's membership of a chat cluster. */
export class ChatCluster {
  readonly instanceId: string;
  readonly clusterName: string;

  #settings: Settings;
  #connections: Connections;
  #health: Health;
  #presence: Presence;
  #publisher: Publisher;
  #reader: StreamReader;
  #mirror: HistoryMirror;
  #prefix: string;
  #eventHandlers: ((event: ClusterEvent, origin: string) => void)[] = [];
  #conflictHandlers: ((name: string, room: string) => void)[] = [];
  #resyncTimer: ReturnType<typeof setInterval> | undefined;
  #scripts: ScriptRunner;

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

  private constructor(settings: Settings, connections: Connections) {
    this.#settings = settings;
    this.instanceId = settings.instanceId;
    this.clusterName = settings.clusterName;
    this.#prefix = settings.clusterName + ":";
    this.#connections = connections;
    const { commands, reader } = connections;
    const retryDelay = (attempt: number) => reconnectDelay(settings, attempt);
    const scripts = new ScriptRunner(commands, this.#prefix, this.instanceId, STREAM_LIMIT);
    this.#scripts = scripts;
    this.#mirror = new HistoryMirror(settings.historyLimit);
    this.#health = new Health({
      log: settings.log,
      onDegraded: () => this.#publisher.resetDropped(),
      recovered: () =>
        `rejoined with ${this.#presence.ownCount} member(s), ` +
        `sending ${this.#publisher.queued} queued event(s), ` +
        `${this.#publisher.droppedWhileAway} dropped while away`,
      onRecovered: () => this.#publisher.flushSoon(),
    });
    const health = this.#health;
    this.#presence = new Presence({
      instanceId: this.instanceId,
      scripts,
      health,
      heartbeatMs: settings.heartbeatMs,
      expiryMs: settings.expiryMs,
      now: settings.now,
      log: settings.log,
      members: settings.members,
      emit: (event, origin) => this.#emit(event, origin),
      conflict: (name, room) => this.#conflict(name, room),
      requestResync: () => this.#reader.requestResync(),
      onGone: (id) => this.#reader.forget(id),
      commandsReady: () => commands.isReady,
      stats: this.stats,
    });
    this.#publisher = new Publisher({
      commands,
      scripts,
      instanceId: this.instanceId,
      prefix: this.#prefix,
      streamLimit: STREAM_LIMIT,
      historyLimit: settings.historyLimit,
      canWrite: () => !health.degraded && !health.closed,
      presenceWritten: () => this.#presence.written(),
      retryDelay,
      now: settings.now,
      stats: this.stats,
    });
    this.#reader = new StreamReader({
      conn: reader,
      instanceId: this.instanceId,
      prefix: this.#prefix,
      presence: this.#presence,
      health,
      mirror: this.#mirror,
      blockMs: settings.blockMs,
      retryDelay,
      unavailable: (error) => this.#unavailable(error),
      emit: (event, origin) => this.#emit(event, origin),
      now: settings.now,
      log: settings.log,
      stats: this.stats,
    });
  }

  /**
   * Connects two clients (commands; blocking reads), registers this instance
   * and reads the cluster's presence. Rejects with a clear Error (never
   * showing the password) if Redis does not answer within connectTimeoutMs,
   * or for bad options.
   */
  static async connect(options: ClusterOptions): Promise<ChatCluster> {
    const { onEvent, onConflict, ...given } = options;
    const settings: Settings = { ...DEFAULTS, ...given };
    checkSettings(settings);
    const shown = redactUrl(settings.url);
    let connections: Connections;
    try {
      connections = openConnections({
        url: settings.url,
        connectTimeoutMs: settings.connectTimeoutMs,
        silenceMs: settings.silenceMs,
        reconnectDelay: (retries) => reconnectDelay(settings, retries),
        refuse: (cause) =>
          new Error(`cluster: cannot connect to Redis at ${shown}: ${cause.message}`),
      });
    } catch (error) {
      throw new Error(`cluster: bad Redis URL ${shown}: ${errorText(error)}`);
    }
    const self = new ChatCluster(settings, connections);
    if (onEvent) self.#eventHandlers.push(onEvent);
    if (onConflict) self.#conflictHandlers.push(onConflict);
    const { commands, reader } = connections;
    // Listeners first: an 'error' event without one would crash the process.
    commands.on("error", (e) => self.#connectionLost("commands", e));
    reader.on("error", (e) => self.#connectionLost("reader", e));
    commands.on("ready", () => self.#commandsReady());

    const connecting = Promise.all([commands.connect(), reader.connect()]);
    connecting.catch(() => {}); // it may settle after the deadline won
    try {
      if (await within(connecting, settings.connectTimeoutMs) === TIMED_OUT) {
        throw new Error(
          `cluster: Redis at ${shown} did not answer within ${settings.connectTimeoutMs} ms`,
        );
      }
      await self.#scripts.load();
      await self.#presence.register();
      await self.#reader.resyncFromNow();
    } catch (error) {
      commands.destroy();
      reader.destroy();
      const message = maskPassword(errorText(error), settings.url);
      throw new Error(
        message.startsWith("cluster:")
          ? message
          : `cluster: cannot use Redis at ${shown}: ${message}`,
      );
    }
    connections.started();
    const health = self.#health;
    health.started = true;
    health.commandsUp = health.readerUp = true;
    self.#reader.start();
    self.#presence.startBeats();
    self.#resyncTimer = setInterval(() => self.#reader.requestResync(), settings.resyncMs);
    return self;
  }

  /** Events waiting to be written to Redis (backlog; grows while degraded). */
  get queued(): number {
    return this.#publisher.queued;
  }

  /** True while Redis is away (or this instance is not registered yet again). */
  get degraded(): boolean {
    return this.#health.degraded;
  }

  /** Events from OTHER instances (own events are the caller's to deliver). */
  onEvent(handler: (event: ClusterEvent, origin: string) => void): void {
    this.#eventHandlers.push(handler);
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
    return this.#presence.claimName(name, room);
  }

  /** Gives the name back (idempotent). Never throws. */
  releaseName(name: string): Promise<void> {
    return this.#presence.releaseName(name);
  }

  /** Renames atomically; "taken" if the new name belongs to anyone else. */
  rename(from: string, to: string): Promise<"ok" | "taken"> {
    return this.#presence.rename(from, to);
  }

  /** A member moved to another room (presence only; publish the notices yourself). */
  setRoom(name: string, room: string): void {
    this.#presence.setRoom(name, room);
  }

  /**
   * Sends an event to the other instances. Never throws, never waits: the
   * event is queued and written with others in one pipelined round trip.
   * While degraded, events stay queued (at most 10,000, the oldest dropped
   * first; anything older than 60 s is dropped rather than sent late) and go
   * out on reconnect. Private messages reach the instance that holds the
   * recipient's name when they are written; nobody gets one to an unknown
   * name (check members() first to tell the sender).
   */
  publish(event: ClusterEvent): void {
    if (this.#health.closing) return;
    if (isHistoryEvent(event)) this.#mirror.remember(event);
    this.#publisher.publish(event);
  }

  /**
   * The last `count` messages said in `room` anywhere in the cluster, oldest
   * first (what --chat-history shows a newcomer). Falls back to the local
   * mirror (what this instance said or received) when Redis is away.
   */
  async history(room: string, count: number): Promise<HistoryEvent[]> {
    count = Math.min(count, this.#settings.historyLimit);
    if (count <= 0) return [];
    if (!this.#health.degraded) {
      try {
        const key = historyStream(this.#prefix, room);
        const stored = await readHistory(this.#connections.commands, key, count);
        return [...stored, ...this.#publisher.pendingHistory(room)].slice(-count);
      } catch {
        // fall back below
      }
    }
    return this.#mirror.recent(room, count);
  }

  /** Cluster-wide presence from the local cache (no I/O). */
  members(): RemoteMember[] {
    return this.#presence.members();
  }

  /** The instances this one knows of, itself first. */
  instances(): ClusterInstance[] {
    return this.#presence.instances();
  }

  /**
   * Leaves the cluster: sends what is queued (up to closeWaitMs), gives back
   * every name and the presence (other instances show leave notices, reason
   * "server shut down", for members still listed), stops timers and connections.
   */
  async close(): Promise<void> {
    const health = this.#health;
    if (health.closing) return;
    health.closing = true;
    const wait = this.#settings.closeWaitMs;
    const bounded = (promise: Promise<unknown>) => within(promise.catch(() => {}), wait);
    this.#presence.stopBeats();
    clearInterval(this.#resyncTimer);
    this.#publisher.stop();
    if (!health.degraded) {
      this.#publisher.flushSoon();
      await bounded(this.#publisher.flushed());
      await bounded(this.#presence.written());
      await bounded(this.#scripts.run("BYE", [SHUTDOWN_REASON]));
    }
    health.closed = true;
    await this.#reader.stop();
    await bounded(this.#publisher.flushed());
    this.#publisher.stop(true);
    const { commands } = this.#connections;
    try {
      await bounded(commands.close());
    } finally {
      commands.destroy();
    }
  }

  #emit(event: ClusterEvent, origin: string): void {
    for (const handler of this.#eventHandlers) {
      try {
        handler(event, origin);
      } catch (error) {
        this.#settings.log(`cluster: event handler threw: ${errorText(error)}`);
      }
    }
  }

  #conflict(name: string, room: string): void {
    for (const handler of this.#conflictHandlers) {
      try {
        handler(name, room);
      } catch (error) {
        this.#settings.log(`cluster: conflict handler threw: ${errorText(error)}`);
      }
    }
  }

  #connectionLost(which: "commands" | "reader", error: unknown): void {
    const health = this.#health;
    if (!health.started || health.closed) return;
    if (which === "commands") health.commandsUp = false;
    else health.readerUp = false;
    health.update(this.#unavailable(error));
  }

  /** The degraded reason for a connection error, with any password masked. */
  #unavailable(error: unknown): string {
    const { url, silenceMs } = this.#settings;
    const text = isSilence(error)
      ? `no answer for ${silenceMs / 1000} s`
      : maskPassword(errorText(error), url);
    return `Redis at ${redactUrl(url)} unavailable: ${text}`;
  }

  #commandsReady(): void {
    const health = this.#health;
    if (!health.started || health.closing) return;
    health.commandsUp = true;
    void this.#presence.rejoin();
  }
}
