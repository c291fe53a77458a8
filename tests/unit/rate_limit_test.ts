/** The one token bucket, alone and in the per-source table. */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { RateLimiter, TokenBucket } from "../../lib/base/rate_limit.ts";

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
