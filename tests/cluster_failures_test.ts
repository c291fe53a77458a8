/**
 * The cluster's failure handling in process, on intervals scaled down 10
 * times (heartbeat, expiry, silence, backoff), against a real redis-server:
 * an instance that goes silent is reaped and its members leave; a Redis that
 * stops answering is noticed and rejoined. Instances reach Redis through a
 * relay that can go silent without closing anything. The same failures with
 * real processes and real seconds are in tests/slow/cluster_failures_test.ts.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { LOST_REASON, SHUTDOWN_REASON } from "../lib/chat/cluster/cluster.ts";
import type { ClusterEvent } from "../lib/chat/cluster/wire.ts";
import { FAST, Probe } from "./_cluster_probe.ts";
import { REDIS_MISSING, RedisServer } from "./_redis.ts";
import { TcpRelay } from "./_relay.ts";

const ignore = REDIS_MISSING !== null;

const ts = () => new Date().toISOString();

function said(from: string, text: string): ClusterEvent {
  return { type: "message", room: "#lobby", from, text, ts: ts() };
}

function joined(name: string): ClusterEvent {
  return { type: "join", room: "#lobby", name, ts: ts() };
}

/** A leave event of `name` with `reason`. */
const leftWith = (name: string, reason: string) => (event: ClusterEvent) =>
  event.type === "leave" && event.name === name && event.reason === reason;

Deno.test({
  name:
    "cluster failures: an instance closed says so at once; one gone silent is reaped, its members leave (server lost) and its names are free",
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    await using relay = new TcpRelay(redis.port);
    await using a = await Probe.connect(redis.url, "A", FAST);
    await using b = await Probe.connect(relay.url, "B", FAST);
    await using c = await Probe.connect(redis.url, "C", FAST);
    equal(await b.cluster.claimName("bob", "#lobby"), "ok");
    b.cluster.publish(joined("bob"));
    equal(await c.cluster.claimName("carol", "#lobby"), "ok");
    c.cluster.publish(joined("carol"));
    // Presence is written before the notices published with it.
    await a.received((e) => e.type === "join" && e.name === "bob", "bob's join");
    await a.received((e) => e.type === "join" && e.name === "carol", "carol's join");
    deepStrictEqual(a.cluster.members().map((m) => m.name).sort(), ["bob", "carol"]);

    // An instance that leaves cleanly says so at once.
    await c.cluster.close();
    await a.received(leftWith("carol", SHUTDOWN_REASON), "carol leaving (server shut down)");

    // B's Redis link goes silent, as a SIGKILLed instance's does: B's heartbeat expires
    // and A reaps it.
    const before = b.logs.length;
    relay.freeze();
    await a.received(leftWith("bob", LOST_REASON), "bob leaving (server lost)");
    deepStrictEqual(a.cluster.members(), []);
    deepStrictEqual(a.cluster.instances().map((i) => i.id), ["A"]);
    // bob's name is free again, cluster-wide.
    equal(await a.cluster.claimName("BOB", "#lobby"), "ok");
    equal(a.events.filter(leftWith("bob", LOST_REASON)).length, 1);
    // B, cut off, noticed the silence itself.
    match(await b.logged(/^cluster: degraded /, before), /unavailable: no answer for 0\.6 s/);
  },
});

Deno.test({
  name:
    "cluster failures: a Redis that stops answering without closing is noticed once; local claims go on; when it answers again the instance rejoins and lines flow both ways",
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    await using relay = new TcpRelay(redis.port);
    await using a = await Probe.connect(relay.url, "A", FAST);
    await using b = await Probe.connect(redis.url, "B", FAST);
    equal(await a.cluster.claimName("alice", "#lobby"), "ok");
    a.cluster.publish(joined("alice"));
    await b.received((e) => e.type === "join" && e.name === "alice", "alice's join");

    const before = a.logs.length;
    relay.freeze();
    const degraded = await a.logged(/^cluster: degraded /, before);
    match(
      degraded,
      /^cluster: degraded \(Redis at redis:\/\/127\.0\.0\.1:\d+\/? unavailable: no answer for 0\.6 s\); local members keep talking locally; reconnecting$/,
    );
    ok(a.cluster.degraded, a.logs.join("\n"));
    // Names are decided locally meanwhile, and what is said waits in the queue.
    equal(await a.cluster.claimName("anne", "#lobby"), "ok");
    equal(await a.cluster.claimName("ALICE", "#lobby"), "taken");
    a.cluster.publish(said("alice", "said while Redis hangs"));
    ok(a.cluster.queued >= 1);

    relay.thaw();
    match(
      await a.logged(/^cluster: Redis is back; /, before),
      /^cluster: Redis is back; rejoined with 2 member\(s\), sending \d+ queued event\(s\), 0 dropped while away$/,
    );
    await b.until(() => b.texts().includes("said while Redis hangs"), "the queued line on B");
    b.cluster.publish(said("bob", "after"));
    await a.until(() => a.texts().includes("after"), "B's line on A");
    deepStrictEqual(
      b.cluster.members().filter((m) => m.instance === "A").map((m) => m.name).sort(),
      ["alice", "anne"],
    );
    equal(a.logs.slice(before).filter((line) => line.startsWith("cluster: degraded")).length, 1);
  },
});
