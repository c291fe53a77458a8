/** The web service's pure parts: byte ranges, If-Range, pax records and tar headers. */
import { deepStrictEqual, equal } from "node:assert/strict";
import { ifRangeHolds, noneMatchHits, parseRange } from "../../lib/web/range.ts";
import { paxRecord, tarHeader } from "../../lib/web/tar.ts";

Deno.test("web range: the forms of one byte range, and what is ignored or unsatisfiable", () => {
  deepStrictEqual(parseRange("bytes=0-0", 10), { start: 0, end: 0 });
  deepStrictEqual(parseRange("bytes=2-", 10), { start: 2, end: 9 });
  deepStrictEqual(parseRange("bytes=-3", 10), { start: 7, end: 9 });
  deepStrictEqual(parseRange("bytes=-30", 10), { start: 0, end: 9 });
  deepStrictEqual(parseRange("bytes=5-100", 10), { start: 5, end: 9 });
  deepStrictEqual(parseRange("BYTES = 1 - 2", 10), { start: 1, end: 2 });
  equal(parseRange("bytes=10-", 10), "unsatisfiable");
  equal(parseRange("bytes=-0", 10), "unsatisfiable");
  equal(parseRange("bytes=0-", 0), "unsatisfiable");
  for (const ignored of [null, "bytes=3-2", "bytes=0-1,3-4", "bytes=-", "lines=1-2", "bytes=a-b"]) {
    equal(parseRange(ignored, 10), null, String(ignored));
  }
});

Deno.test("web range: If-Range holds for the same strong ETag or date only; If-None-Match", () => {
  const etag = `"${"a".repeat(64)}"`;
  const date = "Tue, 08 Dec 2026 00:00:00 GMT";
  equal(ifRangeHolds(null, etag, date), true);
  equal(ifRangeHolds(etag, etag, date), true);
  equal(ifRangeHolds(`W/${etag}`, etag, date), false);
  equal(ifRangeHolds(`"other"`, etag, date), false);
  equal(ifRangeHolds(date, etag, date), true);
  equal(ifRangeHolds("Mon, 07 Dec 2026 00:00:00 GMT", etag, date), false);
  equal(ifRangeHolds(etag, null, date), false);
  equal(noneMatchHits(`"x", ${etag}`, etag), true);
  equal(noneMatchHits("*", etag), true);
  equal(noneMatchHits(`"x"`, etag), false);
  equal(noneMatchHits(etag, null), false);
});

Deno.test("web tar: a pax record counts its own length; ustar headers checksum and split long paths", () => {
  for (const value of ["a", "x".repeat(90), "y".repeat(995), "é".repeat(300)]) {
    const record = paxRecord("path", value);
    const length = Number(record.slice(0, record.indexOf(" ")));
    equal(length, new TextEncoder().encode(record).length, `${value.length} chars`);
  }
  const header = tarHeader({ path: "top/file.txt", size: 5, mtimeMs: 1_000_000 });
  equal(header.length, 512);
  const text = new TextDecoder().decode(header);
  equal(text.slice(0, 12), "top/file.txt");
  equal(text.slice(257, 263), "ustar\0");
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  equal(parseInt(text.slice(148, 154), 8), sum);
  // 150 bytes split at a slash into prefix and name: still one block.
  equal(
    tarHeader({ path: `${"p".repeat(80)}/${"n".repeat(69)}`, size: 0, mtimeMs: 0 }).length,
    512,
  );
  // 300 bytes with no place to split: a pax header first.
  equal(tarHeader({ path: "q".repeat(300), size: 0, mtimeMs: 0 }).length, 512 * 3);
});
