/**
 * Chat fan-out: one member posts at a paced 100 msg/s, every other member
 * (100 or 1,000 in all) receives each line; the send time is in the line, so
 * each delivery gives a latency. The same load runs against a bare Deno
 * broadcast loop (bench/bare_broadcast.ts) as the baseline. Members live in
 * generator processes (bench/chat_members.ts) whose CPU is reported, so a
 * saturated generator shows.
 */
import { fileURLToPath } from "node:url";
import { cpuTimeMs, peakRssBytes } from "../_proc.ts";
import { mergeCounts, percentile } from "../_chat_latency.ts";
import type { Measurement, Scenario, ScenarioOptions } from "../scenario.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const GENERATOR = fileURLToPath(new URL("../chat_members.ts", import.meta.url));
const BARE = fileURLToPath(new URL("../bare_broadcast.ts", import.meta.url));
const BARE_WS = fileURLToPath(new URL("../bare_broadcast_ws.ts", import.meta.url));
const RATE = 100; // messages per second from the one sender
const MB = 1024 * 1024;

/**
 * "web": the chat server with members over WebSockets (the web port); the sender is on TCP.
 * "bare-web": bench/bare_broadcast_ws.ts, the same shape with nothing but Deno's WebSocket.
 */
export type Kind = "chat" | "bare" | "web" | "bare-web";

interface GeneratorResult {
  received: number;
  complete: boolean;
  firstAt: number;
  lastAt: number;
  histogram: number[];
  cpuMs: number;
  elapsedMs: number;
  peakRssBytes: number;
}

/** What one run measured. */
export interface RunResult {
  expected: number;
  received: number;
  deliveriesPerSecond: number;
  p50: number;
  p99: number;
  serverPeakMb: number;
  /** p99 of the members of each server, in server order (the sender is on the first). */
  p99ByServer: number[];
  /** Every server's CPU (and Redis's, in a cluster), 100% being one core. */
  serverCpuPercent: number;
  /** That CPU time per delivered line, in microseconds. */
  cpuPerDeliveryUs: number;
  generatorPeakMb: number;
  generatorCpuPercent: number;
}

export const chatScenario: Scenario = {
  name: "chat-fanout",
  description: "Chat fan-out to 100 and 1,000 members at 100 msg/s vs a bare Deno broadcast loop",
  async run(options: ScenarioOptions): Promise<Measurement[]> {
    const messages = options.quick ? 100 : 500;
    const out: Measurement[] = [];
    for (const members of [100, 1000]) {
      const chat = await runOnce("chat", members, messages);
      const bare = await runOnce("bare", members, messages);
      const note = (run: RunResult, of: string) =>
        `${of}: ${run.received}/${run.expected} delivered, server CPU ${
          run.serverCpuPercent.toFixed(0)
        }%, generator CPU ${run.generatorCpuPercent.toFixed(0)}%`;
      const notes = `${note(chat, "chat")}; ${note(bare, "bare")}`;
      out.push(
        {
          figure: `deliveries/s, ${members} members`,
          unit: "msg/s",
          value: chat.deliveriesPerSecond,
          baseline: bare.deliveriesPerSecond,
          better: "higher",
          note: notes,
          goal: { ratio: 0.5 },
        },
        {
          figure: `p50 latency, ${members} members`,
          unit: "ms",
          value: chat.p50,
          baseline: bare.p50,
          better: "lower",
        },
        {
          figure: `p99 latency, ${members} members`,
          unit: "ms",
          value: chat.p99,
          baseline: bare.p99,
          better: "lower",
          ...(members >= 1000 ? { goal: { value: 50 } } : {}),
        },
        {
          figure: `peak RSS server, ${members} members`,
          unit: "MB",
          value: chat.serverPeakMb,
          baseline: bare.serverPeakMb,
          better: "lower",
        },
        {
          figure: `peak RSS generators, ${members} members`,
          unit: "MB",
          value: chat.generatorPeakMb,
          baseline: bare.generatorPeakMb,
          better: "lower",
          note: "sum over generator processes",
        },
      );
    }
    return out;
  },
};

/**
 * One server, its members in generator processes (`processes`; default one,
 * two from 500 members), one paced sender.
 */
export function runOnce(
  kind: Kind,
  members: number,
  messages: number,
  processes?: number,
): Promise<RunResult> {
  return runOn([kind], members, messages, undefined, processes);
}

/**
 * The same load over several chat servers (a cluster through Redis at
 * `redis.url`): the members are split evenly between them, the sender is on
 * the first. CPU counts every server, and Redis.
 */
export function runCluster(
  redis: { url: string; pid: number },
  members: number,
  messages: number,
  instances = 2,
): Promise<RunResult> {
  return runOn(Array(instances).fill("chat"), members, messages, redis);
}

