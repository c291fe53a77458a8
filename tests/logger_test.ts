import { deepStrictEqual, equal, match } from "node:assert/strict";
import { Logger, type LogSink } from "../lib/base/logger.ts";
import { encode } from "../lib/base/text.ts";

/** A sink that records what it is given; `hold` keeps writes pending until released. */
class Recorder implements LogSink {
  #bytes: number[] = [];
  writes = 0;
  #gate: Promise<void> | null = null;
  #open: () => void = () => {};

  hold(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }

  release(): void {
    this.#gate = null;
    this.#open();
  }

  async write(bytes: Uint8Array): Promise<number> {
    this.writes++;
    if (this.#gate) await this.#gate;
    // Accept at most 7 bytes at a time, so short writes are exercised too.
    const n = Math.min(bytes.length, 7);
    this.#bytes.push(...bytes.subarray(0, n));
    return n;
  }

  get text(): string {
    return new TextDecoder().decode(new Uint8Array(this.#bytes));
  }
}

Deno.test("logger: text and byte lines come out whole and in order", async () => {
  const sink = new Recorder();
  const log = new Logger({ sink });
  log.info("start é");
  log.eventBytes(encode("[X] got: "), encode("hello"));
  log.event("event ✓");
  log.error("error");
  log.eventBytes(encode("[X] got: "), encode(""));
  await log.flush();
  equal(sink.text, "start é\n[X] got: hello\nevent ✓\nerror\n[X] got: \n");
});

Deno.test("logger: --quiet drops per-message lines only", async () => {
  const sink = new Recorder();
  const log = new Logger({ sink, quiet: true });
  log.event("event");
  log.eventBytes(encode("head "), encode("body"));
  log.info("info");
  log.error("error");
  await log.flush();
  equal(sink.text, "info\nerror\n");
});

Deno.test("logger: past the bound lines are dropped and counted, then logging resumes", async () => {
  const sink = new Recorder();
  const log = new Logger({ sink, maxQueued: 100 });
  sink.hold();
  log.info("first"); // being written while the rest queue up
  for (let i = 0; i < 50; i++) log.event(`line ${i} ${"x".repeat(10)}`);
  for (let i = 0; i < 50; i++) log.eventBytes(encode("bytes "), encode(String(i)));
  sink.release();
  await log.flush();
  log.info("after");
  await log.flush();
  const lines = sink.text.trimEnd().split("\n");
  equal(lines[0], "first");
  match(lines.at(-2)!, /^\[Server\] \d+ log lines dropped: the console was not keeping up$/);
  equal(lines.at(-1), "after");
  const kept = lines.length - 3;
  const dropped = Number(lines.at(-2)!.match(/\d+/)![0]);
  equal(kept + dropped, 100);
  deepStrictEqual(lines.slice(1, 4), [
    "line 0 xxxxxxxxxx",
    "line 1 xxxxxxxxxx",
    "line 2 xxxxxxxxxx",
  ]);
});

Deno.test("logger: text lines that outgrow the buffer while a write is pending come out whole", async () => {
  const sink = new Recorder();
  const log = new Logger({ sink });
  sink.hold();
  log.info("first"); // starts a write that stays pending
  const long = "é".repeat(20_000); // 40,000 bytes of UTF-8: more than the first buffer
  log.event(long);
  log.eventBytes(encode("[X] got: "), encode("after"));
  log.event(long);
  sink.release();
  await log.flush();
  equal(sink.text, `first\n${long}\n[X] got: after\n${long}\n`);
});
