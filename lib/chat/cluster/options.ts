/**
 * The options of a chat cluster instance, their defaults and their checks.
 * Every interval the cluster waits out is one of them, and its clock too
 * (ClusterTiming), so tests run the same logic on milliseconds.
 */
import { backoff } from "../../base/backoff.ts";
import type { ClusterTiming } from "../cluster_config.ts";
import type { MemberInfo } from "../members.ts";
import type { ClusterEvent } from "./wire.ts";

// Defined beside the cluster flags, so a config can carry it (tests shorten it).
export type { ClusterTiming };

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