async function runOn(
  kinds: Kind[],
  members: number,
  messages: number,
  redis?: { url: string; pid: number },
  generatorProcesses?: number,
): Promise<RunResult> {
  const servers: Child[] = [];
  const generators: Generator[] = [];
  let sender: Deno.TcpConn | null = null;
  try {
    for (const kind of kinds) {
      servers.push(await startServer(kind, members, redis ? ["--redis", redis.url] : []));
    }
    const kind = kinds[0]!;
    const receivers = members - 1;
    const perServer = kinds.length > 1 ? 1 : generatorProcesses ?? (receivers >= 500 ? 2 : 1);
    const processes = kinds.length * perServer;
    const sendMs = (messages / RATE) * 1000;
    // A join storm over WebSockets (every join is a frame to every member) takes longer.
    const deadlineMs = sendMs + (kind === "web" || kind === "bare-web" ? 60_000 : 10_000);
    for (let g = 0; g < processes; g++) {
      const count = Math.floor(receivers / processes) + (g < receivers % processes ? 1 : 0);
      const server = servers[Math.floor(g / perServer)]!;
      const port = kind === "web" || kind === "bare-web" ? server.webPort : server.port;
      const mode = kind === "bare-web" ? "web" : kind;
      generators.push(startGenerator(mode, port, count, `m${g}x`, messages, deadlineMs));
    }
    await Promise.all(generators.map((generator) => generator.ready));
    sender = await joinSender(kind, servers[0]!.port);
    const pids = [...servers.map((server) => server.child.pid), ...(redis ? [redis.pid] : [])];
    // Every join was a line to every member already in: let the servers finish sending those
    // (a WebSocket member gets each as a frame of its own) before the measured part starts.
    await settle(pids);
    const cpuBefore = await Promise.all(pids.map(cpuMs));

    const sendStart = performance.timeOrigin + performance.now();
    await sendPaced(sender, messages);
    const results = await Promise.all(generators.map((generator) => generator.result));

    const cpuAfter = await Promise.all(pids.map(cpuMs));
    const serverPeak = Math.max(...await Promise.all(servers.map((s) => peakRss(s.child.pid))));
    const received = results.reduce((sum, r) => sum + r.received, 0);
    const lastAt = Math.max(...results.map((r) => r.lastAt));
    const histogram = mergeCounts(results.map((r) => r.histogram));
    const window = (Math.max(lastAt, sendStart + sendMs) - sendStart) / 1000;
    const serverCpuMs = cpuAfter.reduce((sum, after, i) => sum + after - cpuBefore[i]!, 0);
    // Each generator counts its CPU from "ready" on; 100% is one core.
    const generatorCpuMs = results.reduce((sum, r) => sum + r.cpuMs, 0);
    const measuredMs = Math.max(...results.map((r) => r.elapsedMs));
    return {
      expected: receivers * messages,
      received,
      deliveriesPerSecond: received / window,
      p50: percentile(histogram, 0.5),
      p99: percentile(histogram, 0.99),
      p99ByServer: servers.map((_, i) =>
        percentile(
          mergeCounts(
            results.filter((_, g) => Math.floor(g / perServer) === i).map((r) => r.histogram),
          ),
          0.99,
        )
      ),
      serverPeakMb: serverPeak / MB,
      serverCpuPercent: (serverCpuMs / (window * 1000)) * 100,
      cpuPerDeliveryUs: received > 0 ? (serverCpuMs * 1000) / received : NaN,
      generatorPeakMb: results.reduce((sum, r) => sum + r.peakRssBytes, 0) / MB,
      generatorCpuPercent: (generatorCpuMs / measuredMs) * 100,
    };
  } finally {
    if (sender) closeQuietly(sender);
    for (const generator of generators) await generator.dispose();
    for (const server of servers) await server.dispose();
  }
}

interface Child {
  child: Deno.ChildProcess;
  port: number;
  /** The web service's port (kind "web" only). */
  webPort: number;
  dispose(): Promise<void>;
}

async function startServer(kind: Kind, members: number, extra: string[] = []): Promise<Child> {
  const args = kind === "chat" || kind === "web"
    ? [
      "run",
      "--unstable-net",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      MAIN,
      "serve",
      // Every client is on one address: no per-address share.
      "--max-conns-per-ip",
      "0",
      "--services",
      kind === "web" ? "chat,web" : "chat",
      "--chat-port",
      "0",
      ...(kind === "web" ? ["--web-port", "0"] : []),
      "--quiet",
      "--chat-rate",
      "0",
      "--chat-max-members",
      String(members + 10),
      "--max-conns",
      String(members + 10),
      ...extra,
    ]
    : ["run", "--allow-net", kind === "bare" ? BARE : BARE_WS];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = lineStream(child.stdout);
  const pattern = kind === "chat" || kind === "web"
    ? /^\[Chat Server\] Listening on .*:(\d+)$/
    : /^listening (\d+)$/;
  let port = 0;
  let webPort = 0;
  const found = await firstMatch(lines, pattern, 15_000);
  if (found) port = Number(found[1]);
  if (found && (kind === "web" || kind === "bare-web")) {
    const webLine = kind === "web" ? /^\[Web Server\] Listening on .*:(\d+)$/ : /^web (\d+)$/;
    const web = await firstMatch(lines, webLine, 15_000);
    webPort = Number(web?.[1] ?? 0);
  }
  const drained = drain(lines); // keep its stdout flowing for the rest of the run
  const dispose = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await child.status;
    await drained;
  };
  if (!found || ((kind === "web" || kind === "bare-web") && webPort === 0)) {
    await dispose();
    throw new Error(`${kind} server did not start`);
  }
  return { child, port, webPort, dispose };
}

