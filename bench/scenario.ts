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
  /** The target this figure is held to, checked by the runner against the median. */
  goal?: Goal;
}

/**
 * A target for a figure. With `better: "higher"` the bounds are minimums,
 * with "lower" maximums.
 */
export interface Goal {
  /** Bound on value / baseline, e.g. 0.8 for "at least 0.8x the baseline". */
  ratio?: number;
  /** Bound on the value itself, in the figure's unit, e.g. 150 for "at most 150 ms". */
  value?: number;
}

/** Options every scenario receives. */
export interface ScenarioOptions {
  /** A small version: the whole `--quick` run finishes in under a minute. */
  quick: boolean;
  /**
   * Which repetition this is (0, 1, 2...). Scenarios alternate the order of
   * baseline and subject by it, so a drift in machine load favours neither.
   */
  run?: number;
  /**
   * Load generator processes to use where a scenario can split its load.
   * Default: one per two cores, at least one (the server needs a core too).
   */
  generators?: number;
  /** --minutes: how long a timed scenario (the soak) runs; absent: its own default. */
  minutes?: number;
}

/** A benchmark scenario. Must bound every loop in count and time, loopback only. */
export interface Scenario {
  /** Short id for `--only`, e.g. "tcp-pipelined". */
  name: string;
  /** One line for the table. */
  description: string;
  /** Most runs it takes, whatever --runs says (the soak: 1). */
  maxRuns?: number;
  run(options: ScenarioOptions): Promise<Measurement[]>;
}
