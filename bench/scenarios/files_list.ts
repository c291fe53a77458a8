/**
 * files-list: the file service's LIST of a big store. A store of 100,000
 * files (10,000 with --quick) in 100 folders, each with a recorded digest as
 * an upload leaves it, served by one `serve --services message,files`:
 *
 * - one LIST of every name, from the request to the last line, against
 *   `find -printf | sort` of the same tree in the same run (a peer that also
 *   stats every file and sorts the names, without digests);
 * - the witness: a TCP message client's p99 reply while four clients list
 *   the whole store at once, against its p99 on the idle server (same run);
 * - the server's peak RSS.
 *
 * The listers and the witness run in this process (the load generator); its
 * CPU over the window is in the note.
 *
 * Run alone: deno run -A bench/scenarios/files_list.ts [--quick]
 */
import { join } from "node:path";
import { Histogram } from "../_histogram.ts";
import { ownCpuTimeMs, peakRssBytes, rssBytes } from "../_proc.ts";
import { ServerUnderTest, SOCKETKIT } from "../_server.ts";
import type { Measurement, Scenario, ScenarioOptions } from "../scenario.ts";
import { FileStore } from "../../lib/files/server/store.ts";
import { settle } from "./files.ts";

const FOLDERS = 100;
const LISTERS = 4;
/** Any one step (a listing, a phase) gives up after this long. */
const STEP_LIMIT_MS = 120_000;
/** How long the witness measures the idle server. */
const IDLE_MS = 1000;

