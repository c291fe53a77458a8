import { deepStrictEqual, equal, match, notEqual } from "node:assert/strict";
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import { Logger, type LogSink } from "../lib/base/logger.ts";
import { encode } from "../lib/base/text.ts";

/** A sink that records what it is given; `hold` keeps writes pending until released. */
class Recorder implements LogSink {
  #bytes: number[] = [];
  writes = 0;
  #gate: Promise<void> | null = null;
  #open: () => void = () => {};
  #waiters: { text: string; resolve: () => void }[] = [];

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
    if (this.#waiters.length === 0) return n;
    const text = this.text;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!text.includes(waiter.text)) return true;
      waiter.resolve();
      return false;
    });
    return n;
  }

  /** Resolves once what was written contains `text`. */
  written(text: string): Promise<void> {
    if (this.text.includes(text)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ text, resolve }));
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

Deno.test("logger: a repeated line is printed once, then summarised at most once per interval", async () => {
  const sink = new Recorder();
  const log = new Logger({ sink, summaryInterval: 30 });
  const more = (n: number) => `[X] ${n} more refusals`;
  for (let i = 0; i < 1000; i++) log.repeated("refused", "info", `[X] refused ${i}`, more);
  log.repeated("other", "info", () => "[X] another kind", more);
  // The held-back ones come out as one line once the interval is over.
  notEqual(await within(sink.written("999 more"), 5000), TIMED_OUT, "no summary line");
  equal(sink.text, "[X] refused 0\n[X] another kind\n[X] 999 more refusals\n");
  // Within the next interval: counted again; flush() prints what is held back.
  log.repeated("refused", "info", "[X] refused again", more);
  await log.flush();
  equal(sink.text.split("\n").at(-2), "[X] 1 more refusals");
});

Deno.test("logger: repeated per-message lines are dropped by --quiet, kept ones are not", async () => {
  const sink = new Recorder();
  const log = new Logger({ sink, quiet: true });
  log.repeated("a", "event", "event kind", (n) => `${n} events`);
  log.repeated("b", "info", "info kind", (n) => `${n} infos`);
  log.repeated("b", "info", "info kind", (n) => `${n} infos`);
  await log.flush();
  equal(sink.text, "info kind\n1 infos\n");
});
