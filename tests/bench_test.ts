/**
 * The benchmark runner: its command line and its arithmetic (one real quick
 * scenario end to end is in tests/slow/bench_run_test.ts).
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { Histogram } from "../bench/_histogram.ts";
import { median, summarise, toMarkdown } from "../bench/_report.ts";
import type { Measurement } from "../bench/scenario.ts";
import { bench } from "./_bench.ts";

Deno.test("bench: an unknown scenario is a usage error, exit 2, nothing on stdout", async () => {
  const result = await bench(["--only", "nosuch"]);
  equal(result.code, 2);
  equal(result.stdout, "");
  match(result.stderr, /Unknown scenario "nosuch": expected one of tcp-pipelined, /);
});

Deno.test("bench: an unknown flag is a usage error, exit 2", async () => {
  const result = await bench(["--fast"]);
  equal(result.code, 2);
  match(result.stderr, /--fast/);
});

Deno.test("bench: --minutes takes a positive number, and the soak is a scenario", async () => {
  const result = await bench(["--only", "soak", "--minutes", "0"]);
  equal(result.code, 2);
  match(result.stderr, /Invalid value "0" for --minutes/);
  match(result.stderr, /--only NAME {2}Run one scenario: .*soak/);
});

Deno.test("bench report: medians, ranges, same-run ratios and goals", () => {
  const run = (value: number, baseline: number, latency: number): Measurement[] => [
    { figure: "msgs/s", unit: "msg/s", value, baseline, better: "higher", goal: { ratio: 0.8 } },
    { figure: "p99", unit: "ms", value: latency, better: "lower", goal: { value: 5 } },
  ];
  const [rate, p99] = summarise([run(80, 100, 4), run(90, 200, 6), run(100, 100, 3)]);
  deepStrictEqual(rate!.values, [80, 90, 100]);
  equal(rate!.median, 90);
  equal(rate!.min, 80);
  equal(rate!.max, 100);
  equal(rate!.baseline, 100);
  equal(rate!.ratio, 0.8); // median of 0.8, 0.45, 1.0: per run, not median over median
  equal(rate!.met, true);
  equal(p99!.median, 4);
  equal(p99!.baseline, undefined);
  equal(p99!.met, true);
  const [missed] = summarise([run(10, 100, 9)]);
  equal(missed!.met, false);
  equal(median([3, 1, 2, 10]), 2.5);
  const markdown = toMarkdown({
    machine: {
      cores: 2,
      cpu: "test",
      memoryGiB: 1,
      os: "linux",
      deno: "2",
      v8: "1",
      date: "now",
      loadAverage: [0, 0, 0],
    },
    settings: { quick: false, runs: 3, generators: 1 },
    scenarios: [{ name: "s", description: "d", runs: 3, figures: [rate!, p99!] }],
  });
  match(
    markdown,
    /\| s \| msgs\/s \| 90\.0 \| 80\.0–100 \| msg\/s \| 100 \| 0\.80x \| ≥ 0\.8x met \|/,
  );
  match(markdown, /\| s \| p99 \| 4\.00 \| 3\.00–6\.00 \| ms \| {2}\| {2}\| ≤ 5 ms met \|/);
});

Deno.test("bench histogram: percentiles within half a bucket, merge and JSON round trip", () => {
  const histogram = new Histogram();
  for (let us = 1; us <= 100_000; us++) histogram.record(us);
  for (const p of [50, 90, 99, 99.9]) {
    const exact = p * 1000;
    const got = histogram.percentile(p);
    ok(Math.abs(got - exact) / exact < 0.02, `p${p}: ${got} vs ${exact}`);
  }
  const copy = Histogram.fromJSON(JSON.parse(JSON.stringify(histogram)));
  copy.merge(histogram);
  equal(copy.count, 200_000);
  equal(copy.percentile(50), histogram.percentile(50));
  ok(Number.isNaN(new Histogram().percentile(50)));
});
