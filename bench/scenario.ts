/**
 * The contract between the bench runner (bench/run.ts) and each scenario
 * (bench/scenarios/*.ts). A scenario runs once per call; the runner repeats
 * it, takes medians and ranges, and prints ratios to the baseline.
 */

/** One figure a scenario measured in one run. */
export interface Measurement {
  /** e.g. "msgs/s", "p99 latency", "peak RSS server". */
  figure: string;
  /** e.g. "msg/s", "ms", "MB", "MB/s". */
  unit: string;
  value: number;
  /** The same figure for the bare baseline, measured in the same run. */
  baseline?: number;
  /** Which direction is better, so the ratio reads the right way. */
  better: "higher" | "lower";
  /** Free-form note, e.g. "generator CPU 97%: saturated". */
  note?: string;
}

/** Options every scenario receives. */
export interface ScenarioOptions {
  /** A small version: the whole `--quick` run finishes in under a minute. */
  quick: boolean;
}

/** A benchmark scenario. Must bound every loop in count and time, loopback only. */
export interface Scenario {
  /** Short id for `--only`, e.g. "tcp-pipelined". */
  name: string;
  /** One line for the table. */
  description: string;
  run(options: ScenarioOptions): Promise<Measurement[]>;
}
