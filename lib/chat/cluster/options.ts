/**
 * The options of a chat cluster instance, their defaults and their checks.
 * Every interval the cluster waits out is one of them, and its clock too
 * (ClusterTiming), so tests run the same logic on milliseconds.
 */
import { backoff } from "../../base/backoff.ts";
import type { MemberInfo } from "../members.ts";
import type { ClusterEvent } from "./wire.ts";

/** The intervals a cluster instance waits out, and its clock; every one has a default. */
export interface ClusterTiming {
  /** How often the heartbeat key is refreshed (and dead instances looked for). Default 2000 ms. */
  heartbeatMs?: number;
  /**
   * How long a heartbeat key lives. Default 9000 ms: a SIGKILLed instance is
   * reaped within expiryMs + heartbeatMs = about 11 s. At least twice heartbeatMs.
   */
  expiryMs?: number;
  /** How often the presence cache is rebuilt from Redis. Default 5000 ms. */
  resyncMs?: number;
  /** Bound on connect(): Redis must answer within this. Default 3000 ms. */
  connectTimeoutMs?: number;
  /**
   * A connection silent this long is dropped and made again (a hung Redis).
   * Default 6000 ms; at least twice heartbeatMs and blockMs.
   */
  silenceMs?: number;
  /** How long one XREAD blocks: also how late a due resync is noticed. Default 1000 ms. */
  blockMs?: number;
  /** Reconnect backoff: the first delay, doubling up to reconnectMaxMs (+25 % jitter). Default 100 ms. */
  reconnectMinMs?: number;
  /** Reconnect backoff: the longest delay before jitter. Default 3000 ms. */
  reconnectMaxMs?: number;
  /** How long close() waits for each step (the last writes, the goodbye). Default 1000 ms. */
  closeWaitMs?: number;
  /** The clock: milliseconds since the epoch, for join times, queue ages and timestamps. Default Date.now. */
  now?: () => number;
}

/** Options of {@link ChatCluster.connect}. */
export interface ClusterOptions extends ClusterTiming {
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
  /** Info lines: degraded (once per outage), recovered (once), conflicts. */
  log: (line: string) => void;
  /** Members this instance already has (joining late, after running local-only). */
  members?: readonly MemberInfo[];
  /** Called for each event of another instance (as {@link ChatCluster.onEvent}). */
  onEvent?: (event: ClusterEvent, origin: string) => void;
  /** Called for a name lost to another instance (as {@link ChatCluster.onConflict}). */
  onConflict?: (name: string, room: string) => void;
}

/** The options with every default filled in. */
export type Settings = Required<Omit<ClusterOptions, "onEvent" | "onConflict">>;

/** The defaults of the optional options. */
export const DEFAULTS = {
  clusterName: "socketkit",
  heartbeatMs: 2000,
  expiryMs: 9000,
  resyncMs: 5000,
  connectTimeoutMs: 3000,
  silenceMs: 6000,
  blockMs: 1000,
  reconnectMinMs: 100,
  reconnectMaxMs: 3000,
  closeWaitMs: 1000,
  now: Date.now,
  members: [],
};

/** The pause before reconnect attempt (or retry) number `attempt`. */
export function reconnectDelay(settings: Settings, attempt: number): number {
  const { reconnectMinMs, reconnectMaxMs } = settings;
  return backoff(attempt, { firstMs: reconnectMinMs, capMs: reconnectMaxMs, jitter: [1, 1.25] });
}

/** Throws for settings the cluster cannot work with. */
export function checkSettings(settings: Settings): void {
  if (!settings.instanceId || /\s/.test(settings.instanceId)) {
    throw new Error("cluster: bad instanceId");
  }
  if (!settings.clusterName || /\s/.test(settings.clusterName)) {
    throw new Error("cluster: bad clusterName");
  }
  if (settings.expiryMs < 2 * settings.heartbeatMs) {
    throw new Error("cluster: expiryMs must be at least twice heartbeatMs");
  }
  if (settings.silenceMs < 2 * Math.max(settings.heartbeatMs, settings.blockMs)) {
    throw new Error("cluster: silenceMs must be at least twice heartbeatMs and blockMs");
  }
}
