/** files/server/listing.ts: the snapshot's order and contents, and the lines made from it. */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { nameRefusal } from "../../lib/files/names.ts";
import { FileSnapshot, ListingLines, takeSnapshot } from "../../lib/files/server/listing.ts";

Deno.test("listing: the snapshot is in whole-name order, walked on the loop or not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "socketkit-listing-" });
  try {
    const names = ["a.txt", "a-b", "a/b/c", "a/x", "a b/y", "a0", "Z", "é", "ab/c"];
    for (const name of names) {
      await Deno.mkdir(join(dir, ...name.split("/"), ".."), { recursive: true });
      await Deno.writeTextFile(join(dir, ...name.split("/")), name);
    }
    await Deno.writeTextFile(join(dir, ".hidden"), "x");
    const sorted = [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const share of [true, false, 50]) {
      const snapshot = await takeSnapshot(dir, "", share);
      deepStrictEqual(snapshot.names, sorted, `shareLoop ${share}`);
      equal(snapshot.totalBytes, names.reduce((sum, name) => sum + new Blob([name]).size, 0));
    }
    deepStrictEqual((await takeSnapshot(dir, "a")).names, ["a/b/c", "a/x"]);
    deepStrictEqual((await takeSnapshot(dir, "gone")).names, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listing: lines come a chunk at a time, the count first, each line once", () => {
  const snapshot = new FileSnapshot();
  for (let i = 0; i < 5000; i++) snapshot.add(`f${i}`, i, 1_700_000_000_000 + i); // grows its arrays
  equal(snapshot.count, 5000);
  equal(snapshot.size(4999), 4999);
  equal(snapshot.mtimeMs(4999), 1_700_000_000_000 + 4999);
  const lines = new ListingLines(snapshot, (name, size, mtimeMs) => ({
    name,
    size,
    mtimeMs,
    sha256: null,
  }));
  const chunks: string[] = [];
  for (let i = 0; i < 1000 && !lines.done; i++) chunks.push(lines.take(4096));
  ok(chunks.length > 10, `${chunks.length} chunks`);
  ok(chunks.every((chunk) => chunk.length < 4096 + 100 && chunk.endsWith("\n")));
  const all = chunks.join("").split("\n");
  equal(all[0], "OK 5000");
  equal(all[1], "0 1700000000000 - f0");
  equal(all[5000], "4999 1700000004999 - f4999");
  equal(all.length, 5002); // the count, 5,000 lines, and "" after the last newline

  const empty = new ListingLines(new FileSnapshot(), () => {
    throw new Error("no file to describe");
  });
  equal(empty.take(4096), "OK 0\n");
  ok(empty.done);
});

Deno.test("names: the printable ASCII fast path refuses what the full check refuses", () => {
  for (
    const name of [
      "a\x7fb",
      "a\tb",
      "a\\b",
      " a",
      "a ",
      ".a",
      "a/.b",
      "a//b",
      "a/",
      "..",
      "x".repeat(256),
    ]
  ) {
    ok(nameRefusal(name) !== null, JSON.stringify(name));
  }
  for (const name of ["a", "a b/c-d_e.txt", "~!@#$%^&()[]{}';,+=`", "x".repeat(255)]) {
    equal(nameRefusal(name), null, JSON.stringify(name));
  }
});
