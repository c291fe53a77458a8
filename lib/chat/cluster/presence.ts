/**
 * Who is where in the cluster. This instance's own members are the truth
 * (claimed in Redis with the Lua scripts, one op at a time); the other
 * instances' members are a local cache, kept from the presence entries of
 * the event stream and rebuilt from a snapshot now and then, so members()
 * answers at once. The heartbeat keeps this instance registered and reaps
 * the instances whose heartbeat expired; after an outage or a reap this
 * instance rejoins with all its members.
 */
import type { MemberInfo, RemoteMember } from "../members.ts";
import { nameKey } from "../protocol.ts";
import type { Health } from "./health.ts";
import type { RedisConn, ScriptRunner } from "./redis.ts";
import { type ClusterEvent, parseMember, type PresenceOp, type Reply } from "./wire.ts";

/** One instance as STATUS shows it. */
export interface ClusterInstance {
  id: string;
  members: number;
  /** Heartbeat seen lately (for this instance: not degraded). */
  alive: boolean;
  self: boolean;
}

/** Reasons given in leave events that the cluster makes up itself. */
export const LOST_REASON = "server lost";
export const SHUTDOWN_REASON = "server shut down";

/** Why this instance re-registers while Redis is up. */
export const DROPPED_REASON =
  "this instance was dropped from the cluster after missed heartbeats; re-registering";

/** Instances we remember having announced as gone (for join notices on return). */
const GONE_REMEMBERED = 64;

/** What this instance knows about another one. */
interface RemoteInstance {
  alive: boolean;
  members: Map<string, MemberInfo>;
  /** now() when a resync first did not find it registered. */
  missingSince?: number;
}

/** What {@link Presence} needs of its cluster. */
export interface PresenceOptions {
  instanceId: string;
  scripts: ScriptRunner;
  health: Health;
  /** How often the heartbeat key is refreshed (and dead instances looked for). */
  heartbeatMs: number;
  /** How long a heartbeat key lives; also the grace of an instance missing from a snapshot. */
  expiryMs: number;
  now: () => number;
  log: (line: string) => void;
  /** Members this instance already has (joining late, after running local-only). */
  members: readonly MemberInfo[];
  /** Hands an event made up here (leave or join notices) to the event handlers. */
  emit: (event: ClusterEvent, origin: string) => void;
  /** Tells the conflict handlers of a name lost to another instance. */
  conflict: (name: string, room: string) => void;
  /** Asks the read loop to rebuild the cache from a snapshot before its next read. */
  requestResync: () => void;
  /** An instance was announced as gone: its sequence numbers are not needed any more. */
  onGone: (id: string) => void;
  /** True while the command connection can take commands (no heartbeat otherwise). */
  commandsReady: () => boolean;
  stats: { reaped: number };
}

/** The cluster's members as this instance knows them, and its own registration. */
export class Presence {
  #options: PresenceOptions;
  // This instance's members, by name key. The truth for our own presence.
  #mine = new Map<string, MemberInfo>();
  // Other instances as last seen, and the members we announced as gone.
  #remote = new Map<string, RemoteInstance>();
  #gone = new Map<string, Map<string, MemberInfo>>();
  // Presence ops run one at a time (a rejoin must see a stable member list).
  #chain: Promise<unknown> = Promise.resolve();
  #rejoining: Promise<void> | null = null;
  #beatTimer: ReturnType<typeof setTimeout> | undefined;
  #beating = false;

  constructor(options: PresenceOptions) {
    this.#options = options;
    for (const member of options.members) {
      const { name, room, joinedAt } = member;
      this.#mine.set(nameKey(name), { name, room, joinedAt });
    }
  }

  /** This instance's members now. */
  get ownCount(): number {
    return this.#mine.size;
  }

  /** True if `name` (any case) is a member of this instance. */
  isOwn(name: string): boolean {
    return this.#mine.has(nameKey(name));
  }

  /** Settles once every presence op issued so far is done. */
  written(): Promise<unknown> {
    return this.#chain;
  }

