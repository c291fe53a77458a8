/**
 * Resets before accept (issue 15): a witness in the original client's pattern
 * (connect, one line, the reply, close, every 20 ms) measures connect-to-reply
 * latency while tests/attacks/resets_before_accept.py resets 200 connections
 * a second before the server accepts them. The baseline is the same witness
 * against the same kind of server with no attack, in the same run. Goal: the
 * witness's p99 stays at or under 20 ms under the attack. Needs python3; the
 * figures say "skipped" without it.
 */
import { fileURLToPath } from "node:url";
import { ALL_PORTS_ZERO, ServerUnderTest, SOCKETKIT } from "../_server.ts";
import type { Measurement, Scenario } from "../scenario.ts";

const ATTACK = fileURLToPath(
  new URL("../../tests/attacks/resets_before_accept.py", import.meta.url),
);
const RATE = 200;
const LF = 0x0a;

/** Exchanges before measuring, so JIT warm-up on either side is not counted. */
const WARMUP = 10;

/** Connect-to-reply latencies (ms) of a witness running for `ms`, one exchange per 20 ms. */
async function witness(port: number, ms: number): Promise<number[]> {
  const latencies: number[] = [];
  const request = new TextEncoder().encode("witness\n");
  const buffer = new Uint8Array(256);
  const until = performance.now() + ms;
  for (let i = 0; performance.now() < until || i < WARMUP; i++) {
    const started = performance.now();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(request);
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        if (buffer.subarray(0, n).includes(LF)) break;
      }
    } finally {
      conn.close();
    }
    if (i >= WARMUP) latencies.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return latencies.sort((a, b) => a - b);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

/** One server, the witness alone, or the witness during the attack. */
async function measure(
  attack: boolean,
  ms: number,
): Promise<{ latencies: number[]; resets: number }> {
  const args = [...SOCKETKIT, "serve", ...ALL_PORTS_ZERO, "--services", "message", "--quiet"];
  await using server = await ServerUnderTest.start(args, { expect: 2 });
  const port = server.port("[TCP Server]");
  if (!attack) return { latencies: await witness(port, ms), resets: 0 };
  const attacker = new Deno.Command("python3", {
    args: [ATTACK, String(port), String(RATE), String(ms / 1000)],
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(ms + 15_000), // bounded even if it hangs
  }).spawn();
  const latencies = await witness(port, ms);
  const output = await attacker.output();
  return { latencies, resets: Number(new TextDecoder().decode(output.stdout).trim()) || 0 };
}

async function hasPython(): Promise<boolean> {
  try {
    return (await new Deno.Command("python3", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

export const resetsBeforeAccept: Scenario = {
  name: "resets",
  description: "TCP message witness latency under 200 resets/s before accept, vs no attack",
  async run(options) {
    const ms = options.quick ? 2000 : 10_000;
    if (!(await hasPython())) {
      return [{
        figure: "witness p99 under resets",
        unit: "ms",
        value: NaN,
        better: "lower",
        note: "skipped: python3 is not installed",
      }];
    }
    // Alternate the order by run, so a drift in machine load favours neither.
    const first = (options.run ?? 0) % 2 === 0;
    const quiet = first ? await measure(false, ms) : null;
    const attacked = await measure(true, ms);
    const calm = quiet ?? await measure(false, ms);
    const figure = (name: string, p: number): Measurement => ({
      figure: `witness ${name} under ${RATE} resets/s`,
      unit: "ms",
      value: percentile(attacked.latencies, p),
      baseline: percentile(calm.latencies, p),
      better: "lower",
    });
    return [
      figure("p50", 0.5),
      {
        ...figure("p99", 0.99),
        goal: { value: 20 },
        note:
          `${attacked.resets} connections reset by the attacker; ${attacked.latencies.length} ` +
          `witness exchanges`,
      },
      figure("max", 1),
    ];
  },
};
