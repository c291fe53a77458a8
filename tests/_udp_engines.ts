/**
 * The UDP engines (serve --udp-engine) the UDP tests run against: each test
 * so marked starts its server once per engine. The batch engine needs Linux
 * and --allow-ffi (which the tests' servers otherwise do not get); elsewhere
 * its runs are skipped, saying why.
 */
import type { ProcessOptions } from "./_helpers.ts";

/** One engine: the flags that choose it and what the server process needs for it. */
export interface EngineRun {
  engine: "deno" | "batch";
  args: string[];
  options: ProcessOptions;
  /** Why this engine cannot be tested here, or null. */
  skip: string | null;
}

export const ENGINE_RUNS: readonly EngineRun[] = [
  { engine: "deno", args: ["--udp-engine", "deno"], options: {}, skip: null },
  {
    engine: "batch",
    args: ["--udp-engine", "batch"],
    options: { denoArgs: ["--allow-ffi"] },
    skip: Deno.build.os === "linux" ? null : `the UDP batch engine needs Linux (${Deno.build.os})`,
  },
];

for (const run of ENGINE_RUNS) {
  if (run.skip !== null) console.log(`skipping the ${run.engine} engine's UDP tests: ${run.skip}`);
}
