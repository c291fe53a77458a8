/**
 * What every load generator shares: its settings arrive as one JSON argument,
 * its result leaves as one JSON line on stdout, and it measures inside a
 * wall-clock window the runner chose, so several generator processes count
 * the same interval.
 */
import { ownCpuTimeMs } from "../_proc.ts";

/** Settings every generator receives. */
export interface WindowConfig {
  hostname: string;
  port: number;
  /** Epoch ms when counting starts; load before this is warm-up. */
  startAt: number;
  /** Epoch ms when counting stops and no new requests are sent. */
  endAt: number;
  /** Milliseconds after endAt to wait for outstanding replies before giving up. */
  drainMs: number;
}

/** One generator process's result. */
export interface GeneratorResult {
  /** Requests answered inside the window. */
  messages: number;
  /** Latency histogram of those requests, {@link Histogram.toJSON} pairs. */
  latency: [number, number][];
  /** The generator's own CPU time (user + system) inside the window. */
  cpuMs: number;
  windowMs: number;
  /** Failed connects, resets, unexpected closes. */
  errors: number;
  firstError?: string;
  /** Requests sent and answered over the whole run, warm-up included (UDP loss). */
  sent?: number;
  received?: number;
}

/** The settings passed as the first argument. */
export function readConfig<T extends WindowConfig>(): T {
  const raw = Deno.args[0];
  if (raw === undefined) throw new Error("Missing the JSON settings argument");
  return JSON.parse(raw) as T;
}

/** A result with nothing counted yet, for the window `config` describes. */
export function emptyResult(config: WindowConfig): GeneratorResult {
  return { messages: 0, latency: [], cpuMs: 0, windowMs: config.endAt - config.startAt, errors: 0 };
}

/** Milliseconds since the epoch with sub-millisecond resolution. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Resolves at epoch ms `at` (at once if it has passed). */
export function until(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
}

/** Reads this process's CPU time at the window's start and end. */
export function measureOwnCpu(config: WindowConfig): Promise<number> {
  return (async () => {
    await until(config.startAt);
    const before = ownCpuTimeMs();
    await until(config.endAt);
    return ownCpuTimeMs() - before;
  })();
}

/**
 * Prints the result as the one line on stdout and exits, so an operation that
 * cannot be cancelled (a connect stuck in a full backlog) cannot keep the
 * process alive past its deadline.
 */
export function report(result: GeneratorResult): never {
  console.log(JSON.stringify(result));
  Deno.exit(0);
}

/** Resolves at epoch ms `at`, for racing operations that cannot be cancelled. */
export function deadline(at: number): { reached: Promise<typeof DEADLINE>; clear(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const reached = new Promise<typeof DEADLINE>((resolve) => {
    timer = setTimeout(() => resolve(DEADLINE), Math.max(0, at - Date.now()));
  });
  return { reached, clear: () => clearTimeout(timer) };
}

/** What {@link deadline} resolves to. */
export const DEADLINE = Symbol("deadline");

/** A short description of an error for the report. */
export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
