/** The copy loop every transfer uses: exact lengths, hashing, and which side failed. */
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Reader, Writer } from "../../lib/base/io.ts";
import { pump, PumpError } from "../../lib/files/pump.ts";

/** Reads `data` at most `step` bytes at a time. */
function readerOf(data: Uint8Array, step = 7): Reader {
  let at = 0;
  return {
    read(buffer) {
      if (at >= data.length) return Promise.resolve(null);
      const n = Math.min(step, buffer.length, data.length - at);
      buffer.set(data.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

function collector(): Writer & { bytes(): Uint8Array } {
  const parts: Uint8Array[] = [];
  return {
    write(bytes) {
      const n = Math.min(bytes.length, 5); // short writes
      parts.push(bytes.slice(0, n));
      return Promise.resolve(n);
    },
    bytes: () => new Uint8Array(parts.flatMap((part) => [...part])),
  };
}

Deno.test("pump: copies exactly the length asked, hashing on the way, over short reads and writes", async () => {
  const data = crypto.getRandomValues(new Uint8Array(1000));
  const out = collector();
  const hash = createHash("sha256");
  const progress: number[] = [];
  const moves: number[] = [];
  const copied = await pump(readerOf(data), out, 600, {
    hash,
    chunkSize: 64,
    onProgress: (n, moved) => {
      progress.push(n);
      moves.push(moved);
    },
  });
  equal(copied, 600);
  deepStrictEqual(out.bytes(), data.subarray(0, 600));
  equal(hash.digest("hex"), createHash("sha256").update(data.subarray(0, 600)).digest("hex"));
  equal(progress.at(-1), 600);
  ok(progress.every((n, i) => i === 0 || n > progress[i - 1]!));
  deepStrictEqual(moves, progress.map((n, i) => n - (progress[i - 1] ?? 0)));
  ok(moves.every((n) => n > 0 && n <= 64), `${moves}`);
});

Deno.test("pump: a reader that ends early returns what was copied; stop() ends it between chunks", async () => {
  equal(await pump(readerOf(new Uint8Array(10)), collector(), 100, {}), 10);
  let chunks = 0;
  const copied = await pump(readerOf(new Uint8Array(100), 10), collector(), 100, {
    chunkSize: 10,
    stop: () => ++chunks >= 3,
  });
  equal(copied, 30);
});

Deno.test("pump: errors say which side failed", async () => {
  const broken: Reader = { read: () => Promise.reject(new Deno.errors.ConnectionReset("reset")) };
  await rejects(pump(broken, collector(), 10, {}), (error: unknown) => {
    return error instanceof PumpError && error.side === "read" &&
      error.cause instanceof Deno.errors.ConnectionReset;
  });
  const full: Writer = { write: () => Promise.reject(new Error("No space left on device")) };
  await rejects(pump(readerOf(new Uint8Array(50)), full, 50, {}), (error: unknown) => {
    return error instanceof PumpError && error.side === "write";
  });
});
