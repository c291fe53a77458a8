/**
 * The glue between one server's Hub and the cluster (ChatCluster over
 * Redis): local events go out, other instances' events come in through
 * Hub.deliver, names are claimed cluster-wide, and a name lost during a split
 * is renamed. With --redis-optional a Redis that is down at start is retried
 * in the background while the chat runs local-only. Loaded only with --redis.
 */
import { backoff } from "../../base/backoff.ts";
import { RuntimeError } from "../../base/errors.ts";
import type { Logger } from "../../base/logger.ts";
import type { HistoryEvent } from "../events.ts";
import type { RemoteMember } from "../members.ts";
import type { HubRelay, RelayedHub } from "./relay.ts";
import type { ClusterEvent } from "./wire.ts";
import { CHAT_LABEL, isValidName, nameKey, nameTakenElsewhereLine } from "../protocol.ts";
import { ChatCluster, type ClusterInstance, newInstanceId } from "./cluster.ts";
import { type ClusterConfig, type ClusterWaits, connectUrl, redactUrl } from "../cluster_config.ts";
import { errorText } from "./redis.ts";

/** The cluster as STATUS shows it. */
export interface ClusterView {
  /** --cluster-name. */
  name: string;
  /** This instance's id. */
  instance: string;
  /** "joined"; "degraded" while Redis is away; "local-only" before the first join. */
  state: "joined" | "degraded" | "local-only";
  /** Events waiting to be written to Redis. */
  queued: number;
  /** Every instance this one knows of, itself first. */
  instances: ClusterInstance[];
  /** Events of other instances that never arrived (gaps). */
  missed: number;
}

/** Options of {@link startCluster}; the waits (ClusterWaits) default to the real ones. */
export interface ClusterStartOptions extends ClusterWaits {
  config: ClusterConfig;
  /** "127.0.0.1:9001": where this instance's chat listens, for its id. */
  label: string;
  /** --chat-history: messages each room keeps. */
  history: number;
  log: Logger;
}

/**
 * Joins the cluster and attaches it to `hub`. Throws RuntimeError when Redis
 * cannot be used, unless --redis-optional: then the chat runs local-only
 * and keeps trying in the background.
 */
export async function startCluster(
  hub: RelayedHub,
  options: ClusterStartOptions,
): Promise<ClusterLink> {
  const link = new ClusterLink(hub, options);
  try {
    await link.connect();
  } catch (error) {
    const reason = errorText(error).replace(/^cluster: /, "");
    if (!options.config.optional) {
      throw new RuntimeError(
        `Cannot join the chat cluster: ${reason}; start Redis, fix --redis, or add --redis-optional to run local-only`,
        { cause: error },
      );
    }
    options.log.info(
      `${CHAT_LABEL} cluster: ${reason}; running local-only (--redis-optional), retrying in the background`,
    );
    link.retry();
  }
  return link;
}

/** One instance's link to the cluster. */
export class ClusterLink implements HubRelay {
  readonly instance: string;
  #hub: RelayedHub;
  #options: ClusterStartOptions;
  #cluster: ChatCluster | null = null;
  #closed = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connecting: Promise<void> | null = null;
  /** Names lost while connecting (a late join after --redis-optional), handled once attached. */
  #lostWhileJoining: string[] = [];

  constructor(hub: RelayedHub, options: ClusterStartOptions) {
    this.#hub = hub;
    this.#options = options;
    this.instance = newInstanceId(options.label);
  }