interface Generator {
  child: Deno.ChildProcess;
  ready: Promise<void>;
  result: Promise<GeneratorResult>;
  dispose(): Promise<void>;
}

function startGenerator(
  kind: Kind,
  port: number,
  count: number,
  prefix: string,
  messages: number,
  deadlineMs: number,
): Generator {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      GENERATOR,
      kind,
      String(port),
      String(count),
      prefix,
      String(messages),
      String(deadlineMs),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = lineStream(child.stdout);
  const ready = firstMatch(lines, /^ready$/, deadlineMs).then((found) => {
    if (!found) throw new Error(`generator ${prefix} did not get ready`);
  });
  const result = ready.then(async () => {
    const found = await firstMatch(lines, /^(\{.*\})$/, deadlineMs + 5000);
    if (!found) throw new Error(`generator ${prefix} gave no result`);
    return JSON.parse(found[1]!) as GeneratorResult;
  });
  ready.catch(() => {});
  result.catch(() => {});
  const stdin = child.stdin.getWriter();
  return {
    child,
    ready,
    result,
    async dispose() {
      await stdin.close().catch(() => {}); // EOF tells it to stop
      const status = await Promise.race([
        child.status,
        new Promise<null>((resolve) => setTimeout(resolve, 5000, null)),
      ]);
      if (status === null) child.kill("SIGKILL");
      await child.status;
      await drain(lines);
    },
  };
}

/** The posting member: joins like anyone else and drains what it is sent. */
async function joinSender(kind: Kind, port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true); // paced small lines must not wait for the previous one's ACK
  const chat = kind === "chat" || kind === "web";
  if (chat) await conn.write(new TextEncoder().encode("sender\n"));
  const lines = lineStream(conn.readable);
  const ready = chat ? /^! Joined as sender\./ : /^ok$/;
  if (!await firstMatch(lines, ready, 10_000)) throw new Error("the sender could not join");
  drain(lines);
  return conn;
}

/** `messages` lines at RATE per second, each carrying its send time. */
async function sendPaced(conn: Deno.TcpConn, messages: number): Promise<void> {
  const encoder = new TextEncoder();
  const start = performance.now();
  for (let i = 0; i < messages; i++) {
    const wait = start + (i * 1000) / RATE - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const now = performance.timeOrigin + performance.now();
    await conn.write(encoder.encode(`t=${now.toFixed(3)} seq=${i} the quick brown fox\n`));
  }
}

/** Waits (at most 60 s) until the processes use under 10 % of a core over 250 ms. */
async function settle(pids: number[]): Promise<void> {
  const total = async () => (await Promise.all(pids.map(cpuMs))).reduce((a, b) => a + b, 0);
  let before = await total();
  for (let i = 0; i < 240; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = await total();
    if (now - before < 25) return;
    before = now;
  }
}

// ---- small stream helpers ----

type Lines = AsyncIterator<string>;

function lineStream(stream: ReadableStream<Uint8Array>): Lines {
  return stream.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines())[
    Symbol.asyncIterator
  ]();
}

function splitLines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const part of parts) controller.enqueue(part);
    },
    flush(controller) {
      if (rest) controller.enqueue(rest);
    },
  });
}

/** The first line matching `pattern` within `ms`, or null. */
async function firstMatch(
  lines: Lines,
  pattern: RegExp,
  ms: number,
): Promise<RegExpMatchArray | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(resolve, ms, null)));
  const search = (async () => {
    while (true) {
      const next = await lines.next();
      if (next.done) return null;
      const found = next.value.match(pattern);
      if (found) return found;
    }
  })();
  try {
    return await Promise.race([search, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function drain(lines: Lines): Promise<void> {
  try {
    while (!(await lines.next()).done) {
      // discard
    }
  } catch {
    // the stream was closed under us
  }
}

function closeQuietly(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

// ---- /proc, through cat when Deno will not read /proc/<pid> itself ----

async function peakRss(pid: number): Promise<number> {
  const direct = await peakRssBytes(pid);
  if (!Number.isNaN(direct)) return direct;
  const kb = (await catProc(pid, "status")).match(/^VmHWM:\s+(\d+) kB/m)?.[1];
  return kb ? Number(kb) * 1024 : NaN;
}

async function cpuMs(pid: number): Promise<number> {
  const direct = await cpuTimeMs(pid);
  if (!Number.isNaN(direct)) return direct;
  const stat = await catProc(pid, "stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function catProc(pid: number, file: string): Promise<string> {
  try {
    const { stdout } = await new Deno.Command("cat", {
      args: [`/proc/${pid}/${file}`],
      stderr: "null",
    }).output();
    return new TextDecoder().decode(stdout);
  } catch {
    return "";
  }
}
