/**
 * One real quick scenario of the benchmark runner end to end (start-up, a
 * few seconds; its figures are bounded, so it lives in the slow tier).
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import type { Report } from "../../bench/_report.ts";
import { bench } from "../_bench.ts";

Deno.test("bench: --quick --only startup --json writes one JSON report to stdout", async () => {
  const result = await bench(["--quick", "--only", "startup", "--json"]);
  equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Report;
  ok(report.machine.cores >= 1);
  equal(report.machine.deno, Deno.version.deno);
  deepStrictEqual(report.settings.quick, true);
  equal(report.scenarios.length, 1);
  const [startup] = report.scenarios;
  equal(startup!.name, "startup");
  equal(startup!.error, undefined);
  // serve twice, connect --help, 7 modes' --help, 7 exchanges with a server.
  deepStrictEqual(startup!.figures.map((f) => f.unit), new Array(17).fill("ms"));
  for (const figure of startup!.figures) {
    ok(figure.median > 0 && figure.median < 10_000, `${figure.figure}: ${figure.median}`);
    ok(figure.baseline! > 0, `${figure.figure} has a baseline`);
  }
  match(result.stderr, /bench: startup run 1\/1/);
});
