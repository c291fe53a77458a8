/**
 * files: upload and download of one large file through the real CLI and
 * server (1 GiB; 64 MiB with --quick), beside a bare TCP copy of the same
 * bytes between two Deno processes (_bare_copy.ts) and socat where
 * installed, all in the same run. Reports MB/s (10^6 bytes) and peak RSS.
 *
 * Run alone: deno run -A bench/scenarios/files.ts [--quick]
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { cpuTimeMs, peakRssBytes } from "../_proc.ts";
import type { Measurement, Scenario, ScenarioOptions } from "../scenario.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const BARE = fileURLToPath(new URL("./_bare_copy.ts", import.meta.url));
const DENO_RUN = ["run", "--unstable-net", "--allow-net", "--allow-read", "--allow-write"];
const MiB = 1024 * 1024;
/** No single step may take longer than this. */
const STEP_LIMIT_MS = 180_000;

export const filesScenario: Scenario = {
  name: "files",
  description: "TCP file service: upload and download of 1 GiB vs a bare Deno TCP copy and socat",
  async run(options: ScenarioOptions): Promise<Measurement[]> {
    const size = options.quick ? 64 * MiB : 1024 * MiB;
    const dir = await Deno.makeTempDir({ prefix: "socketkit-bench-files-" });
    try {
      return await measure(dir, size, options.quick ? 1 : 2);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
};

async function measure(dir: string, size: number, rounds: number): Promise<Measurement[]> {
  const source = join(dir, "source.bin");
  await writeRandomFile(source, size);
  const socat = await hasSocat();
  const filesDir = join(dir, "server");
  const output = join(dir, "downloaded.bin");
  const server = await startServer(filesDir);
  try {
    // Each method in turn, `rounds` times, keeping each one's fastest run: the
    // machine is shared, and the least disturbed run is the fairest comparison.
    let bareUp: CopyResult | null = null;
    let socatUp: { seconds: number } | null = null;
    let upload: ClientResult | null = null;
    let bareDown: CopyResult | null = null;
    let socatDown: { seconds: number } | null = null;
    let download: ClientResult | null = null;
    for (let round = 0; round < rounds; round++) {
      // A new name each round: the client skips a file the server already
      // holds with the same digest, which would measure nothing.
      const name = `big-${round}.bin`;
      const stored = join(filesDir, name);
      await settle();
      bareUp = fastest(bareUp, await bareCopy(source, join(dir, "bare-up.bin")));
      if (socat) {
        await settle();
        socatUp = fastest(socatUp, await socatCopy(source, join(dir, "socat-up.bin")));
      }
      await settle();
      upload = fastest(
        upload,
        await runClient(server, [
          "connect",
          "upload",
          source,
          "--name",
          name,
          "--json",
        ]),
      );
      await settle();
      bareDown = fastest(bareDown, await bareCopy(stored, join(dir, "bare-down.bin")));
      if (socat) {
        await settle();
        socatDown = fastest(socatDown, await socatCopy(stored, join(dir, "socat-down.bin")));
      }
      await settle();
      download = fastest(
        download,
        await runClient(server, [
          "connect",
          "download",
          name,
          "--output",
          output,
          "--force",
          "--json",
        ]),
      );
      if (upload.sha256 !== download.sha256) throw new Error("round trip changed the bytes");
      await Deno.remove(output);
    }
    if (!bareUp || !upload || !bareDown || !download) throw new Error("no rounds ran");
    const serverRss = await peakRssBytes(server.child.pid);

    const mbps = (seconds: number) => size / 1e6 / seconds;
    const results: Measurement[] = [
      {
        figure: "upload",
        unit: "MB/s",
        value: mbps(upload.seconds),
        baseline: mbps(bareUp.seconds),
        better: "higher",
        goal: { ratio: 0.9 },
        note: `baseline: bare Deno TCP copy; ${size / MiB} MiB, best of ${rounds}`,
      },
      {
        figure: "download",
        unit: "MB/s",
        value: mbps(download.seconds),
        baseline: mbps(bareDown.seconds),
        better: "higher",
        note: "baseline: bare Deno TCP copy",
        goal: { ratio: 0.9 },
      },
    ];
    if (socatUp && socatDown) {
      results.push(
        {
          figure: "upload vs socat",
          unit: "MB/s",
          value: mbps(upload.seconds),
          baseline: mbps(socatUp.seconds),
          better: "higher",
          note: "baseline: socat -b 65536, then sync --data",
        },
        {
          figure: "download vs socat",
          unit: "MB/s",
          value: mbps(download.seconds),
          baseline: mbps(socatDown.seconds),
          better: "higher",
          note: "baseline: socat -b 65536, then sync --data",
        },
      );
    }
    const gib = size / (1024 * MiB);
    results.push(
      {
        figure: "CPU upload",
        unit: "s/GiB",
        value: upload.cpuMs / 1000 / gib,
        baseline: bareUp.cpuMs / 1000 / gib,
        better: "lower",
        note: "client + server CPU; baseline: bare sender + receiver (includes Deno start-up)",
      },
      {
        figure: "CPU download",
        unit: "s/GiB",
        value: download.cpuMs / 1000 / gib,
        baseline: bareDown.cpuMs / 1000 / gib,
        better: "lower",
        note: "client + server CPU; baseline: bare sender + receiver",
      },
    );
    const bareRss = Math.max(bareUp.receiverRss, bareDown.receiverRss);
    results.push(
      {
        figure: "peak RSS server",
        unit: "MB",
        value: serverRss / 1e6,
        baseline: bareRss / 1e6,
        better: "lower",
        goal: { value: 100 },
        note: "baseline: bare Deno receiver",
      },
      {
        figure: "peak RSS client upload",
        unit: "MB",
        value: upload.rss / 1e6,
        baseline: Math.max(bareUp.senderRss, bareDown.senderRss) / 1e6,
        better: "lower",
        goal: { value: 100 },
        note: "baseline: bare Deno sender",
      },
      {
        figure: "peak RSS client download",
        unit: "MB",
        value: download.rss / 1e6,
        baseline: bareRss / 1e6,
        better: "lower",
        goal: { value: 100 },
        note: "baseline: bare Deno receiver",
      },
    );
    return results;
  } finally {
    await server.close();
  }
}

/** The faster of two runs, keeping the larger peak RSS and the smaller CPU time. */
function fastest<T extends { seconds: number }>(best: T | null, next: T): T {
  if (best === null) return next;
  const winner = next.seconds < best.seconds ? { ...next } : { ...best };
  for (const key of ["rss", "receiverRss", "senderRss"] as const) {
    if (key in winner) {
      (winner as Record<string, number>)[key] = Math.max(
        (best as Record<string, number>)[key]!,
        (next as Record<string, number>)[key]!,
      );
    }
  }
  if ("cpuMs" in winner) {
    (winner as Record<string, number>).cpuMs = Math.min(
      (best as Record<string, number>).cpuMs!,
      (next as Record<string, number>).cpuMs!,
    );
  }
  return winner;
}

/**
 * Writes back every dirty page, so one step's data does not slow the next:
 * the receiving disk is what bounds these figures.
 */
export async function settle(): Promise<void> {
  await new Deno.Command("sync", { stdout: "null", stderr: "null" }).output().catch(() => {});
}

/** Streams `size` pseudo-random bytes to `path` in 1 MiB chunks. */
async function writeRandomFile(path: string, size: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const block = new Uint8Array(MiB);
  for (let i = 0; i < block.length; i += 65536) {
    crypto.getRandomValues(block.subarray(i, i + 65536));
  }
  for (let written = 0; written < size; written += block.length) {
    crypto.getRandomValues(block.subarray(0, 64)); // no two chunks alike
    const chunk = block.subarray(0, Math.min(block.length, size - written));
    for (let w = 0; w < chunk.length;) w += await file.write(chunk.subarray(w));
  }
}

/** A file server under test. */
export interface Server {
  child: Deno.ChildProcess;
  port: number;
  close(): Promise<void>;
}

/**
 * `serve --services files --quiet` on a free port, files in `filesDir`;
 * `denoArgs` adds permissions (`--allow-ffi`, as `deno task serve` has).
 */
export async function startServer(filesDir: string, denoArgs: string[] = []): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      ...DENO_RUN,
      ...denoArgs,
      MAIN,
      "serve",
      // Every client is on one address: no per-address share.
      "--max-conns-per-ip",
      "0",
      "--services",
      "files",
      "--file-port",
      "0",
      "--files-dir",
      filesDir,
      "--quiet",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 20_000;
  let port = 0;
  while (port === 0) {
    const { value, done } = await lines.read();
    if (done || Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error(`file server did not start:\n${seen}`);
    }
    seen += value;
    port = Number(seen.match(/\[File Server\] Listening on .*:(\d+)\n/)?.[1] ?? 0);
  }
  const drain = (async () => {
    while (!(await lines.read()).done) { /* discard */ }
  })();
  return {
    child,
    port,
    async close() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited (the step that noticed reports why)
      }
      await child.status;
      await drain;
    },
  };
}

