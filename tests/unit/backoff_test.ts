/** The one backoff formula: doubling from the first delay, capped, jittered within its bounds. */
import { ok } from "node:assert/strict";
import { backoff } from "../../lib/base/backoff.ts";

Deno.test("backoff: doubles from the first delay, stops at the cap, jitter stays within its bounds", () => {
  const options = { firstMs: 100, capMs: 3000, jitter: [0.5, 1] as const };
  for (let round = 0; round < 200; round++) {
    for (const [attempt, ceiling] of [[0, 100], [1, 200], [3, 800], [5, 3000], [60, 3000]]) {
      const delay = backoff(attempt!, options);
      ok(delay >= ceiling! * 0.5 && delay <= ceiling!, `attempt ${attempt}: ${delay}`);
    }
  }
});
