/**
 * Start-up: how long from spawning `deno run main.ts ...` until the server
 * printed every `Listening on` line, and until `connect --help` exited. The
 * baselines are the floor Deno itself sets: a bare script that binds one TCP
 * port and prints its line, and a script that prints one line and exits.
 */
import { ALL_PORTS_ZERO, benchScript, ServerUnderTest, SOCKETKIT } from "../_server.ts";
import type { Measurement, Scenario } from "../scenario.ts";

/** Median of a non-empty list. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Milliseconds from spawn to the last Listening line; the server is stopped again. */
async function timeToListening(
  args: string[],
  expect: number | "settle",
): Promise<{ ms: number; labels: string[] }> {
  await using server = await ServerUnderTest.start(args, { expect });
  return { ms: server.listeningMs, labels: [...server.ports.keys()] };
}

/** Milliseconds from spawn to exit; throws on a non-zero exit. */
async function timeToExit(args: string[]): Promise<number> {
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(15_000), // bounded even if it hangs
  }).output();
  const ms = performance.now() - started;
  if (!output.success) {
    throw new Error(
      `"${args.join(" ")}" exited ${output.code}: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return ms;
}

/** Runs `sample` once to warm Deno's module cache, then `count` times; the median. */
async function sampled(count: number, sample: () => Promise<number>): Promise<number> {
  await sample();
  const values: number[] = [];
  for (let i = 0; i < count; i++) values.push(await sample());
  return median(values);
}

/** Start-up times of `serve` and `connect --help`. */
export const startup: Scenario = {
  name: "startup",
  description: "Start-up: spawn to every Listening line; connect --help to exit",
  async run(options) {
    const count = options.quick ? 3 : 9;
    const filesDir = await Deno.makeTempDir({ prefix: "socketkit-bench-" });
    try {
      const serve = [...SOCKETKIT, "serve", ...ALL_PORTS_ZERO, "--quiet", "--files-dir", filesDir];
      const bare = benchScript("./baselines/tcp_line_echo.ts");
      const bareMs = await sampled(count, async () => (await timeToListening(bare, 1)).ms);
      const messageMs = await sampled(
        count,
        async () => (await timeToListening([...serve, "--services", "message"], 2)).ms,
      );
      let labels: string[] = [];
      const allMs = await sampled(count, async () => {
        const result = await timeToListening(serve, "settle");
        labels = result.labels;
        return result.ms;
      });
      const noopMs = await sampled(count, () => timeToExit(benchScript("./baselines/noop.ts")));
      const helpMs = await sampled(count, () => timeToExit([...SOCKETKIT, "connect", "--help"]));
      const measurements: Measurement[] = [
        {
          figure: "serve --services message: spawn to Listening",
          unit: "ms",
          value: messageMs,
          baseline: bareMs,
          better: "lower",
          goal: { value: 150 },
          note: `median of ${count} starts; baseline: a bare Deno script binding one port`,
        },
        {
          figure: "serve (all services): spawn to every Listening",
          unit: "ms",
          value: allMs,
          baseline: bareMs,
          better: "lower",
          goal: { value: 150 },
          note: `${labels.length} listeners: ${labels.join(" ")}`,
        },
        {
          figure: "connect --help: spawn to exit",
          unit: "ms",
          value: helpMs,
          baseline: noopMs,
          better: "lower",
          goal: { value: 60 },
          note: "baseline: a Deno script that prints one line",
        },
      ];
      return measurements;
    } finally {
      await Deno.remove(filesDir, { recursive: true });
    }
  },
};
