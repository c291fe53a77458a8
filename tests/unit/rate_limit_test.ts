/** The one token bucket, alone and in the per-source table. */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { RateLimiter, TokenBucket } from "../../lib/base/rate_limit.ts";
import { Throttle } from "../../lib/files/pace.ts";

Deno.test("token bucket: a burst, then the rate; wait() says when; peek() takes nothing", () => {
  const bucket = new TokenBucket(2, 3, 0);
  deepStrictEqual([1, 2, 3, 4].map(() => bucket.take(0)), [true, true, true, false]);
  equal(bucket.wait(0), 500);
  ok(!bucket.peek(499));
  ok(bucket.peek(500));
  ok(bucket.peek(500), "peeking twice still leaves the token");
  ok(bucket.take(500));
  ok(!bucket.take(500));
  ok(new TokenBucket(0, 1).take(), "rate 0: no limit");
});

Deno.test("rate limiter: the table is bounded; new sources share one overflow bucket", () => {
  let now = 0;
  const limiter = new RateLimiter({ rate: 1, burst: 1, maxSources: 2, now: () => now });
  ok(limiter.allow("a"));
  ok(limiter.allow("b"));
  ok(limiter.allow("c"), "the overflow bucket's token");
  ok(!limiter.allow("d"), "shared with every other newcomer");
  equal(limiter.size, 2);
  ok(!limiter.allow("a"), "an active source keeps its empty bucket");
  now = 1000;
  ok(limiter.peek("a"));
  ok(limiter.allow("e"), "refilled entries are forgotten to make room");
  ok(limiter.size <= 2);
});

Deno.test("token bucket: spend() goes into debt and says how long paying it off takes", () => {
  const bucket = new TokenBucket(1000, 100, 0);
  equal(bucket.spend(60, 0), 0);
  equal(bucket.spend(90, 0), 50, "50 tokens short at 1,000 a second: 50 ms");
  equal(bucket.spend(0, 50), 0, "paid off");
  equal(bucket.spend(200, 1000), 100, "refilled to the burst only, not beyond");
  equal(new TokenBucket(0, 1).spend(1e9), 0, "rate 0: no limit");
});

Deno.test("throttle: one chunk to start, room for two, then the rate (on an injected clock)", () => {
  let now = 0;
  const throttle = new Throttle(8 * 1024, { now: () => now });
  equal(throttle.chunkSize, 1024);
  equal(throttle.debt(1024), 0, "the first chunk is there at once");
  equal(throttle.debt(512), 62.5, "half a chunk at 8 KiB/s: 62.5 ms");
  now += 1000;
  equal(throttle.debt(2048), 0, "a late step is made up for, up to two chunks");
  equal(throttle.debt(1), 1000 / 8192);
});
