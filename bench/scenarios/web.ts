/**
 * web: the web service beside the servers people use for the same job, all
 * measured in the same run on the same files:
 * - download of one large file (1 GiB; 64 MiB with --quick) with curl, vs
 *   Debian's nginx (sendfile on, one worker) serving the same file;
 * - GET of a 4 KB file over 32 keep-alive connections with wrk, vs nginx
 *   and `python3 -m http.server`;
 * - upload of the large file with `curl -T` vs the TCP file service's own
 *   upload (`socketkit connect upload`) to the same server.
 * A peer that is not installed is skipped, saying so in the note. The load
 * generator's CPU (curl, wrk) is shown beside each figure.
 *
 * Run alone: deno run -A bench/scenarios/web.ts [--quick]
 */
import { join } from "node:path";
import { cpuTimeMs } from "../_proc.ts";
import { ALL_PORTS_ZERO, ServerUnderTest, SOCKETKIT } from "../_server.ts";
import type { Measurement, Scenario, ScenarioOptions } from "../scenario.ts";
import { settle } from "./files.ts";

const MiB = 1024 * 1024;
const SMALL = 4096;

export const webScenario: Scenario = {
  name: "web",
  description:
    "web service: 1 GiB download vs nginx, 4 KB GETs (wrk, 32 conns) vs nginx and python3 http.server, curl -T upload vs the TCP upload",
  async run(options: ScenarioOptions): Promise<Measurement[]> {
    const dir = await Deno.makeTempDir({ prefix: "socketkit-bench-web-" });
    try {
      return await measure(dir, options);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
};

async function measure(dir: string, options: ScenarioOptions): Promise<Measurement[]> {
  const size = options.quick ? 64 * MiB : 1024 * MiB;
  const wrkSeconds = options.quick ? 2 : 5;
  const source = join(dir, "source.bin");
  await writeRandomFile(source, size);
  // Fresh directories per side: this file system is slow to reuse freed inodes.
  const filesDir = join(dir, "store");
  const server = await ServerUnderTest.start([
    ...SOCKETKIT,
    "serve",
    ...ALL_PORTS_ZERO,
    "--services",
    "files,web",
    "--files-dir",
    filesDir,
    "--quiet",
    "--max-transfers",
    "64",
    "--max-transfers-per-ip",
    "64",
  ], { expect: 2 });
  const web = `http://127.0.0.1:${server.port("[Web Server]")}`;
  const filePort = server.port("[File Server]");
  const results: Measurement[] = [];
  const peers: { name: string; close(): Promise<void> }[] = [];
  try {
    // Uploads: curl -T to the web service vs the TCP file service's client.
    await settle();
    const httpUp = await timed([
      "curl",
      "-sS",
      "-o",
      "/dev/null",
      "-T",
      source,
      `${web}/files/big.bin`,
    ]);
    await settle();
    const tcpUp = await timed([
      Deno.execPath(),
      ...SOCKETKIT.slice(1),
      "connect",
      "upload",
      source,
      "--name",
      "big-tcp.bin",
      "--file-port",
      String(filePort),
      "--json",
    ]);
    const mbps = (seconds: number) => size / 1e6 / seconds;
    results.push({
      figure: "upload curl -T",
      unit: "MB/s",
      value: mbps(httpUp.seconds),
      baseline: mbps(tcpUp.seconds),
      better: "higher",
      goal: { ratio: 0.8 },
      note: `baseline: socketkit connect upload (TCP file service), same server; ${
        size / MiB
      } MiB; curl CPU ${cpuShare(httpUp)}`,
    });
    await Deno.writeFile(join(filesDir, "small.bin"), new Uint8Array(SMALL).fill(7));

    const nginx = await startNginx(dir, filesDir);
    if (nginx !== null) peers.push(nginx);
    const python = await startPython(filesDir);
    if (python !== null) peers.push(python);

    // Large download: the web service vs nginx, the same file.
    await settle();
    const httpDown = await timed(["curl", "-sS", "-o", "/dev/null", `${web}/files/big.bin`]);
    if (nginx !== null) {
      const nginxDown = await timed(["curl", "-sS", "-o", "/dev/null", `${nginx.url}/big.bin`]);
      results.push({
        figure: "download 1 file",
        unit: "MB/s",
        value: mbps(httpDown.seconds),
        baseline: mbps(nginxDown.seconds),
        better: "higher",
        goal: { ratio: 0.5 },
        note: `baseline: nginx, sendfile on, 1 worker; curl CPU ${cpuShare(httpDown)} (nginx run ${
          cpuShare(nginxDown)
        })`,
      });
    } else {
      results.push({
        figure: "download 1 file",
        unit: "MB/s",
        value: mbps(httpDown.seconds),
        better: "higher",
        note: `nginx not installed (apt-get install nginx): no baseline; curl CPU ${
          cpuShare(httpDown)
        }`,
      });
    }

    // Small GETs with wrk.
    if (await hasCommand("wrk")) {
      const serverCpu = await cpuTimeMs(server.pid);
      const ours = await wrk(`${web}/files/small.bin`, wrkSeconds);
      const oursCpu = (await cpuTimeMs(server.pid)) - serverCpu;
      const note = (peer: string, run: WrkResult) =>
        `baseline: ${peer}; wrk -t2 -c32 ${wrkSeconds}s, wrk CPU ${
          run.cpuPercent.toFixed(0)
        }% (ours ${ours.cpuPercent.toFixed(0)}%), server CPU ${
          (oursCpu / 10 / wrkSeconds).toFixed(0)
        }%`;
      if (nginx !== null) {
        const theirs = await wrk(`${nginx.url}/small.bin`, wrkSeconds);
        results.push({
          figure: "4 KB GET vs nginx",
          unit: "req/s",
          value: ours.requestsPerSecond,
          baseline: theirs.requestsPerSecond,
          better: "higher",
          goal: { ratio: 0.5 },
          note: note("nginx, 1 worker", theirs),
        });
      }
      if (python !== null) {
        const theirs = await wrk(`${python.url}/small.bin`, wrkSeconds);
        results.push({
          figure: "4 KB GET vs python3",
          unit: "req/s",
          value: ours.requestsPerSecond,
          baseline: theirs.requestsPerSecond,
          better: "higher",
          goal: { ratio: 10 },
          note: note("python3 -m http.server", theirs),
        });
      }
      if (nginx === null && python === null) {
        results.push({
          figure: "4 KB GET",
          unit: "req/s",
          value: ours.requestsPerSecond,
          better: "higher",
          note: "nginx and python3 not installed: no baseline",
        });
      }
    } else {
      console.error(
        "web: wrk not installed (apt-get install wrk): the 4 KB GET figures are skipped",
      );
    }
    return results;
  } finally {
    for (const peer of peers) await peer.close();
    await server.stop();
  }
}

/** A command's wall time and CPU (its own and its children's). */
interface Timed {
  seconds: number;
  cpuMs: number;
}

/** Runs `argv` to the end through sh, reading its CPU time from /proc before sh exits. */
async function timed(argv: string[]): Promise<Timed> {
  const quoted = argv.map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(" ");
  const script = `${quoted} || exit 1; cat /proc/$$/stat`;
  const started = performance.now();
  const output = await new Deno.Command("sh", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  if (!output.success) {
    throw new Error(`${argv[0]} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  const stat = new TextDecoder().decode(output.stdout);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[13]) + Number(fields[14]); // cutime, cstime: the waited-for child
  return { seconds, cpuMs: (ticks * 1000) / 100 };
}

function cpuShare(run: Timed): string {
  return `${((run.cpuMs / 1000 / run.seconds) * 100).toFixed(0)}%`;
}

interface WrkResult {
  requestsPerSecond: number;
  cpuPercent: number;
}

async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const argv = ["wrk", "-t2", "-c32", `-d${seconds}s`, url];
  const quoted = argv.map((arg) => `'${arg}'`).join(" ");
  const started = performance.now();
  const output = await new Deno.Command("sh", {
    args: ["-c", `${quoted} || exit 1; echo STAT; cat /proc/$$/stat`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wall = (performance.now() - started) / 1000;
  const text = new TextDecoder().decode(output.stdout);
  const rate = text.match(/Requests\/sec:\s+([\d.]+)/);
  if (!output.success || rate === null) throw new Error(`wrk failed: ${text}`);
  const stat = text.slice(text.indexOf("STAT") + 5);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuMs = ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  return { requestsPerSecond: Number(rate[1]), cpuPercent: (cpuMs / 1000 / wall) * 100 };
}

async function hasCommand(name: string): Promise<boolean> {
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", `command -v ${name}`],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (listener.addr as Deno.NetAddr).port;
}

/** A peer server, stopped by its PID. */
interface Peer {
  name: string;
  url: string;
  close(): Promise<void>;
}

/**
 * Debian's nginx serving `root` with sendfile on, one process (no master,
 * no daemon), its config and temp files in a folder of its own. Null when
 * nginx is not installed.
 */
async function startNginx(dir: string, root: string): Promise<Peer | null> {
  const binary = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
  if (binary === undefined) {
    console.error("web: nginx not installed (apt-get install nginx): its baselines are skipped");
    return null;
  }
  const home = join(dir, "nginx");
  await Deno.mkdir(home);
  const port = freePort();
  const conf = join(home, "nginx.conf");
  await Deno.writeTextFile(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${home}/nginx.pid;
error_log ${home}/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path ${home}/body;
  proxy_temp_path ${home}/proxy;
  fastcgi_temp_path ${home}/fastcgi;
  uwsgi_temp_path ${home}/uwsgi;
  scgi_temp_path ${home}/scgi;
  types { application/octet-stream bin; }
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { }
  }
}
`,
  );
  return await spawnPeer(
    "nginx",
    binary,
    ["-c", conf, "-p", home, "-e", `${home}/error.log`],
    port,
  );
}

/** `python3 -m http.server` on `root`; null when python3 is not installed. */
async function startPython(root: string): Promise<Peer | null> {
  if (!(await hasCommand("python3"))) {
    console.error("web: python3 not installed: its baseline is skipped");
    return null;
  }
  const port = freePort();
  const args = ["-m", "http.server", "--bind", "127.0.0.1", "--directory", root, String(port)];
  return await spawnPeer("python3", "python3", args, port);
}

/** Spawns a peer HTTP server that will listen on `port`, and resolves once it does. */
async function spawnPeer(
  name: string,
  program: string,
  args: string[],
  port: number,
): Promise<Peer> {
  const child = new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitForPort(port, child);
  return { name, url: `http://127.0.0.1:${port}`, close: () => stopChild(child) };
}

/** Resolves once `port` accepts a connection; bounded to 10 s. */
async function waitForPort(port: number, child: Deno.ChildProcess): Promise<void> {
  const giveUp = performance.now() + 10_000;
  while (performance.now() < giveUp) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  await stopChild(child);
  throw new Error(`a peer did not listen on ${port} within 10 s`);
}

async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // already gone
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, 5000);
  await child.status;
  clearTimeout(timer);
}

async function writeRandomFile(path: string, size: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const block = new Uint8Array(MiB);
  for (let i = 0; i < block.length; i += 65536) {
    crypto.getRandomValues(block.subarray(i, i + 65536));
  }
  for (let written = 0; written < size; written += block.length) {
    crypto.getRandomValues(block.subarray(0, 64));
    const chunk = block.subarray(0, Math.min(block.length, size - written));
    for (let w = 0; w < chunk.length;) w += await file.write(chunk.subarray(w));
  }
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  console.log(JSON.stringify(await webScenario.run({ quick }), null, 2));
}
