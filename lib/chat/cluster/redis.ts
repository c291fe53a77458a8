/**
 * The cluster's two Redis connections (commands; blocking reads) and its Lua
 * scripts, run by hash with a fallback to the full text. Loads @redis/client,
 * which costs a few hundred milliseconds: imported only with --redis.
 *
 * Why createClient gets `maintNotifications: "disabled"`: with the default
 * ("auto" under RESP3) @redis/client 6.3.1 reads the env var
 * REDIS_DEBUG_MAINTENANCE during every handshake, which under Deno needs
 * --allow-env and fails the connection without it. Its only other env var,
 * REDIS_EMIT_DIAGNOSTICS, is read on maintenance push messages only, which
 * are then never requested. We also pin RESP2 so raw replies are plain arrays.
 */
import { createClient } from "@redis/client";
import type { Reply } from "./wire.ts";
import * as Scripts from "./scripts.ts";

/** The part of @redis/client's client this module uses. */
export interface RedisConn {
  connect(): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  destroy(): void;
  close(): Promise<void>;
  duplicate(overrides?: Record<string, unknown>): RedisConn;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  readonly isReady: boolean;
}

/** Options of {@link openConnections}. */
export interface ConnectionOptions {
  /** redis://... with the password, if any. */
  url: string;
  /** Redis must accept the connection within this. */
  connectTimeoutMs: number;
  /** A connection silent this long is dropped and made again (a hung Redis). */
  silenceMs: number;
  /** How long to wait before reconnect attempt `retries` once started. */
  reconnectDelay: (retries: number) => number;
  /**
   * The error that ends a failed attempt before {@link Connections.started}
   * is set (then the clients reconnect for ever instead).
   */
  refuse: (cause: Error) => Error;
}

/** The two connections of one instance, not connected yet. */
export interface Connections {
  /** Commands, scripts and writes. */
  commands: RedisConn;
  /** The blocking XREAD of the read loop (and its resyncs). */
  reader: RedisConn;
  /** Call once connect() succeeded: from then on a lost connection is retried for ever. */
  started(): void;
}

/** Creates both clients. Throws what createClient throws for a bad URL. */
export function openConnections(options: ConnectionOptions): Connections {
  let started = false;
  const clientOptions = {
    url: options.url,
    RESP: 2,
    maintNotifications: "disabled", // see the module's comment: no env var reads
    disableOfflineQueue: true, // fail fast while away; our own queue decides
    socket: {
      connectTimeout: options.connectTimeoutMs,
      // A Redis that stops answering without closing (stopped, or a partition
      // that sends no reset) would otherwise be noticed by TCP keepalive only,
      // minutes later. Both connections are never quiet that long while Redis
      // answers: the reader's XREAD returns every blockMs, the heartbeat
      // writes every heartbeatMs and writes no more while one goes unanswered.
      socketTimeout: options.silenceMs,
      // Before connect() succeeds, a failed attempt ends it (an Error);
      // afterwards the clients reconnect for ever with backoff.
      reconnectStrategy: (retries: number, cause: Error) =>
        started ? options.reconnectDelay(retries) : options.refuse(cause),
    },
  };
  const commands = createClient(
    clientOptions as Parameters<typeof createClient>[0],
  ) as unknown as RedisConn;
  return { commands, reader: commands.duplicate(), started: () => started = true };
}

/** The name of one of scripts.ts's scripts. */
export type ScriptName = keyof typeof Scripts;

/**
 * Runs scripts.ts's scripts with their common first arguments (key prefix,
 * instance id, stream limit): by SHA1, falling back to the full text when
 * Redis does not have it cached (NOSCRIPT, e.g. after a restart).
 */
export class ScriptRunner {
  #shas = new Map<string, string>();
  #common: string[];
  #commands: RedisConn;

  constructor(commands: RedisConn, prefix: string, instanceId: string, streamLimit: number) {
    this.#commands = commands;
    this.#common = [prefix, instanceId, String(streamLimit)];
  }

  /** Computes the scripts' hashes (once, before the first run). */
  async load(): Promise<void> {
    for (const [name, text] of Object.entries(Scripts)) this.#shas.set(name, await sha1(text));
  }

  /** Runs `name` with `args` on `conn` (the command connection unless told). */
  async run(name: ScriptName, args: string[], conn = this.#commands): Promise<Reply> {
    const sha = this.#shas.get(name)!;
    try {
      return await conn.sendCommand(["EVALSHA", sha, "0", ...this.#common, ...args]) as Reply;
    } catch (error) {
      if (!errorText(error).includes("NOSCRIPT")) throw error;
      return await conn.sendCommand([
        "EVAL",
        Scripts[name],
        "0",
        ...this.#common,
        ...args,
      ]) as Reply;
    }
  }
}

/** `text` with the URL's password (if any) replaced by "***". */
export function maskPassword(text: string, url: string): string {
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password ? text.replaceAll(password, "***") : text;
  } catch {
    return text; // not a URL: nothing to hide
  }
}

/** An error's message, or the thrown value as text. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** True for @redis/client's SocketTimeoutError (socketTimeout), which has no name of its own. */
export function isSilence(error: unknown): boolean {
  return error instanceof Error && error.constructor.name === "SocketTimeoutError";
}

async function sha1(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
