/**
 * files-many: a folder of 1,000 files of 4 KB (200 with --quick) in one
 * command, up (`connect upload FOLDER`) and down (`connect download
 * FOLDER`), against `tar c | socat` -> `socat | tar x` of the same tree in
 * the same run. Reports files per second, wall clock from spawn to exit for
 * both (process start included), so it is what a user waits for.
 *
 * Run alone: deno run -A bench/scenarios/files_many.ts [--quick]
 */
import { fileURLToPath } from "node:url";
import { basename, dirname, join } from "node:path";
import type { Measurement, Scenario, ScenarioOptions } from "../scenario.ts";
import { bounded, hasSocat, type Server, settle, startServer } from "./files.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const DENO_RUN = ["run", "--unstable-net", "--allow-net", "--allow-read", "--allow-write"];
const FILE_SIZE = 4096;
/** Files per folder of the tree. */
const PER_FOLDER = 100;

export const filesManyScenario: Scenario = {
  name: "files-many",
  description: "TCP file service: a folder of 1,000 files of 4 KB in one command vs tar | socat",
  async run(options: ScenarioOptions): Promise<Measurement[]> {
    const count = options.quick ? 200 : 1000;
    const dir = await Deno.makeTempDir({ prefix: "socketkit-bench-many-" });
    try {
      return await measure(dir, count, options.run ?? 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
};

async function measure(dir: string, count: number, run: number): Promise<Measurement[]> {
  const tree = join(dir, "tree");
  await writeTree(tree, count);
  const peer = await tarSocatMissing();
  const server = await startServer(join(dir, "server"));
  try {
    // Alternate which goes first, so a drift in machine load favours neither.
    let baseline: number | null = null;
    if (peer === null && run % 2 === 0) baseline = await tarSocat(dir, tree, "first");
    await settle();
    const up = await timed(server, ["upload", tree, "--name", "many", "--json"], count);
    await settle();
    const down = await timed(
      server,
      ["download", "many", "--output", join(dir, "down"), "--json"],
      count,
    );
    if (peer === null && run % 2 === 1) baseline = await tarSocat(dir, tree, "last");
    const note = peer === null
      ? `${count} files of 4 KB in ${
        count / PER_FOLDER
      } folders; wall clock, process start included; baseline: tar c | socat -> socat | tar x, then sync -f (socketkit fsyncs each file)`
      : `${count} files of 4 KB; no baseline: ${peer}`;
    return [
      {
        figure: `upload, ${count} files of 4 KB`,
        unit: "files/s",
        value: count / up,
        ...(baseline === null ? {} : { baseline: count / baseline }),
        better: "higher",
        note,
      },
      {
        figure: `download, ${count} files of 4 KB`,
        unit: "files/s",
        value: count / down,
        ...(baseline === null ? {} : { baseline: count / baseline }),
        better: "higher",
        note,
      },
    ];
  } finally {
    await server.close();
  }
}

/** `count` random files of 4 KB, PER_FOLDER to a folder. */
async function writeTree(tree: string, count: number): Promise<void> {
  const bytes = new Uint8Array(FILE_SIZE);
  for (let i = 0; i < count; i++) {
    const folder = join(tree, `d${Math.floor(i / PER_FOLDER)}`);
    if (i % PER_FOLDER === 0) await Deno.mkdir(folder, { recursive: true });
    crypto.getRandomValues(bytes);
    await Deno.writeFile(join(folder, `f${i}.bin`), bytes);
  }
}

/** Runs `connect <args>` against the server; seconds from spawn to exit. */
async function timed(server: Server, args: string[], count: number): Promise<number> {
  const began = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [...DENO_RUN, MAIN, "connect", ...args, "--file-port", String(server.port)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = await bounded(child.output(), child, args.join(" "));
  const seconds = (performance.now() - began) / 1000;
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
  return seconds;
}

/**
 * The peer: `tar c` of the tree piped through socat to a `socat | tar x`
 * receiver, then `sync -f` of the output (the file service fsyncs). Seconds
 * from the sender's start to the sync's end.
 */
async function tarSocat(dir: string, tree: string, tag: string): Promise<number> {
  const out = join(dir, `tar-${tag}`);
  await Deno.mkdir(out);
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await settle();
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
        `tar c -C '${dirname(tree)}' '${basename(tree)}' | socat -u - TCP:127.0.0.1:${port}`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    sent = (await bounded(sender.status, sender, "tar | socat sender")).success;
    if (!sent) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const received = await bounded(receiver.status, receiver, "socat | tar receiver");
  if (!sent || !received.success) throw new Error("tar | socat did not complete");
  await new Deno.Command("sync", { args: ["-f", out], stdout: "null", stderr: "null" }).output();
  const seconds = (performance.now() - began) / 1000;
  await Deno.remove(out, { recursive: true });
  return seconds;
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
  for (const m of await filesManyScenario.run({ quick })) {
    const ratio = m.baseline
      ? ` (${(m.value / m.baseline).toFixed(2)}x of ${m.baseline.toFixed(0)})`
      : "";
    console.log(`${m.figure.padEnd(30)} ${m.value.toFixed(0).padStart(8)} ${m.unit}${ratio}`);
    if (m.note) console.log(`  ${m.note}`);
  }
}