  /** See ChatCluster.claimName. */
  claimName(name: string, room: string): Promise<"ok" | "taken"> {
    const key = nameKey(name);
    const { health, scripts, now } = this.#options;
    return this.#serial(async () => {
      if (health.closing || this.#mine.has(key)) return "taken";
      const member: MemberInfo = { name, room, joinedAt: now() };
      if (health.degraded) return this.#claimLocally(key, member);
      const json = JSON.stringify(member);
      try {
        const ok = await scripts.run("CLAIM", [
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

  /** See ChatCluster.releaseName. */
  releaseName(name: string): Promise<void> {
    const key = nameKey(name);
    const { health, scripts } = this.#options;
    return this.#serial(async () => {
      if (!this.#mine.delete(key) || health.degraded || health.closing) return;
      // On failure the rejoin after the outage drops it anyway.
      await scripts.run("RELEASE", [key, JSON.stringify({ op: "del", key })]).catch(() => {});
    });
  }

  /** See ChatCluster.rename. */
  rename(from: string, to: string): Promise<"ok" | "taken"> {
    const oldKey = nameKey(from);
    const newKey = nameKey(to);
    const { health, scripts } = this.#options;
    return this.#serial(async () => {
      const current = this.#mine.get(oldKey);
      if (health.closing || current === undefined) return "taken";
      if (newKey !== oldKey && this.#mine.has(newKey)) return "taken";
      const member: MemberInfo = { ...current, name: to };
      if (!health.degraded) {
        const op = { op: "rename", from: oldKey, key: newKey, member };
        try {
          const ok = await scripts.run("RENAME", [
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

  /** See ChatCluster.setRoom. */
  setRoom(name: string, room: string): void {
    const key = nameKey(name);
    const { health, scripts } = this.#options;
    void this.#serial(async () => {
      const current = this.#mine.get(key);
      if (current === undefined || current.room === room) return;
      const member = { ...current, room };
      this.#mine.set(key, member);
      if (health.degraded || health.closing) return;
      const op = JSON.stringify({ op: "set", key, member });
      await scripts.run("SET_ROOM", [key, JSON.stringify(member), op]).catch(() => {});
    });
  }

  /** Every member of the cluster from the local cache (no I/O), this instance's first. */
  members(): RemoteMember[] {
    const out: RemoteMember[] = [];
    for (const m of this.#mine.values()) out.push({ ...m, instance: this.#options.instanceId });
    for (const [id, inst] of this.#remote) {
      for (const m of inst.members.values()) out.push({ ...m, instance: id });
    }
    return out;
  }

  /** The instances this one knows of, itself first. */
  instances(): ClusterInstance[] {
    const self = this.#options.instanceId;
    const alive = !this.#options.health.degraded;
    const out: ClusterInstance[] = [{ id: self, members: this.#mine.size, alive, self: true }];
    for (const [id, inst] of this.#remote) {
      out.push({ id, members: inst.members.size, alive: inst.alive, self: false });
    }
    return out;
  }

  // -------------------------------------------------------------------------
  // Registration and heartbeat

  /** Re-registers with every member (single flight, serialised with presence ops). */
  rejoin(reason = "re-registering after a reconnect"): Promise<void> {
    if (this.#rejoining) return this.#rejoining;
    const health = this.#options.health;
    health.registered = false;
    health.update(reason);
    this.#rejoining = this.#serial(() => this.register())
      .catch(() => {/* retried on the next 'ready' or heartbeat */})
      .finally(() => this.#rejoining = null);
    return this.#rejoining;
  }

  /**
   * Registers this instance with its members now (at connect; rejoin()
   * otherwise). Names another instance took meanwhile go to the conflict
   * handlers. Throws what the connection throws.
   */
  async register(): Promise<void> {
    const { scripts, expiryMs, now, log, conflict, health } = this.#options;
    const args = [String(expiryMs), JSON.stringify({ startedAt: now() })];
    for (const [key, member] of this.#mine) args.push(key, JSON.stringify(member));
    const conflicts = await scripts.run("REJOIN", args) as string[];
    for (const key of conflicts ?? []) {
      const member = this.#mine.get(key);
      if (!member) continue;
      this.#mine.delete(key);
      log(`cluster: name "${member.name}" was taken on another instance while Redis was away`);
      conflict(member.name, member.room);
    }
    health.registered = true;
    this.#options.requestResync();
    health.update();
  }

  /** Starts the heartbeat (every heartbeatMs, less up to 10 % so instances spread out). */
  startBeats(): void {
    const { health, heartbeatMs } = this.#options;
    if (health.closing) return;
    const delay = heartbeatMs * (0.9 + Math.random() * 0.1);
    this.#beatTimer = setTimeout(() => {
      this.#beat().finally(() => this.startBeats());
    }, delay);
  }

  /** Stops the heartbeat. */
  stopBeats(): void {
    clearTimeout(this.#beatTimer);
  }

  async #beat(): Promise<void> {
    const { health, scripts, expiryMs, stats, commandsReady } = this.#options;
    if (this.#beating || health.closing || !commandsReady()) return;
    this.#beating = true;
    try {
      const reply = await scripts.run("BEAT", [String(expiryMs)]) as [number, string[]];
      stats.reaped += reply[1]?.length ?? 0;
      if (reply[0] !== 1) await this.rejoin(DROPPED_REASON);
      else if (!health.registered) await this.rejoin();
    } catch {
      // The connection's events report the outage.
    } finally {
      this.#beating = false;
    }
  }

  // -------------------------------------------------------------------------
  // The other instances, as the event stream and snapshots tell

  /** A presence op of another instance: set / del / rename (last writer wins). */
  applyOp(origin: string, op: PresenceOp): void {
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
  instanceGone(id: string, reason: string): void {
    const inst = this.#remote.get(id);
    if (!inst) return;
    this.#remote.delete(id);
    this.#options.onGone(id);
    this.#gone.set(id, inst.members);
    if (this.#gone.size > GONE_REMEMBERED) this.#gone.delete(this.#gone.keys().next().value!);
    const ts = this.#timestamp();
    for (const m of inst.members.values()) {
      this.#options.emit({ type: "leave", room: m.room, name: m.name, reason, ts }, id);
    }
  }

  /**
   * Another instance (re)registered with this member list. Members we had
   * announced as gone get join events again; others are added quietly (the
   * instance publishes their join notices itself).
   */
  instanceJoined(id: string, list: unknown): void {
    const members = new Map<string, MemberInfo>();
    for (const json of Array.isArray(list) ? list : []) {
      const m = typeof json === "string" ? parseMember(json) : null;
      if (m) members.set(nameKey(m.name), m);
    }
    const inst = this.#remoteFor(id);
    inst.alive = true;
    delete inst.missingSince;
    this.#replaceMembers(id, inst, members);
  }

  /**
   * Rebuilds the view of other instances from a snapshot read on `conn`
   * (the reader's connection, between two reads); returns the event
   * stream's last id. An instance no longer registered is given expiryMs of
   * grace (Redis may have restarted empty and the instance not re-registered
   * yet) before its members are announced as gone.
   */
  async resync(conn: RedisConn): Promise<string> {
    const { scripts, instanceId, expiryMs, now } = this.#options;
    const [lastId, list] = await scripts.run("SNAPSHOT", [], conn) as [string, Reply[]];
    const seen = new Set<string>();
    for (const item of list ?? []) {
      if (!Array.isArray(item)) continue;
      const id = String(item[0]);
      if (id === instanceId) continue;
      seen.add(id);
      const members = new Map<string, MemberInfo>();
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
    const at = now();
    for (const [id, inst] of [...this.#remote]) {
      if (seen.has(id)) continue;
      inst.missingSince ??= at;
      inst.alive = false;
      if (at - inst.missingSince >= expiryMs) this.instanceGone(id, LOST_REASON);
    }
    return lastId;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => {});
    return run;
  }

  #claimLocally(key: string, member: MemberInfo): "ok" | "taken" {
    if (this.#knownRemotely(key)) return "taken";
    this.#mine.set(key, member);
    return "ok";
  }

  #knownRemotely(key: string): boolean {
    for (const inst of this.#remote.values()) if (inst.members.has(key)) return true;
    return false;
  }

  #remoteFor(id: string): RemoteInstance {
    let inst = this.#remote.get(id);
    if (!inst) this.#remote.set(id, inst = { alive: true, members: new Map() });
    return inst;
  }

  #replaceMembers(id: string, inst: RemoteInstance, members: Map<string, MemberInfo>): void {
    const gone = this.#gone.get(id);
    inst.members = members;
    if (!gone) return;
    this.#gone.delete(id);
    const ts = this.#timestamp();
    for (const [key, m] of members) {
      if (gone.has(key)) {
        this.#options.emit({ type: "join", room: m.room, name: m.name, ts }, id);
      }
    }
  }

  #timestamp(): string {
    return new Date(this.#options.now()).toISOString();
  }
}
