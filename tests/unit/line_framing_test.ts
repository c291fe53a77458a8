/** The one line framing rule (line_splitter.ts), as each reader applies it. */
import { deepStrictEqual, equal, rejects } from "node:assert/strict";
import { LineReader, OVERLONG } from "../../lib/net/line_reader.ts";
import { LineTooLong, WireReader } from "../../lib/net/wire_reader.ts";
import { decodeLenient, encode } from "../../lib/base/text.ts";
import type { Reader } from "../../lib/base/io.ts";

/** A reader that hands out the given chunks, one per read. */
function chunks(...parts: string[]): Reader {
  const queue = parts.map(encode);
  return {
    read(buffer) {
      const next = queue.shift();
      if (next === undefined) return Promise.resolve(null);
      const n = Math.min(buffer.length, next.length);
      buffer.set(next.subarray(0, n));
      if (n < next.length) queue.unshift(next.subarray(n));
      return Promise.resolve(n);
    },
  };
}

async function allLines(reader: LineReader): Promise<string[]> {
  const out: string[] = [];
  for (let line = await reader.readLine(); line !== null; line = await reader.readLine()) {
    out.push(line === OVERLONG ? "(over-long)" : decodeLenient(line));
  }
  return out;
}

Deno.test("line framing: CRLF and LF end a line, a lone CR stays, the limit does not count CR", async () => {
  const reader = new LineReader(chunks("a\r\nb\n", "c\rd\n", "12345\r\n", "123456\n"), {
    maxLine: 5,
  });
  deepStrictEqual(await allLines(reader), ["a", "b", "c\rd", "12345", "(over-long)"]);
});

Deno.test("line framing: an over-long line is reported once and skipped to its LF; a last line without LF still counts", async () => {
  const reader = new LineReader(chunks("xxxxxxxx", "xxxx", "xx\nok\n", "tail"), { maxLine: 4 });
  deepStrictEqual(await allLines(reader), ["(over-long)", "ok", "tail"]);
});

Deno.test("wire reader: lines and raw bytes in turn, nothing lost between them", async () => {
  const wire = new WireReader(chunks("PUT 3\r\nabcSHA", "256 x\n"), { lineBuffer: 16 });
  equal(await wire.readLine(), "PUT 3");
  const raw = new Uint8Array(3);
  equal(await wire.read(raw), 3);
  equal(decodeLenient(raw), "abc");
  equal(await wire.readLine(), "SHA256 x");
  equal(await wire.readLine(), null);
});

Deno.test("wire reader: a cut-short last line is end of input; an over-long line throws LineTooLong before its LF", async () => {
  equal(await new WireReader(chunks("DELETE na")).readLine(), null);
  // 15 bytes plus LF fit a 16-byte buffer; 20 without an LF do not.
  const fits = new WireReader(chunks("x".repeat(15) + "\n"), { lineBuffer: 16 });
  equal(await fits.readLine(), "x".repeat(15));
  const long = new WireReader(chunks("x".repeat(20)), { lineBuffer: 16 });
  await rejects(long.readLine(), LineTooLong);
});
