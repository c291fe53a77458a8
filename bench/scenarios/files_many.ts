/**
 * files-many: a folder of 5,000 files of 4 KB in folders of 100 (200 with
 * --quick; another count with SOCKETKIT_BENCH_FILES=N, or --files N when run
 * alone, e.g. 1000 or 100000), in one command up (`connect upload FOLDER`)
 * and down (`connect download FOLDER`), against `tar c | socat` ->
 * `socat | tar x` + `sync -f` of the same tree in the same run, each side
 * into a fresh directory (this file system avoids reusing inodes freed in
 * the last minutes, which would skew a run that follows a deletion). Files
 * per second from spawn to exit for both (process start included: what a
 * user waits for), with the peak RSS of server and client and the CPU each
 * side used.
 *
 * Run alone: deno run -A bench/scenarios/files_many.ts [--quick] [--files N]
 */
import { fileURLToPath } from "node:url";
import { basename, dirname, join } from "node:path";
import type { Measurement, Scenario, ScenarioOptions } from "../scenario.ts";
import { cpuTimeMs, peakRssBytes } from "../_proc.ts";
import { bounded, hasSocat, type Server, settle, startServer } from "./files.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
// As `deno task connect` and `deno task serve` run: FFI lets the group syncs use syncfs.
const DENO_RUN = [
  "run",
  "--unstable-net",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-ffi",
];
const FILE_SIZE = 4096;
/** Files per folder of the tree. */
const PER_FOLDER = 100;

