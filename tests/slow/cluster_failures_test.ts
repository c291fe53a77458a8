/**
 * The cluster's failures with real processes and real seconds (docs/cluster.md):
 * a SIGKILLed instance drops out within its heartbeat expiry, a SIGSTOPped
 * Redis is noticed by the 6 s silence timeout. The same logic on short
 * intervals, without timing claims, is in tests/cluster_failures_test.ts.
 */
import { equal, match, ok } from "node:assert/strict";
import { info, Member, spawnInstance, TIME } from "../_cluster.ts";
import { REDIS_MISSING, RedisServer } from "../_redis.ts";

const ignore = REDIS_MISSING !== null;

Deno.test({
  name:
    "cluster: an instance stopped says so at once; one SIGKILLed drops out within 15 s with leave notices",
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    await using a = await spawnInstance(redis.url);
    await using b = await spawnInstance(redis.url);
    using alice = await Member.join(a, "alice");
    using _bob = await Member.join(b, "bob");
    equal(await alice.next(), "* bob joined");
    // An instance that stops cleanly says so at once.
    await using c = await spawnInstance(redis.url);
    using _carol = await Member.join(c, "carol");
    equal(await alice.next(), "* carol joined");
    equal((await c.stop("SIGTERM")).code, 0);
    equal(await alice.next(), "* carol left (server shut down)");

    const killed = performance.now();
    b.child.kill("SIGKILL");
    equal((await alice.until(/^\* bob/, 25_000)).line, "* bob left (server lost)");
    const took = performance.now() - killed;
    ok(took < 15_000, `leave notice after ${took.toFixed(0)} ms`);
    match(await info(a, "USERS"), /^users: 1\nalice in #lobby/);
    match(await info(a, "STATUS"), /1 of 1 instance alive, 1 member/);
    using bob = await Member.join(a, "bob");
    equal(await alice.next(), "* bob joined");
    bob.client.close();
  },
});

Deno.test({
  name:
    "cluster: a Redis that stops answering without closing (SIGSTOP) is noticed within 10 s; SIGCONT rejoins",
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    await using a = await spawnInstance(redis.url);
    using alice = await Member.join(a, "alice");
    using anne = await Member.join(a, "anne");
    await alice.until(/^\* anne joined$/);

    Deno.kill(redis.pid, "SIGSTOP");
    try {
      const stopped = performance.now();
      await a.waitFor(
        /^\[Chat Server\] cluster: degraded \(Redis at redis:\/\/127\.0\.0\.1:\d+ unavailable: no answer for 6 s\)/,
        15_000,
      );
      const took = performance.now() - stopped;
      ok(took < 10_000, `noticed after ${took.toFixed(0)} ms`);
      await alice.send("said while Redis hangs");
      match((await anne.next())!, new RegExp(`^${TIME} alice: said while Redis hangs$`));
    } finally {
      Deno.kill(redis.pid, "SIGCONT");
    }
    await a.waitFor(/^\[Chat Server\] cluster: Redis is back; rejoined with 2 member\(s\)/, 20_000);
    await alice.send("/users");
    equal((await alice.until(/^! \d+ here/)).line, "! 2 here: alice, anne");
    equal(a.lines.filter((line) => line.includes("cluster: degraded")).length, 1);
  },
});
