/**
 * Running load generators as separate processes and turning their results
 * into figures: one shared measurement window, results merged, CPU of the
 * server and of the generators sampled over that window.
 */
import { cpuTimeMs } from "./_proc.ts";
import { Histogram } from "./_histogram.ts";
import { benchScript, readBounded } from "./_server.ts";
import type { GeneratorResult, WindowConfig } from "./gen/_common.ts";

/** When the generators count, and how long they may drain afterwards. */
export interface Window {
  startAt: number;
  endAt: number;
  drainMs: number;
}

/**
 * A window starting after `warmupMs` of load (plus time for the generator
 * processes to start) and lasting `durationMs`.
 */
export function planWindow(warmupMs: number, durationMs: number, drainMs = 2000): Window {
  // Deno starts in about 50 ms; a few processes at once on two busy cores take longer.
  const startAt = Date.now() + 700 + warmupMs;
  return { startAt, endAt: startAt + durationMs, drainMs };
}

/** The merged result of every generator process. */
export interface LoadResult {
  messagesPerSecond: number;
  latency: Histogram;
  /** Mean CPU use of one generator process over the window, in % of one core. */
  generatorCpuPercent: number;
  /** The busiest generator process, in % of one core. */
  generatorCpuMaxPercent: number;
  /** Server CPU over the window, in % of one core. */
  serverCpuPercent: number;
  errors: number;
  firstError?: string;
  sent: number;
  received: number;
  processes: number;
}

/**
 * Runs `script` once per config (in parallel, one process each) while
 * sampling `serverPid`'s CPU over the window; merges the results. Throws if
 * a generator fails or has not finished by the window's end plus drain plus
 * 10 s (it is killed).
 */
export async function runLoad<C extends WindowConfig>(
  script: string,
  configs: C[],
  serverPid: number,
): Promise<LoadResult> {
  const window = configs[0]!;
  const serverCpu = cpuOver(serverPid, window.startAt, window.endAt);
  const results = await Promise.all(
    configs.map((config) =>
      runProcess(
        benchScript(script, JSON.stringify(config)),
        window.endAt + window.drainMs + 10_000,
      )
    ),
  );
  const parsed = results.map((stdout) => JSON.parse(stdout) as GeneratorResult);
  const latency = new Histogram();
  let messages = 0, cpu = 0, cpuMax = 0, errors = 0, sent = 0, received = 0;
  let firstError: string | undefined;
  for (const result of parsed) {
    latency.merge(Histogram.fromJSON(result.latency));
    messages += result.messages;
    const percent = (100 * result.cpuMs) / result.windowMs;
    cpu += percent;
    cpuMax = Math.max(cpuMax, percent);
    errors += result.errors;
    firstError ??= result.firstError;
    sent += result.sent ?? 0;
    received += result.received ?? 0;
  }
  const windowMs = window.endAt - window.startAt;
  const load: LoadResult = {
    messagesPerSecond: (messages * 1000) / windowMs,
    latency,
    generatorCpuPercent: cpu / parsed.length,
    generatorCpuMaxPercent: cpuMax,
    serverCpuPercent: (100 * (await serverCpu)) / windowMs,
    errors,
    sent,
    received,
    processes: parsed.length,
  };
  if (firstError !== undefined) load.firstError = firstError;
  return load;
}

/** CPU milliseconds `pid` used between epoch ms `from` and `to`. */
export async function cpuOver(pid: number, from: number, to: number): Promise<number> {
  await sleepUntil(from);
  const before = await cpuTimeMs(pid);
  await sleepUntil(to);
  return (await cpuTimeMs(pid)) - before;
}

/** Resolves at epoch ms `at`. */
export function sleepUntil(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
}

/**
 * Runs `deno <args>` to completion and returns its stdout; throws with its
 * stderr on a non-zero exit, and kills it at epoch ms `killAt`.
 */
export async function runProcess(args: string[], killAt: number): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }, Math.max(0, killAt - Date.now()));
  try {
    const [stdout, stderr, status] = await Promise.all([
      readBounded(child.stdout, 1024 * 1024),
      readBounded(child.stderr, 64 * 1024),
      child.status,
    ]);
    if (!status.success) {
      throw new Error(
        `Generator ${args.slice(-2, -1)} failed (exit ${status.code}${
          status.signal ? `, ${status.signal}` : ""
        }): ${stderr.trim()}`,
      );
    }
    return stdout.trim().split("\n").at(-1) ?? "";
  } finally {
    clearTimeout(timer);
  }
}

/** Splits `total` into `parts` whole numbers that differ by at most one. */
export function split(total: number, parts: number): number[] {
  return Array.from(
    { length: parts },
    (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0),
  );
}
