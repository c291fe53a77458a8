/**
 * ChatCluster (lib/chat/cluster/cluster.ts) in process, against a real
 * redis-server: what the end-to-end tests cannot force, such as every
 * connection dropped mid-stream or a hundred claims of one name at once.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { ChatCluster, type ClusterEvent } from "../lib/chat/cluster/cluster.ts";
import { REDIS_MISSING, RedisServer } from "./_redis.ts";

const ignore = REDIS_MISSING !== null;

interface Probe {
  cluster: ChatCluster;
  events: ClusterEvent[];
  logs: string[];
}

async function probe(url: string, id: string): Promise<Probe> {
  const events: ClusterEvent[] = [];
  const logs: string[] = [];
  const cluster = await ChatCluster.connect({
    url,
    instanceId: id,
    historyLimit: 20,
    log: (line) => logs.push(line),
    onEvent: (event) => events.push(event),
  });
  return { cluster, events, logs };
}

/** Resolves once `condition` holds, checking every 20 ms for at most `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const texts = (p: Probe) => p.events.flatMap((e) => e.type === "message" ? [e.text] : []);

Deno.test({
  name:
    "cluster module: every connection dropped twice mid-stream: all 300 lines arrive once, in order",
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    const a = await probe(redis.url, "A");
    const b = await probe(redis.url, "B");
    try {
      const ts = new Date().toISOString();
      for (let i = 0; i < 300; i++) {
        a.cluster.publish({ type: "message", room: "#lobby", from: "a", text: String(i), ts });
        if (i === 100 || i === 200) await redis.command("CLIENT", "KILL", "TYPE", "normal");
        if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await until(() => texts(b).length >= 300, 20_000, "300 lines on B");
      // A late repeat would show up behind the last one: one more marker line.
      a.cluster.publish({ type: "message", room: "#lobby", from: "a", text: "end", ts });
      await until(() => texts(b).includes("end"), 10_000, "the marker");
      deepStrictEqual(texts(b), [...Array.from({ length: 300 }, (_, i) => String(i)), "end"]);
      const history = await b.cluster.history("#LOBBY", 5);
      // History is per room (any case), oldest first, without repeats.
      deepStrictEqual(history.map((e) => e.type === "message" && e.text), [
        "296",
        "297",
        "298",
        "299",
        "end",
      ]);
    } finally {
      await a.cluster.close();
      await b.cluster.close();
    }
  },
});

Deno.test({
  name: "cluster module: 100 claims of one name (any case) from three instances at once: one wins",
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    const probes = [
      await probe(redis.url, "A"),
      await probe(redis.url, "B"),
      await probe(redis.url, "C"),
    ];
    try {
      const spellings = ["Zed", "zed", "ZED", "zEd"];
      const results = await Promise.all(
        Array.from(
          { length: 100 },
          (_, i) => probes[i % 3]!.cluster.claimName(spellings[i % 4]!, "#lobby"),
        ),
      );
      equal(results.filter((result) => result === "ok").length, 1);
      // Data another instance wrote that is not an event is skipped and counted.
      await redis.command(
        "XADD",
        "socketkit:events",
        "*",
        "o",
        "X",
        "k",
        "e",
        "s",
        "1",
        "d",
        "{bad",
      );
      await redis.command(
        "XADD",
        "socketkit:events",
        "*",
        "o",
        "X",
        "k",
        "e",
        "s",
        "2",
        "d",
        JSON.stringify({ type: "message", room: "no room", from: "x", text: "t", ts: "now" }),
      );
      await until(
        () => probes.every((p) => p.cluster.stats.malformed === 2),
        5000,
        "malformed counted",
      );
      ok(probes.every((p) => p.events.length === 0));
    } finally {
      for (const p of probes) await p.cluster.close();
    }
  },
});

Deno.test({
  name: "cluster module: a room's history stream expires 30 days after its last line",
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    const a = await probe(redis.url, "A");
    const b = await probe(redis.url, "B");
    try {
      const ts = new Date().toISOString();
      a.cluster.publish({ type: "message", room: "#Quiet", from: "a", text: "anyone?", ts });
      await until(() => texts(b).includes("anyone?"), 10_000, "the line on B");
      // The history write and its expiry follow the event in the same pipelined batch.
      let ttl = -2;
      for (let asked = 0; asked < 100 && ttl < 0; asked++) {
        ttl = Number((await redis.command("PTTL", "socketkit:history:#quiet")).replace(/^:/, ""));
      }
      const days30 = 30 * 24 * 3600 * 1000;
      ok(ttl > days30 - 60_000 && ttl <= days30, `PTTL ${ttl}`);
      deepStrictEqual((await b.cluster.history("#quiet", 5)).map((e) => e.type), ["message"]);
    } finally {
      await a.cluster.close();
      await b.cluster.close();
    }
  },
});
