/**
 * ChatCluster (lib/chat/cluster/cluster.ts) in process, against a real
 * redis-server: what the end-to-end tests cannot force, such as every
 * connection dropped mid-stream or a hundred claims of one name at once.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { Probe } from "./_cluster_probe.ts";
import { REDIS_MISSING, RedisServer } from "./_redis.ts";

const ignore = REDIS_MISSING !== null;

Deno.test({
  name:
    "cluster module: every connection dropped twice mid-stream: all 300 lines arrive once, in order",
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    await using a = await Probe.connect(redis.url, "A");
    await using b = await Probe.connect(redis.url, "B");
    const ts = new Date().toISOString();
    for (let i = 0; i < 300; i++) {
      a.cluster.publish({ type: "message", room: "#lobby", from: "a", text: String(i), ts });
      if (i === 100 || i === 200) await redis.command("CLIENT", "KILL", "TYPE", "normal");
      if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await b.until(() => b.texts().length >= 300, "300 lines on B");
    // A late repeat would show up behind the last one: one more marker line.
    a.cluster.publish({ type: "message", room: "#lobby", from: "a", text: "end", ts });
    await b.until(() => b.texts().includes("end"), "the marker");
    deepStrictEqual(b.texts(), [...Array.from({ length: 300 }, (_, i) => String(i)), "end"]);
    const history = await b.cluster.history("#LOBBY", 5);
    // History is per room (any case), oldest first, without repeats.
    deepStrictEqual(history.map((e) => e.type === "message" && e.text), [
      "296",
      "297",
      "298",
      "299",
      "end",
    ]);
  },
});

Deno.test({
  name: "cluster module: 100 claims of one name (any case) from three instances at once: one wins",
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    await using a = await Probe.connect(redis.url, "A");
    await using b = await Probe.connect(redis.url, "B");
    await using c = await Probe.connect(redis.url, "C");
    const probes = [a, b, c];
    const spellings = ["Zed", "zed", "ZED", "zEd"];
    const results = await Promise.all(
      Array.from(
        { length: 100 },
        (_, i) => probes[i % 3]!.cluster.claimName(spellings[i % 4]!, "#lobby"),
      ),
    );
    equal(results.filter((result) => result === "ok").length, 1);
    // An entry another instance "X" wrote, with the stream's fields (cluster/wire.ts).
    const fields = (seq: number, data: string) => ["o", "X", "k", "e", "s", String(seq), "d", data];
    const addEvent = (seq: number, data: string) =>
      redis.command("XADD", "socketkit:events", "*", ...fields(seq, data));
    // Data another instance wrote that is not an event is skipped and counted.
    await addEvent(1, "{bad");
    await addEvent(
      2,
      JSON.stringify({ type: "message", room: "no room", from: "x", text: "t", ts: "now" }),
    );
    // A valid event behind them: once it is read, so are they (a stream is read in order).
    const marker = { type: "message", room: "#lobby", from: "x", text: "marker", ts: "now" };
    await addEvent(3, JSON.stringify(marker));
    for (const p of probes) await p.until(() => p.texts().includes("marker"), "the marker");
    ok(probes.every((p) => p.cluster.stats.malformed === 2));
    ok(probes.every((p) => p.events.length === 1));
  },
});

Deno.test({
  name: "cluster module: a room's history stream expires 30 days after its last line",
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    await using a = await Probe.connect(redis.url, "A");
    await using b = await Probe.connect(redis.url, "B");
    const ts = new Date().toISOString();
    a.cluster.publish({ type: "message", room: "#Quiet", from: "a", text: "anyone?", ts });
    await b.until(() => b.texts().includes("anyone?"), "the line on B");
    // The history write and its expiry follow the event in the same pipelined batch.
    let ttl = -2;
    for (let asked = 0; asked < 100 && ttl < 0; asked++) {
      ttl = Number((await redis.command("PTTL", "socketkit:history:#quiet")).replace(/^:/, ""));
    }
    const days30 = 30 * 24 * 3600 * 1000;
    ok(ttl > days30 - 60_000 && ttl <= days30, `PTTL ${ttl}`);
    deepStrictEqual((await b.cluster.history("#quiet", 5)).map((e) => e.type), ["message"]);
  },
});
