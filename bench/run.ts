/**
 * `deno task bench`: runs every scenario several times against real
 * `socketkit serve` processes and same-run bare baselines, and prints a
 * Markdown table (or JSON with --json). Progress goes to stderr, so stdout
 * holds only the report.
 */
import { parseArgs } from "node:util";
import { cpuModel } from "./_proc.ts";
import {
  type Machine,
  type Report,
  type ScenarioSummary,
  summarise,
  toMarkdown,
} from "./_report.ts";
import type { Measurement, Scenario } from "./scenario.ts";
import { SCENARIOS } from "./scenarios/mod.ts";

const USAGE = `Usage: deno task bench [--quick] [--json] [--only NAME] [--runs N] [--minutes N]

Runs the socketkit benchmarks on this machine (loopback only) and prints a
Markdown table of medians, ranges and ratios to a bare Deno baseline measured
in the same run.

Flags:
  --quick      Short runs, one each; the whole run finishes in under a minute
  --json       Write the report as JSON to stdout (progress stays on stderr)
  --only NAME  Run one scenario: ${SCENARIOS.map((s) => s.name).join(", ")}
  --runs N     Runs per scenario (default: 3, or 1 with --quick; the soak runs once)
  --minutes N  How long the soak runs (default: 5, or 1/3 with --quick; fractions work)
  --generators N
               Load generator processes per measurement (default: one per
               two cores, at least one)
  -h, --help   Show this help and exit
`;

/** The runner's settings from its command line. */
interface RunSettings {
  quick: boolean;
  json: boolean;
  runs: number;
  generators: number;
  /** --minutes: the soak's length; undefined: its default. */
  minutes?: number;
  scenarios: Scenario[];
}

class Usage extends Error {}

function parseSettings(args: string[]): RunSettings | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        quick: { type: "boolean" },
        json: { type: "boolean" },
        only: { type: "string" },
        runs: { type: "string" },
        generators: { type: "string" },
        minutes: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new Usage(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return "help";
  const quick = values.quick === true;
  let runs = quick ? 1 : 3;
  if (values.runs !== undefined) {
    runs = Number(values.runs);
    if (!/^\d+$/.test(values.runs) || runs < 1 || runs > 20) {
      throw new Usage(`Invalid value "${values.runs}" for --runs: expected 1 to 20`);
    }
  }
  const cores = navigator.hardwareConcurrency;
  let generators = Math.max(1, Math.floor(cores / 2));
  if (values.generators !== undefined) {
    generators = Number(values.generators);
    if (!/^\d+$/.test(values.generators) || generators < 1 || generators > 64) {
      throw new Usage(`Invalid value "${values.generators}" for --generators: expected 1 to 64`);
    }
  }
  let scenarios = SCENARIOS;
  if (values.only !== undefined) {
    scenarios = SCENARIOS.filter((s) => s.name === values.only);
    if (scenarios.length === 0) {
      throw new Usage(
        `Unknown scenario "${values.only}": expected one of ${
          SCENARIOS.map((s) => s.name).join(", ")
        }`,
      );
    }
  }
  let minutes: number | undefined;
  if (values.minutes !== undefined) {
    minutes = Number(values.minutes);
    if (!/^\d+(\.\d+)?$/.test(values.minutes) || minutes <= 0 || minutes > 24 * 60) {
      throw new Usage(`Invalid value "${values.minutes}" for --minutes: expected above 0, to 1440`);
    }
  }
  return {
    quick,
    json: values.json === true,
    runs,
    generators,
    ...(minutes === undefined ? {} : { minutes }),
    scenarios,
  };
}

async function describeMachine(): Promise<Machine> {
  return {
    cores: navigator.hardwareConcurrency,
    cpu: await cpuModel(),
    memoryGiB: Deno.systemMemoryInfo().total / 1024 ** 3,
    os: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    date: new Date().toISOString(),
    loadAverage: Deno.loadavg(),
  };
}

function progress(line: string): void {
  console.error(line);
}

async function runScenario(scenario: Scenario, settings: RunSettings): Promise<ScenarioSummary> {
  const runs: Measurement[][] = [];
  const summary: ScenarioSummary = {
    name: scenario.name,
    description: scenario.description,
    runs: 0,
    figures: [],
  };
  const times = Math.min(settings.runs, scenario.maxRuns ?? settings.runs);
  for (let run = 0; run < times; run++) {
    const started = performance.now();
    progress(`bench: ${scenario.name} run ${run + 1}/${times}...`);
    try {
      const { quick, generators, minutes } = settings;
      runs.push(
        await scenario.run({
          quick,
          run,
          generators,
          ...(minutes === undefined ? {} : { minutes }),
        }),
      );
    } catch (error) {
      summary.error = error instanceof Error ? error.stack ?? error.message : String(error);
      progress(`bench: ${scenario.name} failed: ${summary.error}`);
      break;
    }
    progress(
      `bench: ${scenario.name} run ${run + 1} took ${Math.round(performance.now() - started)} ms`,
    );
  }
  summary.runs = runs.length;
  summary.figures = summarise(runs);
  return summary;
}

/** Runs the benchmarks; resolves to the exit code (1 if a scenario failed). */
export async function main(args: string[]): Promise<number> {
  let settings;
  try {
    settings = parseSettings(args);
  } catch (error) {
    if (!(error instanceof Usage)) throw error;
    console.error(`error: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (settings === "help") {
    console.log(USAGE);
    return 0;
  }
  const started = performance.now();
  const report: Report = {
    machine: await describeMachine(),
    settings: {
      quick: settings.quick,
      // The most any scenario ran (the soak alone runs once).
      runs: Math.max(
        ...settings.scenarios.map((s) => Math.min(settings.runs, s.maxRuns ?? Infinity)),
      ),
      generators: settings.generators,
    },
    scenarios: [],
  };
  for (const scenario of settings.scenarios) {
    report.scenarios.push(await runScenario(scenario, settings));
  }
  progress(`bench: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(settings.json ? JSON.stringify(report, null, 2) : toMarkdown(report));
  return report.scenarios.some((s) => s.error !== undefined) ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
