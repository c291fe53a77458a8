/**
 * The link between a chat server's hub and the cluster (lib/chat/cluster/link.ts)
 * in process, on short intervals, against a real redis-server: with
 * --redis-optional a Redis that is down at start is retried in the
 * background, and the instance joins with its members when it comes. (The
 * same through the CLI, with its exit codes and real retry delays, is in
 * cluster_test.ts.)
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import { Logger } from "../lib/base/logger.ts";
import { startCluster } from "../lib/chat/cluster/link.ts";
import { Hub } from "../lib/chat/server/hub.ts";
import { Outbox } from "../lib/chat/server/outbox.ts";
import type { Member, Room } from "../lib/chat/server/room.ts";
import { FAST, Probe } from "./_cluster_probe.ts";
import { freePort, REDIS_MISSING, RedisServer } from "./_redis.ts";

const ignore = REDIS_MISSING !== null;

/** A member without a socket (what it is sent is dropped). */
class QuietMember implements Member {
  name = "";
  joinedAt = 0;
  room: Room | null = null;
  json = false;
  echo = false;
  operator = false;
  readonly peer = "127.0.0.1:1";
  readonly outbox = new Outbox(
    { write: (bytes) => Promise.resolve(bytes.length) },
    64 * 1024,
    () => {},
  );
  disconnect(): void {}
  finish(): void {}
}

/** A Logger whose lines are kept, with a way to await one. */
class LogLines {
  readonly lines: string[] = [];
  readonly log: Logger;
  #waiters = new Set<() => void>();

  constructor() {
    const decoder = new TextDecoder();
    this.log = new Logger({
      sink: {
        write: (bytes) => {
          this.lines.push(...decoder.decode(bytes).split("\n").filter((line) => line !== ""));
          for (const waiter of [...this.#waiters]) waiter();
          return Promise.resolve(bytes.length);
        },
      },
    });
  }

  /** Resolves with the first line matching `pattern` (one already written counts). */
  async line(pattern: RegExp): Promise<string> {
    const find = () => this.lines.find((line) => pattern.test(line));
    if (find() === undefined) {
      let waiter!: () => void;
      const found = new Promise<void>((resolve) => {
        waiter = () => find() !== undefined && resolve();
        this.#waiters.add(waiter);
      });
      const result = await within(found, 30_000);
      this.#waiters.delete(waiter);
      if (result === TIMED_OUT) throw new Error(`never logged ${pattern}:\n${this.lines}`);
    }
    return find()!;
  }
}

Deno.test({
  name:
    "cluster link: with --redis-optional, Redis down at start means local-only and retries; the instance joins with its members when Redis comes",
  ignore,
  async fn() {
    const port = freePort();
    const url = `redis://127.0.0.1:${port}`;
    const logs = new LogLines();
    const hub = new Hub({
      history: 5,
      maxMembers: 10,
      maxRooms: 5,
      buffer: 64 * 1024,
      greeting: [],
      log: logs.log,
    });
    const link = await startCluster(hub, {
      config: { url, source: "--redis", passwordFile: null, name: "socketkit", optional: true },
      label: "127.0.0.1:1",
      history: 5,
      log: logs.log,
      timing: FAST,
      joinRetryMinMs: 10,
      joinRetryMaxMs: 100,
    });
    let redis: RedisServer | null = null;
    try {
      await logs.line(
        /^\[Chat Server\] cluster: cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+\/?: .*; running local-only \(--redis-optional\), retrying in the background$/,
      );
      equal(hub.join(new QuietMember(), "alice"), null);
      equal(hub.join(new QuietMember(), "anne"), null);
      equal(link.view().state, "local-only");

      // Redis comes up on that port: the instance joins with its members.
      redis = await RedisServer.start({ port });
      await logs.line(/^\[Chat Server\] cluster: joined "socketkit" at /);
      equal(link.view().state, "joined");
      await using b = await Probe.connect(url, "B", FAST);
      deepStrictEqual(
        b.cluster.members().map((m) => `${m.name} ${m.instance === link.instance}`).sort(),
        ["alice true", "anne true"],
      );
      equal(await b.cluster.claimName("ALICE", "#lobby"), "taken");
      // Lines cross, and names are checked cluster-wide.
      hub.say(hub.find("alice")!, "hi from A");
      await b.until(() => b.texts().includes("hi from A"), "alice's line on B");
      equal(await link.claim("Bob", "#lobby"), "ok");
      equal(await b.cluster.claimName("bob", "#lobby"), "taken");
      ok(link.others().length === 0);
    } finally {
      hub.close();
      await link.close();
      await redis?.kill();
      await logs.log.flush();
    }
  },
});