interface ClientResult {
  seconds: number;
  sha256: string;
  rss: number;
  /** CPU ms of the client and of the server during this transfer. */
  cpuMs: number;
}

/** Runs a CLI client against the server, sampling its peak RSS while it runs. */
async function runClient(server: Server, args: string[]): Promise<ClientResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...DENO_RUN, MAIN, ...args, "--file-port", String(server.port)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const serverCpu = await cpuTimeMs(server.child.pid);
  const sampler = sampleProc(child);
  const output = await bounded(child.output(), child, args.join(" "));
  const { rss, cpuMs } = await sampler;
  const serverCpuMs = (await cpuTimeMs(server.child.pid)) - serverCpu;
  if (!output.success) {
    const serverState = await Promise.race([
      server.child.status.then((status) => `server exited: ${JSON.stringify(status)}`),
      new Promise<string>((resolve) => setTimeout(() => resolve("server running"), 100)),
    ]);
    throw new Error(
      `${args.join(" ")} failed (${serverState}): ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  const summary = JSON.parse(new TextDecoder().decode(output.stdout));
  if (summary.skipped) throw new Error(`${args.join(" ")}: skipped, nothing was measured`);
  return { seconds: summary.seconds, sha256: summary.sha256, rss, cpuMs: cpuMs + serverCpuMs };
}

interface CopyResult {
  seconds: number;
  receiverRss: number;
  senderRss: number;
  /** CPU ms of both processes. */
  cpuMs: number;
}

/** The bare Deno baseline: receiver process, sender process, timed by the receiver. */
async function bareCopy(input: string, output: string): Promise<CopyResult> {
  const receiver = new Deno.Command(Deno.execPath(), {
    args: [...DENO_RUN, BARE, "recv", output],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = receiver.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/port \d+\n/.test(text)) {
    const { value, done } = await lines.read();
    if (done) throw new Error("bare receiver did not start");
    text += value;
  }
  const port = text.match(/port (\d+)/)![1]!;
  const receiverProc = sampleProc(receiver);
  const sender = new Deno.Command(Deno.execPath(), {
    args: [...DENO_RUN, BARE, "send", port, input],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const senderProc = sampleProc(sender);
  const rest = (async () => {
    while (true) {
      const { value, done } = await lines.read();
      if (done) return text;
      text += value;
    }
  })();
  await bounded(sender.status, sender, "bare sender");
  await bounded(receiver.status, receiver, "bare receiver");
  const result = JSON.parse((await rest).split("\n").find((line) => line.startsWith("{"))!);
  await Deno.remove(output);
  const [receiverSample, senderSample] = await Promise.all([receiverProc, senderProc]);
  return {
    seconds: result.seconds,
    receiverRss: receiverSample.rss,
    senderRss: senderSample.rss,
    cpuMs: receiverSample.cpuMs + senderSample.cpuMs,
  };
}

/** socat file -> TCP -> file, timed from the sender's start to the receiver's exit. */
async function socatCopy(input: string, output: string): Promise<{ seconds: number }> {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const receiver = new Deno.Command("socat", {
    args: [
      "-u",
      "-b",
      "65536",
      `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`,
      `OPEN:${output},creat,trunc`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let began = 0;
  // The receiver has no readiness signal: retry the sender until it connects (bounded).
  for (let attempt = 0; attempt < 250; attempt++) {
    began = performance.now();
    const sender = new Deno.Command("socat", {
      args: ["-u", "-b", "65536", `OPEN:${input}`, `TCP:127.0.0.1:${port}`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    if ((await bounded(sender.status, sender, "socat sender")).success) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await bounded(receiver.status, receiver, "socat receiver");
  // socat does not fsync; the file service and the bare copy do, so flush its output too.
  await new Deno.Command("sync", { args: ["--data", output], stdout: "null", stderr: "null" })
    .output();
  const seconds = (performance.now() - began) / 1000;
  await Deno.remove(output);
  return { seconds };
}

interface ProcSample {
  /** Peak RSS in bytes. */
  rss: number;
  /** CPU time (user + system) in ms, as last seen before the exit. */
  cpuMs: number;
}

/** Samples a child's VmHWM and CPU time every 50 ms until it exits. */
async function sampleProc(child: Deno.ChildProcess): Promise<ProcSample> {
  let exited = false;
  child.status.then(() => (exited = true));
  const sample = { rss: 0, cpuMs: 0 };
  while (!exited) {
    const [rss, cpu] = await Promise.all([peakRssBytes(child.pid), cpuTimeMs(child.pid)]);
    if (Number.isFinite(rss)) sample.rss = Math.max(sample.rss, rss);
    if (Number.isFinite(cpu)) sample.cpuMs = Math.max(sample.cpuMs, cpu);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return sample;
}

/** Awaits a child's promise, killing the child if it outlives STEP_LIMIT_MS. */
export async function bounded<T>(
  promise: Promise<T>,
  child: Deno.ChildProcess,
  what: string,
  limitMs = STEP_LIMIT_MS,
): Promise<T> {
  const timer = setTimeout(() => {
    console.error(`${what}: over ${limitMs} ms, killed`);
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, limitMs);
  try {
    return await promise;
  } finally {
    clearTimeout(timer);
  }
}

export async function hasSocat(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("socat", {
      args: ["-V"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return success;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  for (const m of await filesScenario.run({ quick })) {
    const ratio = m.baseline
      ? ` (${(m.value / m.baseline).toFixed(2)}x of ${m.baseline.toFixed(1)})`
      : "";
    console.log(
      `${m.figure.padEnd(26)} ${m.value.toFixed(2).padStart(8)} ${m.unit}${ratio}  ${m.note ?? ""}`,
    );
  }
}