export const filesManyScenario: Scenario = {
  name: "files-many",
  description: "TCP file service: a folder of 5,000 files of 4 KB in one command vs tar | socat",
  async run(options: ScenarioOptions): Promise<Measurement[]> {
    const count = options.quick ? 200 : filesFromEnv() ?? 5000;
    const dir = await Deno.makeTempDir({ prefix: "socketkit-bench-many-" });
    try {
      return await measure(dir, count, options.run ?? 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
};

function filesFromEnv(): number | null {
  try {
    const value = Number(Deno.env.get("SOCKETKIT_BENCH_FILES") ?? "");
    return Number.isSafeInteger(value) && value > 0 ? value : null;
  } catch {
    return null; // no --allow-env
  }
}

async function measure(dir: string, count: number, run: number): Promise<Measurement[]> {
  const tree = join(dir, "tree");
  writeTree(tree, count);
  const peer = await tarSocatMissing();
  const server = await startServer(join(dir, "server"), ["--allow-ffi"]);
  try {
    // Alternate which goes first, so a drift in machine load favours neither.
    let tarUp: number | null = null;
    let tarDown: number | null = null;
    const stored = join(dir, "server", "many");
    if (peer === null && run % 2 === 0) tarUp = await tarSocat(dir, tree, "up-first");
    await settle();
    const up = await timed(server, ["upload", tree, "--name", "many", "--json"], count);
    await settle();
    if (peer === null && run % 2 === 0) tarDown = await tarSocat(dir, stored, "down-first");
    await settle();
    const down = await timed(
      server,
      ["download", "many", "--output", join(dir, "down"), "--json"],
      count,
    );
    if (peer === null && run % 2 === 1) {
      await settle();
      tarUp = await tarSocat(dir, tree, "up-last");
      tarDown = await tarSocat(dir, stored, "down-last");
    }
    const serverRss = await peakRssBytes(server.child.pid);
    const goal = { ratio: count >= 100_000 ? 0.4 : 0.5 };
    const what = `${count} files of 4 KB in ${Math.ceil(count / PER_FOLDER)} folders`;
    const figures = (side: Timed, tar: number | null, direction: string): Measurement => ({
      figure: `${direction}, ${count} files of 4 KB`,
      unit: "files/s",
      value: count / side.seconds,
      ...(tar === null ? {} : { baseline: count / tar }),
      better: "higher",
      goal,
      note: peer === null
        ? `${what}; wall clock, process start included (in-command ${
          Math.round(count / side.inCommand)
        } files/s); CPU client ${side.clientCpuMs.toFixed(0)} ms, server ${
          side.serverCpuMs.toFixed(0)
        } ms; baseline: tar c | socat -> socat | tar x, then sync -f, fresh directories`
        : `${what}; no baseline: ${peer}`,
    });
    return [
      figures(up, tarUp, "upload"),
      figures(down, tarDown, "download"),
      {
        figure: `peak RSS server, ${count} files`,
        unit: "MB",
        value: serverRss / 1e6,
        better: "lower",
        goal: { value: 250 },
      },
      {
        figure: `peak RSS client, ${count} files`,
        unit: "MB",
        value: Math.max(up.clientRss, down.clientRss) / 1e6,
        better: "lower",
        goal: { value: 250 },
      },
    ];
  } finally {
    await server.close();
  }
}

/** `count` random files of 4 KB, PER_FOLDER to a folder. */
function writeTree(tree: string, count: number): void {
  const bytes = new Uint8Array(FILE_SIZE);
  for (let i = 0; i < count; i++) {
    const folder = join(tree, `d${Math.floor(i / PER_FOLDER)}`);
    if (i % PER_FOLDER === 0) Deno.mkdirSync(folder, { recursive: true });
    crypto.getRandomValues(bytes);
    Deno.writeFileSync(join(folder, `f${i}.bin`), bytes);
  }
}

interface Timed {
  /** From spawn to exit. */
  seconds: number;
  /** The command's own figure (after start-up). */
  inCommand: number;
  clientRss: number;
  clientCpuMs: number;
  serverCpuMs: number;
}

/** Runs `connect <args>` against the server, from spawn to exit, sampling the client. */
async function timed(server: Server, args: string[], count: number): Promise<Timed> {
  const serverCpu = await cpuTimeMs(server.child.pid);
  const began = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [...DENO_RUN, MAIN, "connect", ...args, "--file-port", String(server.port)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let exited = false;
  child.status.then(() => (exited = true));
  const sample = (async () => {
    let rss = 0;
    let cpu = 0;
    while (!exited) {
      const [peak, used] = await Promise.all([peakRssBytes(child.pid), cpuTimeMs(child.pid)]);
      if (Number.isFinite(peak)) rss = Math.max(rss, peak);
      if (Number.isFinite(used)) cpu = Math.max(cpu, used);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return { rss, cpu };
  })();
  // 100,000 files take minutes on a busy machine: the step limit grows with the count.
  const output = await bounded(child.output(), child, args.join(" "), stepLimit(count));
  const seconds = (performance.now() - began) / 1000;
  const { rss, cpu } = await sample;
  const serverCpuMs = (await cpuTimeMs(server.child.pid)) - serverCpu;
  const text = new TextDecoder();
  if (!output.success) {
    throw new Error(`connect ${args.join(" ")} failed: ${text.decode(output.stderr)}`);
  }
  const summary = JSON.parse(text.decode(output.stdout));
  if (summary.count !== count || summary.skipped !== 0) {
    throw new Error(
      `connect ${args.join(" ")}: ${summary.count} files, ${summary.skipped} skipped`,
    );
  }
  return {
    seconds,
    inCommand: summary.seconds,
    clientRss: rss,
    clientCpuMs: cpu,
    serverCpuMs,
  };
}

/**
 * The peer: `tar c` of `tree` piped through socat to a `socat | tar x`
 * receiver into a fresh directory, then `sync -f` of the output. Seconds
 * from the sender's start to the sync's end.
 */
async function tarSocat(dir: string, tree: string, tag: string): Promise<number> {
  const out = join(dir, `tar-${tag}`);
  await Deno.mkdir(out);
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const receiver = new Deno.Command("bash", {
    args: [
      "-o",
      "pipefail",
      "-c",
      `socat -u TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr - | tar x -C '${out}'`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let began = 0;
  // The receiver has no readiness signal: retry the sender until it connects (bounded).
  let sent = false;
  for (let attempt = 0; attempt < 250 && !sent; attempt++) {
    began = performance.now();
    const sender = new Deno.Command("bash", {
      args: [
        "-o",
        "pipefail",
        "-c",
        `tar c -C '${dirname(tree)}' --exclude=.socketkit '${
          basename(tree)
        }' | socat -u - TCP:127.0.0.1:${port}`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    sent = (await bounded(sender.status, sender, "tar | socat sender", stepLimit(100_000))).success;
    if (!sent) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const received = await bounded(
    receiver.status,
    receiver,
    "socat | tar receiver",
    stepLimit(100_000),
  );
  if (!sent || !received.success) throw new Error("tar | socat did not complete");
  await new Deno.Command("sync", { args: ["-f", out], stdout: "null", stderr: "null" }).output();
  return (performance.now() - began) / 1000;
}

/** The longest a step with `count` files may take: 3 minutes, or 20 ms a file. */
function stepLimit(count: number): number {
  return Math.max(180_000, count * 20);
}

/** Why the tar | socat peer cannot run here, or null when it can. */
async function tarSocatMissing(): Promise<string | null> {
  if (!(await hasSocat())) return "socat is not installed";
  try {
    const { success } = await new Deno.Command("tar", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success ? null : "tar does not run";
  } catch {
    return "tar is not installed";
  }
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const at = Deno.args.indexOf("--files");
  if (at !== -1) Deno.env.set("SOCKETKIT_BENCH_FILES", Deno.args[at + 1] ?? "");
  for (const m of await filesManyScenario.run({ quick })) {
    const ratio = m.baseline
      ? ` (${(m.value / m.baseline).toFixed(2)}x of ${m.baseline.toFixed(0)})`
      : "";
    console.log(`${m.figure.padEnd(34)} ${m.value.toFixed(0).padStart(8)} ${m.unit}${ratio}`);
    if (m.note) console.log(`  ${m.note}`);
  }
}