  /** Connects once; throws on failure (the password never shows). */
  async connect(): Promise<void> {
    const { config, log } = this.#options;
    const url = connectUrl(config);
    const registered = this.#hub.locals();
    const cluster = await ChatCluster.connect({
      ...this.#options.timing,
      url,
      clusterName: config.name,
      instanceId: this.instance,
      historyLimit: this.#options.history,
      log: (line) => log.info(`${CHAT_LABEL} ${line}`),
      members: registered,
      onEvent: (event) => this.#hub.deliver(event),
      onConflict: (name) => {
        if (this.#cluster) void this.#conflict(name).catch(() => {});
        else this.#lostWhileJoining.push(name);
      },
    });
    if (this.#closed) {
      await cluster.close();
      return;
    }
    this.#cluster = cluster;
    if (registered.length === 0) {
      this.#hub.seedLobby(await cluster.history("#lobby", this.#options.history));
    }
    this.#hub.attach(this);
    for (const name of this.#lostWhileJoining.splice(0)) {
      void this.#conflict(name).catch(() => {});
    }
    log.info(
      `${CHAT_LABEL} cluster: joined "${config.name}" at ${
        redactUrl(url)
      } as ${this.instance} (${cluster.instances().length} instance(s))`,
    );
    // Members who came or went while the connection was being made.
    const now = new Set(this.#hub.locals().map((member) => nameKey(member.name)));
    for (const member of registered) {
      if (!now.has(nameKey(member.name))) void cluster.releaseName(member.name);
    }
    const before = new Set(registered.map((member) => nameKey(member.name)));
    for (const member of this.#hub.locals()) {
      if (before.has(nameKey(member.name))) continue;
      void cluster.claimName(member.name, member.room).then((result) => {
        if (result === "taken") void this.#conflict(member.name).catch(() => {});
      });
    }
  }

  /** Keeps trying to join, with backoff, until it works or close(). */
  retry(attempt = 0): void {
    if (this.#closed) return;
    const delay = backoff(attempt, {
      firstMs: this.#options.joinRetryMinMs ?? 1000,
      capMs: this.#options.joinRetryMaxMs ?? 10_000,
      jitter: [0.75, 1],
    });
    this.#retryTimer = setTimeout(() => {
      this.#connecting = this.connect().catch(() => this.retry(attempt + 1))
        .finally(() => this.#connecting = null);
    }, delay);
  }

  claim(name: string, room: string): Promise<"ok" | "taken"> {
    return this.#cluster?.claimName(name, room) ?? Promise.resolve("ok");
  }

  rename(from: string, to: string): Promise<"ok" | "taken"> {
    return this.#cluster?.rename(from, to) ?? Promise.resolve("ok");
  }

  history(room: string): Promise<HistoryEvent[]> {
    return this.#cluster?.history(room, this.#options.history) ?? Promise.resolve([]);
  }

  publish(event: ClusterEvent): void {
    this.#cluster?.publish(event);
  }

  moved(name: string, room: string): void {
    this.#cluster?.setRoom(name, room);
  }

  released(name: string): void {
    void this.#cluster?.releaseName(name);
  }

  others(): RemoteMember[] {
    const cluster = this.#cluster;
    if (!cluster) return [];
    return cluster.members().filter((member) => member.instance !== this.instance);
  }

  /** For STATUS. */
  view(): ClusterView {
    const cluster = this.#cluster;
    const name = this.#options.config.name;
    if (!cluster) {
      return {
        name,
        instance: this.instance,
        state: "local-only",
        queued: 0,
        instances: [{ id: this.instance, members: this.#hub.size, alive: false, self: true }],
        missed: 0,
      };
    }
    return {
      name,
      instance: this.instance,
      state: cluster.degraded ? "degraded" : "joined",
      queued: cluster.queued,
      instances: cluster.instances(),
      missed: cluster.stats.missed,
    };
  }

  /** Leaves the cluster: other instances show this one's members leaving ("server shut down"). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.#connecting;
    await this.#cluster?.close();
  }

  /**
   * A name this instance kept while Redis was away was taken on another
   * instance meanwhile: the local member is renamed to NAME_2 (or _3...)
   * and told why; if none of those is free it is disconnected.
   */
  async #conflict(name: string): Promise<void> {
    const member = this.#hub.find(name);
    const cluster = this.#cluster;
    if (!member || !cluster) return;
    for (let n = 2; n <= 9; n++) {
      const candidate = `${name.slice(0, 30)}_${n}`;
      if (!isValidName(candidate) || this.#hub.find(candidate)) continue;
      if (await cluster.claimName(candidate, member.room?.name ?? "#lobby") !== "ok") continue;
      if (!this.#hub.has(member)) return cluster.releaseName(candidate);
      this.#hub.send(member, nameTakenElsewhereLine(name, true));
      this.#hub.rename(member, candidate);
      return;
    }
    this.#hub.leave(member, "name taken elsewhere");
    member.finish(nameTakenElsewhereLine(name, false));
  }
}
