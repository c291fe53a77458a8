/**
 * The cluster flags of `socketkit serve` (--redis, --redis-password-file,
 * --cluster-name, --redis-optional) and SOCKETKIT_REDIS. Parsing them is
 * cheap; the Redis client itself is loaded only when a cluster is configured.
 */
import { RuntimeError, UsageError } from "../base/errors.ts";
import { readFlagFile } from "../base/flag_file.ts";
import type { FlagSpec, ParsedFlags } from "../base/flags.ts";

/** The environment variable that may hold the Redis URL, password included. */
export const REDIS_ENV = "SOCKETKIT_REDIS";

/** The cluster name unless --cluster-name says otherwise. */
export const DEFAULT_CLUSTER_NAME = "socketkit";

/** A cluster to join, after flag parsing (the password, if any, is not read yet). */
export interface ClusterConfig {
  /** redis://[user[:password]@]host:port[/db]; a password only when it came from SOCKETKIT_REDIS. */
  url: string;
  /** Where the URL came from: "--redis" or "SOCKETKIT_REDIS", for messages. */
  source: string;
  /** --redis-password-file, read at start. */
  passwordFile: string | null;
  /** --cluster-name: the prefix of every key, so clusters can share one Redis. */
  name: string;
  /** --redis-optional: run local-only (and keep trying) when Redis is unavailable at start. */
  optional: boolean;
  /** The waits below, shortened; no flag sets them (tests do). Default: none, the real ones. */
  waits?: ClusterWaits;
}

/** What a cluster waits out, as startCluster takes it; each one has a default there. */
export interface ClusterWaits {
  /** The intervals of the cluster instance, and its clock. */
  timing?: ClusterTiming;
  /** While running local-only, the first delay before another join; it doubles. Default 1000 ms. */
  joinRetryMinMs?: number;
  /** While running local-only, the longest delay between joins (a connect is cheap). Default 10000 ms. */
  joinRetryMaxMs?: number;
}

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

/** The cluster rows of SERVE_SPEC's flag table (spread into the chat's). */
export const CLUSTER_FLAGS: Record<string, FlagSpec> = {
  redis: {
    type: "string",
    value: "URL",
    help: `Join a chat cluster through Redis, e.g. redis://10.0.0.5:6379 (also $${REDIS_ENV})`,
  },
  "redis-password-file": {
    type: "string",
    value: "FILE",
    help: "Read the Redis password from FILE (never put it on the command line)",
  },
  "cluster-name": {
    type: "string",
    value: "NAME",
    default: DEFAULT_CLUSTER_NAME,
    help: "Cluster to join: the prefix of its Redis keys, so clusters can share one Redis",
  },
  "redis-optional": {
    type: "boolean",
    help: "If Redis is unavailable at start, run local-only and keep trying to join",
  },
};

/**
 * Reads the cluster flags and SOCKETKIT_REDIS (only when the permission is
 * granted: asking would stop a server on a prompt). Null without a URL.
 * Throws UsageError for a bad URL, a password on the command line, or a
 * cluster flag without a URL.
 */
export function parseClusterConfig(flags: ParsedFlags): ClusterConfig | null {
  const given = flags.optional("redis");
  const fromEnv = given === undefined ? redisEnv() : undefined;
  const url = given ?? fromEnv;
  const name = flags.string("cluster-name");
  const passwordFile = flags.optional("redis-password-file") ?? null;
  const optional = flags.boolean("redis-optional");
  if (url === undefined) {
    const orphan = passwordFile !== null
      ? "--redis-password-file"
      : optional
      ? "--redis-optional"
      : name !== DEFAULT_CLUSTER_NAME
      ? "--cluster-name"
      : null;
    if (orphan !== null) {
      throw new UsageError(
        `${orphan} needs --redis URL (or ${REDIS_ENV}${
          envReadable() ? "" : `, read with --allow-env=${REDIS_ENV}`
        })`,
        flags.command,
      );
    }
    return null;
  }
  const source = given !== undefined ? "--redis" : REDIS_ENV;
  const problem = urlProblem(url);
  if (problem !== null) {
    throw new UsageError(`Invalid value for ${source}: ${problem}`, flags.command);
  }
  if (given !== undefined && new URL(given).password !== "") {
    throw new UsageError(
      `--redis must not hold a password (anyone on this machine can read a command line): put the URL in ${REDIS_ENV}, or the password in --redis-password-file`,
      flags.command,
    );
  }
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(name)) {
    throw new UsageError(
      `Invalid value "${name}" for --cluster-name: expected 1-64 letters, digits, _ . : or -`,
      flags.command,
    );
  }
  return { url, source, passwordFile, name, optional };
}

/** Why `url` is not a Redis URL we can use, or null. Never repeats a password. */
export function urlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "expected a URL like redis://HOST:6379";
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    return `expected redis:// or rediss://, not ${parsed.protocol}//`;
  }
  if (parsed.hostname === "") return "the URL names no host (redis://HOST:6379)";
  return null;
}

/**
 * The URL to connect to, with the password from --redis-password-file
 * filled in. Throws RuntimeError when the file cannot be read or is empty.
 */
export function connectUrl(config: ClusterConfig): string {
  if (config.passwordFile === null) return config.url;
  const password = readFlagFile("redis-password-file", config.passwordFile).replace(/\r?\n$/, "");
  if (password === "" || /[\r\n]/.test(password)) {
    throw new RuntimeError(
      `Cannot use --redis-password-file "${config.passwordFile}": expected the password alone on one line`,
    );
  }
  const parsed = new URL(config.url);
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

/** The URL with its password replaced by "***", for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(invalid Redis URL)";
  }
}

/** SOCKETKIT_REDIS, if set and readable without a permission prompt. */
function redisEnv(): string | undefined {
  if (!envReadable()) return undefined;
  const value = Deno.env.get(REDIS_ENV);
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/** True when SOCKETKIT_REDIS may be read without a permission prompt. */
export function envReadable(): boolean {
  try {
    return Deno.permissions.querySync({ name: "env", variable: REDIS_ENV }).state === "granted";
  } catch {
    return false;
  }
}