export const filesListScenario: Scenario = {
  name: "files-list",
  description: "TCP file service: LIST of 100,000 files, and a message client's p99 meanwhile",
  async run(options: ScenarioOptions): Promise<Measurement[]> {
    const count = options.quick ? 10_000 : 100_000;
    const dir = await Deno.makeTempDir({ prefix: "socketkit-bench-list-" });
    try {
      return await measure(join(dir, "store"), count);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
};

async function measure(store: string, count: number): Promise<Measurement[]> {
  await writeStore(store, count);
  await settle();
  const server = await ServerUnderTest.start([
    ...SOCKETKIT,
    "serve",
    "--services",
    "message,files",
    "--tcp-port=0",
    "--udp-port=0",
    "--file-port=0",
    "--files-dir",
    store,
    "--quiet",
  ], { expect: 3, timeoutMs: 60_000 });
  try {
    const tcpPort = server.port("[TCP Server]");
    const filePort = server.port("[File Server]");
    const startRss = await rssBytes(server.pid);
    const peer = await findSort(store);
    const one = await listOnce(filePort, count);

    using witness = await Witness.connect(tcpPort);
    const idle = await witness.measureFor(IDLE_MS);
    const cpuBefore = ownCpuTimeMs();
    const began = performance.now();
    const busy = new Histogram();
    const listers = Array.from({ length: LISTERS }, () => listOnce(filePort, count));
    const all = Promise.all(listers);
    await witness.measureUntil(all, busy);
    const seconds = (performance.now() - began) / 1000;
    const cpu = (ownCpuTimeMs() - cpuBefore) / 10 / seconds;
    const peakRss = await peakRssBytes(server.pid);

    const note = `${count} files in ${FOLDERS} folders, digests recorded; ` +
      `load generator (${LISTERS} listers + witness, one process) CPU ${cpu.toFixed(0)}%`;
    return [
      {
        figure: `one LIST of ${count} names`,
        unit: "ms",
        value: one,
        ...(peer === null ? {} : { baseline: peer }),
        better: "lower",
        note: `${note}; baseline: find -printf | sort of the same tree` +
          (peer === null ? " (find or sort missing)" : ""),
        ...(count >= 100_000 ? { goal: { value: 2000 } } : {}),
      },
      {
        figure: `message p99 while ${LISTERS} list ${count}`,
        unit: "ms",
        value: busy.percentile(99) / 1000,
        baseline: idle.percentile(99) / 1000,
        better: "lower",
        note: `${note}; ${busy.count} replies during ${seconds.toFixed(1)} s of listing, ` +
          `median ${(busy.percentile(50) / 1000).toFixed(2)} ms; baseline: p99 on the idle server`,
        goal: { value: 20 },
      },
      {
        figure: `peak RSS server, ${LISTERS} listings of ${count}`,
        unit: "MB",
        value: peakRss / 1e6,
        better: "lower",
        note: `${note}; ${(startRss / 1e6).toFixed(0)} MB after start-up`,
      },
    ];
  } finally {
    await server.stop();
  }
}

/**
 * `count` files of 16 bytes, spread over FOLDERS folders, each with its
 * digest recorded through the store as an upload would leave it.
 */
async function writeStore(dir: string, count: number): Promise<void> {
  const encoder = new TextEncoder();
  for (let folder = 0; folder < FOLDERS; folder++) {
    Deno.mkdirSync(join(dir, folderName(folder)), { recursive: true });
  }
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${folderName(i % FOLDERS)}/f${String(i).padStart(6, "0")}.txt`;
    Deno.writeFileSync(join(dir, name), encoder.encode(`file ${i}`.padEnd(16)));
    names.push(name);
  }
  const store = await FileStore.open(dir, { maxFileSize: 1024, keepPartial: 0 });
  const digest = "0".repeat(64); // the listing shows it; nothing checks it
  for (const name of names) store.recordDigest(store.stat(name), digest);
}

function folderName(index: number): string {
  return `d${String(index).padStart(3, "0")}`;
}

/** Milliseconds for one LIST of the whole store, request to last line; checks the count. */
async function listOnce(port: number, count: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), STEP_LIMIT_MS);
  try {
    const began = performance.now();
    await conn.write(new TextEncoder().encode("LIST\n"));
    const buffer = new Uint8Array(256 * 1024);
    let header = "";
    let promised = -1;
    let lines = 0;
    while (promised < 0 || lines < promised) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error(`LIST: the server closed after ${lines} lines`);
      let from = 0;
      if (promised < 0) {
        const newline = buffer.subarray(0, n).indexOf(10);
        header += new TextDecoder().decode(buffer.subarray(0, newline === -1 ? n : newline));
        if (newline === -1) continue;
        promised = Number(header.match(/^OK (\d+)$/)?.[1] ?? NaN);
        if (promised !== count) throw new Error(`LIST: "${header}", expected OK ${count}`);
        from = newline + 1;
      }
      for (let i = from; i < n; i++) if (buffer[i] === 10) lines++;
    }
    return performance.now() - began;
  } finally {
    clearTimeout(timer);
    conn.close();
  }
}

/** A TCP message client sending one line at a time and timing each reply. */
class Witness {
  #conn: Deno.TcpConn;
  #buffer = new Uint8Array(4096);
  #line = new TextEncoder().encode("witness\n");

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async connect(port: number): Promise<Witness> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new Witness(conn);
  }

  /** Replies timed for `ms`. */
  async measureFor(ms: number): Promise<Histogram> {
    const histogram = new Histogram();
    const end = performance.now() + ms;
    while (performance.now() < end) await this.#once(histogram);
    return histogram;
  }

  /** Replies timed into `histogram` until `done` settles (bounded by STEP_LIMIT_MS). */
  async measureUntil(done: Promise<unknown>, histogram: Histogram): Promise<void> {
    let finished = false;
    const settled = done.finally(() => (finished = true));
    const end = performance.now() + STEP_LIMIT_MS;
    while (!finished && performance.now() < end) await this.#once(histogram);
    await settled;
  }

  async #once(histogram: Histogram): Promise<void> {
    const began = performance.now();
    await this.#conn.write(this.#line);
    // The reply is one short line; read until its newline.
    while (true) {
      const n = await this.#conn.read(this.#buffer);
      if (n === null) throw new Error("The message service closed the witness connection");
      if (this.#buffer.subarray(0, n).includes(10)) break;
    }
    histogram.record((performance.now() - began) * 1000);
  }

  [Symbol.dispose](): void {
    this.#conn.close();
  }
}

/** Milliseconds of `find -printf | sort` over the tree, or null when they cannot run. */
async function findSort(dir: string): Promise<number | null> {
  const began = performance.now();
  try {
    const { success } = await new Deno.Command("bash", {
      args: [
        "-o",
        "pipefail",
        "-c",
        `find '${dir}' -path '${dir}/.socketkit' -prune -o -type f ` +
        `-printf '%s %T@ %P\\n' | LC_ALL=C sort -k3 > /dev/null`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return success ? performance.now() - began : null;
  } catch {
    return null;
  }
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  for (const m of await filesListScenario.run({ quick })) {
    const ratio = m.baseline
      ? ` (${(m.value / m.baseline).toFixed(2)}x of ` +
        `${m.baseline.toFixed(2)})`
      : "";
    console.log(`${m.figure.padEnd(40)} ${m.value.toFixed(2).padStart(9)} ${m.unit}${ratio}`);
    if (m.note) console.log(`  ${m.note}`);
  }
}
