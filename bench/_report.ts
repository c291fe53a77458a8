/**
 * Turning repeated scenario runs into a report: medians, ranges, ratios to
 * the same-run baseline, goals checked, and the Markdown table.
 */
import type { Goal, Measurement } from "./scenario.ts";

/** The machine a report was measured on. */
export interface Machine {
  cores: number;
  cpu: string;
  memoryGiB: number;
  os: string;
  deno: string;
  v8: string;
  /** ISO date and time the run started. */
  date: string;
  /** 1, 5 and 15 minute load averages when the run started. */
  loadAverage: number[];
}

/** One figure over every run. */
export interface FigureSummary {
  figure: string;
  unit: string;
  better: "higher" | "lower";
  values: number[];
  median: number;
  min: number;
  max: number;
  /** Baseline of each run, when the scenario measured one. */
  baselines?: number[];
  /** Median baseline. */
  baseline?: number;
  /** Median over runs of value / baseline of the same run. */
  ratio?: number;
  goal?: Goal;
  /** Whether the median (or the ratio) meets the goal. */
  met?: boolean;
  /** The note of each run. */
  notes: string[];
}

/** One scenario over every run. */
export interface ScenarioSummary {
  name: string;
  description: string;
  runs: number;
  figures: FigureSummary[];
  /** Set when a run failed; the figures hold the runs before it. */
  error?: string;
}

/** Everything `deno task bench` measured. */
export interface Report {
  machine: Machine;
  settings: { quick: boolean; runs: number; generators: number };
  scenarios: ScenarioSummary[];
}

/** Median of a list (NaN when empty). */
export function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Groups the measurements of several runs by figure and summarises each. */
export function summarise(runs: Measurement[][]): FigureSummary[] {
  const byFigure = new Map<string, Measurement[]>();
  for (const run of runs) {
    for (const m of run) {
      const list = byFigure.get(m.figure) ?? [];
      list.push(m);
      byFigure.set(m.figure, list);
    }
  }
  return [...byFigure.values()].map((ms) => {
    const first = ms[0]!;
    const values = ms.map((m) => m.value);
    const finite = values.filter((v) => !Number.isNaN(v));
    const summary: FigureSummary = {
      figure: first.figure,
      unit: first.unit,
      better: first.better,
      values,
      median: median(values),
      min: finite.length ? Math.min(...finite) : NaN,
      max: finite.length ? Math.max(...finite) : NaN,
      notes: ms.map((m) => m.note ?? ""),
    };
    if (ms.some((m) => m.baseline !== undefined)) {
      summary.baselines = ms.map((m) => m.baseline ?? NaN);
      summary.baseline = median(summary.baselines);
      summary.ratio = median(ms.map((m) => ratio(m.value, m.baseline ?? NaN)));
    }
    if (first.goal) {
      summary.goal = first.goal;
      summary.met = meets(summary, first.goal);
    }
    return summary;
  });
}

function ratio(value: number, baseline: number): number {
  return baseline === 0 ? (value === 0 ? 1 : NaN) : value / baseline;
}

function meets(summary: FigureSummary, goal: Goal): boolean {
  const ok = (x: number, bound: number) => summary.better === "higher" ? x >= bound : x <= bound;
  if (goal.ratio !== undefined && !ok(summary.ratio ?? NaN, goal.ratio)) return false;
  if (goal.value !== undefined && !ok(summary.median, goal.value)) return false;
  return true;
}

/** A number for a table: thousands separated, two significant decimals for small ones. */
export function formatNumber(n: number | undefined): string {
  if (n === undefined || Number.isNaN(n)) return "n/a";
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toLocaleString("en-US");
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function goalText(summary: FigureSummary): string {
  const goal = summary.goal;
  if (!goal) return "";
  const sign = summary.better === "higher" ? "≥" : "≤";
  const parts: string[] = [];
  if (goal.ratio !== undefined) parts.push(`${sign} ${goal.ratio}x`);
  if (goal.value !== undefined) parts.push(`${sign} ${goal.value} ${summary.unit}`);
  return `${parts.join(", ")} ${summary.met ? "met" : "**missed**"}`;
}

/** The note of the run whose value is the median (the first run's if unclear). */
function medianNote(summary: FigureSummary): string {
  const index = summary.values.indexOf(summary.median);
  return summary.notes[index === -1 ? 0 : index] ?? "";
}

/** The report as Markdown: machine, table, notes. */
export function toMarkdown(report: Report): string {
  const { machine, settings } = report;
  const lines = [
    `## socketkit benchmark, ${machine.date}`,
    "",
    `Machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB.toFixed(1)} GiB RAM, ` +
    `${machine.os}, Deno ${machine.deno} (V8 ${machine.v8}), load average at start ` +
    `${machine.loadAverage.map((l) => l.toFixed(2)).join(" ")}.`,
    `${settings.runs} run${settings.runs > 1 ? "s" : ""} per scenario${
      settings.quick ? " (--quick: short runs, do not judge these numbers)" : ""
    }; median and min–max over runs; ratio = median over runs of value / baseline of the ` +
    `same run. Servers run with --quiet unless the figure says otherwise; ${settings.generators} ` +
    `load generator process${settings.generators > 1 ? "es" : ""} per measurement.`,
    "",
    "| scenario | figure | median | min–max | unit | baseline | ratio | goal |",
    "|---|---|--:|--:|---|--:|--:|---|",
  ];
  const notes: string[] = [];
  for (const scenario of report.scenarios) {
    for (const f of scenario.figures) {
      const range = f.values.length > 1 ? `${formatNumber(f.min)}–${formatNumber(f.max)}` : "";
      const ratio = f.ratio === undefined ? "" : `${formatNumber(f.ratio)}x`;
      lines.push(
        `| ${scenario.name} | ${f.figure} | ${formatNumber(f.median)} | ${range} | ${f.unit} | ${
          f.baseline === undefined ? "" : formatNumber(f.baseline)
        } | ${ratio} | ${goalText(f)} |`,
      );
      const note = medianNote(f);
      if (note) notes.push(`- ${scenario.name}, ${f.figure}: ${note}`);
    }
    if (scenario.error) {
      lines.push(`| ${scenario.name} | **failed** | | | | | | |`);
      notes.push(`- ${scenario.name} failed: ${scenario.error.split("\n")[0]}`);
    }
  }
  lines.push("", "Scenarios:", "");
  for (const scenario of report.scenarios) {
    lines.push(`- ${scenario.name}: ${scenario.description}`);
  }
  if (notes.length > 0) lines.push("", "Notes (from the median run):", "", ...notes);
  return lines.join("\n") + "\n";
}
