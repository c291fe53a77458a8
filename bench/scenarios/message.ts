/**
 * Message service throughput: TCP with pipelined persistent connections, TCP
 * in the original client's connect-per-message pattern, and UDP. Each run
 * measures socketkit (`serve --services message --quiet`) and the bare Deno
 * baseline with the same generator, so the ratio compares like with like.
 * tcp-connect and udp-message also measure socketkit against the program it
 * replaces, a reconstruction of the original Python server
 * (bench/peers/original_server.py), on the original client's own traffic
 * (a message without newline), driven by the C generator (bench/gen/loadgen.c).
 */
import { fileURLToPath } from "node:url";
import { buildCLoadgen, runCLoad } from "../_cgen.ts";
import { type LoadResult, planWindow, runLoad, split } from "../_load.ts";
import { ALL_PORTS_ZERO, benchScript, ServerUnderTest, SOCKETKIT } from "../_server.ts";
import type { Measurement, Scenario, ScenarioOptions } from "../scenario.ts";
import type { TcpConnectConfig } from "../gen/tcp_connect.ts";
import type { TcpPipelinedConfig } from "../gen/tcp_pipelined.ts";
import type { UdpConfig } from "../gen/udp.ts";
import type { WindowConfig } from "../gen/_common.ts";

/** 30 bytes plus the newline: a short chat-sized message. */
export const MESSAGE = "bench message 0123456789abcdef";

/** A server the generators can be pointed at. */
interface Subject {
  args: string[];
  /** The label of the Listening line whose port the generators use. */
  label: string;
  /** Listening lines to wait for. */
  expect: number;
}

/**
 * `socketkit serve --services message`, quiet unless `logging`. Every sender is
 * on 127.0.0.1, so the per-source UDP limit (for forged sources) is off.
 */
function socketkit(label: "[TCP Server]" | "[UDP Server]", logging = false): Subject {
  const args = [
    ...SOCKETKIT,
    "serve",
    // Every client is on one address: no per-address share.
    "--max-conns-per-ip",
    "0",
    ...ALL_PORTS_ZERO,
    "--services",
    "message",
    "--udp-rate",
    "0",
  ];
  if (!logging) args.push("--quiet");
  return { args, label, expect: 2 };
}

const BARE_TCP: Subject = {
  args: benchScript("./baselines/tcp_line_echo.ts"),
  label: "[Bare TCP]",
  expect: 1,
};
const BARE_UDP: Subject = {
  args: benchScript("./baselines/udp_echo.ts"),
  label: "[Bare UDP]",
  expect: 1,
};

/** Load timing: quick runs are short, full runs long enough to smooth out noise. */
function timing(options: ScenarioOptions): { warmupMs: number; durationMs: number } {
  return options.quick ? { warmupMs: 300, durationMs: 1000 } : { warmupMs: 1000, durationMs: 5000 };
}

/**
 * Generator processes: one per two cores by default. On two cores a second
 * generator only takes CPU from the server (measured: 64 pipelined
 * connections from 2 processes gave fewer msgs/s than from 1).
 */
export function generators(options: ScenarioOptions): number {
  return options.generators ?? Math.max(1, Math.floor(navigator.hardwareConcurrency / 2));
}

/** What one subject did under load. */
interface Outcome {
  load: LoadResult;
  /** Server stdout drained per second of the window, bytes. */
  logRate: number;
}

/** Starts `subject`, runs the generators against it, stops it. */
async function measure<C extends WindowConfig>(
  subject: Subject,
  script: string,
  options: ScenarioOptions,
  configsFor: (port: number, window: WindowConfig) => C[],
): Promise<Outcome> {
  await using server = await ServerUnderTest.start(subject.args, { expect: subject.expect });
  const { warmupMs, durationMs } = timing(options);
  const window = planWindow(warmupMs, durationMs);
  const base: WindowConfig = { hostname: "127.0.0.1", port: server.port(subject.label), ...window };
  const loggedBefore = server.loggedBytes;
  const load = await runLoad(script, configsFor(base.port, base), server.pid);
  const logRate = ((server.loggedBytes - loggedBefore) * 1000) / durationMs;
  return { load, logRate };
}

/** Baseline and subject in an order that alternates with the run number. */
async function both<T>(
  options: ScenarioOptions,
  baseline: () => Promise<T>,
  subject: () => Promise<T>,
): Promise<{ baseline: T; subject: T }> {
  if ((options.run ?? 0) % 2 === 0) {
    const b = await baseline();
    return { baseline: b, subject: await subject() };
  }
  const s = await subject();
  return { baseline: await baseline(), subject: s };
}

/** "server CPU 99%, generator CPU 100% (1 process): saturated". */
function cpuNote(outcome: Outcome, baseline: Outcome): string {
  const { load } = outcome;
  const gen = (o: Outcome) => Math.round(o.load.generatorCpuMaxPercent);
  let note = `server CPU ${Math.round(load.serverCpuPercent)}% (bare ${
    Math.round(baseline.load.serverCpuPercent)
  }%), generator CPU ${gen(outcome)}% (bare run ${gen(baseline)}%, ${load.processes} process${
    load.processes > 1 ? "es" : ""
  })`;
  if (Math.max(gen(outcome), gen(baseline)) >= 90) {
    note += "; a generator near saturation (>= 90%): msgs/s may show its limit, not the server's";
  }
  for (const [who, o] of [["socketkit", outcome], ["bare", baseline]] as const) {
    if (o.load.errors > 0) note += `; ${who}: ${o.load.errors} errors (${o.load.firstError})`;
  }
  return note;
}

const ms = (micros: number) => micros / 1000;

/**
 * Server CPU time per answered message: what the service itself costs, much
 * less sensitive than msgs/s to other load on the machine.
 */
function cpuPerMessage(outcome: Outcome, baseline: Outcome): Measurement {
  const perMessage = (o: Outcome) =>
    (o.load.serverCpuPercent * 10_000) / Math.max(1, o.load.messagesPerSecond);
  return {
    figure: "server CPU per message",
    unit: "µs",
    value: perMessage(outcome),
    baseline: perMessage(baseline),
    better: "lower",
  };
}

function latencyFigures(
  prefix: string,
  outcome: Outcome,
  baseline: Outcome,
  percentiles: number[],
): Measurement[] {
  return percentiles.map((p) => ({
    figure: `${prefix}p${p} latency`,
    unit: "ms",
    value: ms(outcome.load.latency.percentile(p)),
    baseline: ms(baseline.load.latency.percentile(p)),
    better: "lower",
  }));
}

const ORIGINAL = fileURLToPath(new URL("../peers/original_server.py", import.meta.url));
/** What the original client sends: no newline. */
const HELLO = "Hello";
/** "[TCP Server] Your message was received!": the reply without its newline. */
const REPLY_BYTES = 39;
/** Clients (TCP) or senders (UDP) at once against the original and socketkit. */
const CLIENTS = 32;

/** What one server did under the original client's traffic. */
interface PeerLoad {
  rate: number;
  /** Milliseconds, 32 at once. */
  p50: number;
  p99: number;
  /** One at a time: the reply latency a single client sees, ms. */
  aloneP50: number;
  serverCpuPercent: number;
  generatorCpuPercent: number;
  errors: number;
  /** UDP: datagrams never answered (C: within 200 ms, then sent again). */
  lost: number;
}

/** Which generator produced a comparison, for its figures' notes. */
interface PeerRun {
  subject: PeerLoad;
  original: PeerLoad;
  /** e.g. "C generator (bench/gen/loadgen.c)". */
  generator: string;
}

let python: Promise<string | null> | null = null;

/** Why the original server cannot run here (no python3), or null. */
function originalProblem(): Promise<string | null> {
  python ??= new Deno.Command("python3", { args: ["--version"], stdout: "null", stderr: "null" })
    .output()
    .then((result) => (result.success ? null : "python3 does not run"))
    .catch(() => "python3 is not installed");
  return python;
}

/**
 * Measures `subject` and the original server, in an order that alternates
 * with the run, on the original client's traffic over `mode`: 32 clients at
 * once, then one alone. Uses the C generator, or the Deno one without gcc.
 */
async function versusOriginal(
  mode: "tcp" | "udp",
  subjectArgs: string[],
  options: ScenarioOptions,
  peer: { quiet?: boolean; alone?: boolean } = {},
): Promise<PeerRun> {
  const loadgen = await buildCLoadgen();
  const generator = "path" in loadgen
    ? "C generator (bench/gen/loadgen.c)"
    : `Deno generator (bench/gen/${
      mode === "tcp" ? "tcp_connect" : "udp"
    }.ts; the C one: ${loadgen.problem})`;
  const label = mode === "tcp" ? "[TCP Server]" : "[UDP Server]";
  const measureOne = async (args: string[], program?: string): Promise<PeerLoad> => {
    await using server = await ServerUnderTest.start(args, {
      expect: 2,
      ...(program ? { program } : {}),
    });
    const port = server.port(label);
    const { warmupMs, durationMs } = timing(options);
    const aloneMs = options.quick ? 500 : 2000;
    const measureAlone = peer.alone ?? true;
    if ("path" in loadgen) {
      const base = { mode, port, payload: HELLO, expect: REPLY_BYTES, warmupMs };
      const many = await runCLoad(loadgen.path, server.pid, {
        ...base,
        clients: CLIENTS,
        durationMs,
      });
      const alone = measureAlone
        ? await runCLoad(loadgen.path, server.pid, {
          ...base,
          clients: 1,
          warmupMs: 200,
          durationMs: aloneMs,
        })
        : { p50: NaN };
      return {
        rate: many.messagesPerSecond,
        p50: many.p50,
        p99: many.p99,
        aloneP50: alone.p50,
        serverCpuPercent: many.serverCpuPercent,
        generatorCpuPercent: many.generatorCpuPercent,
        errors: many.errors + many.timeouts,
        lost: many.lost,
      };
    }
    const deno = async (clients: number, warmup: number, duration: number) => {
      const window = planWindow(warmup, duration);
      const base: WindowConfig = { hostname: "127.0.0.1", port, ...window };
      return mode === "tcp"
        ? await runLoad("./gen/tcp_connect.ts", [
          {
            ...base,
            workers: clients,
            message: HELLO,
            newline: false,
            expect: REPLY_BYTES,
          } satisfies TcpConnectConfig,
        ], server.pid)
        : await runLoad("./gen/udp.ts", [
          {
            ...base,
            senders: clients,
            window: 1,
            timeoutMs: 200,
            message: HELLO,
          } satisfies UdpConfig,
        ], server.pid);
    };
    const many = await deno(CLIENTS, warmupMs, durationMs);
    const alone = measureAlone ? ms((await deno(1, 200, aloneMs)).latency.percentile(50)) : NaN;
    return {
      rate: many.messagesPerSecond,
      p50: ms(many.latency.percentile(50)),
      p99: ms(many.latency.percentile(99)),
      aloneP50: alone,
      serverCpuPercent: many.serverCpuPercent,
      generatorCpuPercent: many.generatorCpuMaxPercent,
      errors: many.errors,
      lost: many.sent - many.received,
    };
  };
  const original = [
    ORIGINAL,
    "--tcp-port",
    "0",
    "--udp-port",
    "0",
    ...(peer.quiet ? ["--quiet"] : []),
  ];
  const { baseline, subject } = await both(
    options,
    () => measureOne(original, "python3"),
    () => measureOne(subjectArgs),
  );
  return { subject, original: baseline, generator };
}

/** "C generator (...), CPU 40% / 35%; server CPU 99% / 98%". */
function peerNote(run: PeerRun, stretch: string): string {
  const { subject, original } = run;
  const pct = (n: number) => `${Math.round(n)}%`;
  let note = `${run.generator}, ${CLIENTS} at once; generator CPU ${
    pct(subject.generatorCpuPercent)
  } (original's run ${pct(original.generatorCpuPercent)}); server CPU ${
    pct(subject.serverCpuPercent)
  } (original ${pct(original.serverCpuPercent)}); ${stretch}`;
  if (Math.max(subject.generatorCpuPercent, original.generatorCpuPercent) >= 90) {
    note += "; a generator near saturation (>= 90%): msgs/s may show its limit, not the server's";
  }
  for (const [who, load] of [["socketkit", subject], ["original", original]] as const) {
    if (load.errors > 0) note += `; ${who}: ${load.errors} errors or timeouts`;
  }
  return note;
}

/** The figures comparing socketkit with the original server. */
function originalFigures(
  run: PeerRun,
  goal: { ratio: number; moonshot: number },
  what: string,
): Measurement[] {
  const { subject, original } = run;
  const ratio = subject.rate / original.rate;
  const moonshot = `moonshot ${goal.moonshot}x ${
    ratio >= goal.moonshot ? "met" : "missed"
  } this run; socketkit runs --quiet, the original prints every message as it did`;
  const perMessage = (load: PeerLoad) => (load.serverCpuPercent * 10_000) / Math.max(1, load.rate);
  return [
    {
      figure: `msgs/s, ${what}, vs the original server`,
      unit: "msg/s",
      value: subject.rate,
      baseline: original.rate,
      better: "higher",
      goal: { ratio: goal.ratio },
      note: peerNote(run, moonshot),
    },
    {
      figure: `p99 latency, ${what}, vs the original server`,
      unit: "ms",
      value: subject.p99,
      baseline: original.p99,
      better: "lower",
    },
    {
      figure: `reply p50 one at a time, ${what}, vs the original server`,
      unit: "ms",
      value: subject.aloneP50,
      baseline: original.aloneP50,
      better: "lower",
      goal: { value: 1 },
    },
    {
      figure: `server CPU per message, ${what}, vs the original server`,
      unit: "µs",
      value: perMessage(subject),
      baseline: perMessage(original),
      better: "lower",
    },
  ];
}

/** 64 persistent connections, 16 requests in flight on each. */
export const tcpPipelined: Scenario = {
  name: "tcp-pipelined",
  description: "TCP message, 64 persistent connections x 16 pipelined, vs bare line echo",
  async run(options) {
    const configs = (_port: number, window: WindowConfig): TcpPipelinedConfig[] =>
      split(64, generators(options)).map((connections) => ({
        ...window,
        connections,
        depth: 16,
        message: MESSAGE,
      }));
    const script = "./gen/tcp_pipelined.ts";
    const { baseline, subject } = await both(
      options,
      () => measure(BARE_TCP, script, options, configs),
      () => measure(socketkit("[TCP Server]"), script, options, configs),
    );
    const logging = await measure(socketkit("[TCP Server]", true), script, options, configs);
    return [
      {
        figure: "msgs/s (--quiet)",
        unit: "msg/s",
        value: subject.load.messagesPerSecond,
        baseline: baseline.load.messagesPerSecond,
        better: "higher",
        goal: { ratio: 0.8 },
        note: cpuNote(subject, baseline),
      },
      ...latencyFigures("", subject, baseline, [50, 99]),
      cpuPerMessage(subject, baseline),
      {
        figure: "msgs/s, logging every message (no --quiet)",
        unit: "msg/s",
        value: logging.load.messagesPerSecond,
        baseline: baseline.load.messagesPerSecond,
        better: "higher",
        note: `stdout drained by the runner: ${(logging.logRate / 1e6).toFixed(1)} MB/s; ${
          cpuNote(logging, baseline)
        }`,
      },
      {
        ...cpuPerMessage(logging, baseline),
        figure: "server CPU per message, logging every message",
      },
    ];
  },
};

/**
 * The original client's pattern: connect, send a message, read the reply,
 * close; 32 at once. Against the bare line echo with a line (the Deno
 * generator), and against the original server with the original client's
 * message, "Hello" without a newline (the C generator).
 */
export const tcpConnect: Scenario = {
  name: "tcp-connect",
  description:
    "TCP message, connect-send-read-close, 32 at once, vs bare line echo; and vs the original server with its client's message (no newline)",
  async run(options) {
    const configs = (_port: number, window: WindowConfig): TcpConnectConfig[] =>
      split(32, generators(options)).map((workers) => ({ ...window, workers, message: MESSAGE }));
    const script = "./gen/tcp_connect.ts";
    const { baseline, subject } = await both(
      options,
      () => measure(BARE_TCP, script, options, configs),
      () => measure(socketkit("[TCP Server]"), script, options, configs),
    );
    return [
      {
        figure: "msgs/s (--quiet)",
        unit: "msg/s",
        value: subject.load.messagesPerSecond,
        baseline: baseline.load.messagesPerSecond,
        better: "higher",
        goal: { ratio: 0.8 },
        note: cpuNote(subject, baseline),
      },
      ...latencyFigures("", subject, baseline, [50, 99]),
      cpuPerMessage(subject, baseline),
      ...await againstOriginal("tcp", options),
    ];
  },
};

/**
 * The comparison with the original server, or figures saying why it was
 * skipped (python3 missing).
 */
async function againstOriginal(
  mode: "tcp" | "udp",
  options: ScenarioOptions,
): Promise<Measurement[]> {
  const what = mode === "tcp" ? "no newline" : "UDP";
  const goal = mode === "tcp" ? { ratio: 1, moonshot: 1.2 } : { ratio: 1.5, moonshot: 2 };
  const problem = await originalProblem();
  if (problem !== null) {
    return [{
      figure: `msgs/s, ${what}, vs the original server`,
      unit: "msg/s",
      value: NaN,
      better: "higher",
      note: `skipped: ${problem}`,
    }];
  }
  const subjectArgs = socketkit(mode === "tcp" ? "[TCP Server]" : "[UDP Server]").args;
  const run = await versusOriginal(mode, subjectArgs, options);
  const figures = originalFigures(run, goal, what);
  if (mode === "udp") {
    figures.push({
      figure: "datagrams lost, UDP, vs the original server",
      unit: "datagrams",
      value: run.subject.lost,
      baseline: run.original.lost,
      better: "lower",
      goal: { value: 0 },
      note: `${run.generator}: a datagram unanswered for 200 ms is lost and sent again`,
    });
  }
  // Two more comparisons without goals, left out of --quick (it must stay under a minute).
  if (options.quick) return figures;
  // The original prints every message (as socketkit logs it without --quiet);
  // the same comparison against the original with its prints turned off.
  const quiet = await versusOriginal(mode, subjectArgs, options, { quiet: true, alone: false });
  figures.push({
    figure: `msgs/s, ${what}, vs the original server with --quiet (no prints)`,
    unit: "msg/s",
    value: quiet.subject.rate,
    baseline: quiet.original.rate,
    better: "higher",
    note: peerNote(quiet, "no goal: the goals are against the original as it was, printing"),
  });
  if (mode === "udp") {
    // Deno's own sockets (--udp-engine deno), the engine used without --allow-ffi.
    const deno = await versusOriginal(
      "udp",
      [...socketkit("[UDP Server]").args, "--udp-engine", "deno"],
      options,
      { alone: false },
    );
    figures.push({
      figure: "msgs/s, UDP, --udp-engine deno, vs the original server",
      unit: "msg/s",
      value: deno.subject.rate,
      baseline: deno.original.rate,
      better: "higher",
      note: peerNote(deno, "no goal: the engine without FFI"),
    });
  }
  return figures;
}

/** 32 UDP senders, one datagram in flight each. */
export const udpMessage: Scenario = {
  name: "udp-message",
  description:
    "UDP message, 32 senders, one datagram in flight each, vs bare UDP echo and vs the original server",
  async run(options) {
    const configs = (_port: number, window: WindowConfig): UdpConfig[] =>
      split(32, generators(options)).map((senders) => ({
        ...window,
        senders,
        window: 1,
        timeoutMs: 200,
        message: MESSAGE,
      }));
    const script = "./gen/udp.ts";
    const { baseline, subject } = await both(
      options,
      () => measure(BARE_UDP, script, options, configs),
      () => measure(socketkit("[UDP Server]"), script, options, configs),
    );
    const loss = (o: Outcome) =>
      o.load.sent > 0 ? (100 * (o.load.sent - o.load.received)) / o.load.sent : NaN;
    return [
      {
        figure: "msgs/s (--quiet)",
        unit: "msg/s",
        value: subject.load.messagesPerSecond,
        baseline: baseline.load.messagesPerSecond,
        better: "higher",
        goal: { ratio: 0.8 },
        note: cpuNote(subject, baseline),
      },
      ...latencyFigures("", subject, baseline, [50, 99]),
      cpuPerMessage(subject, baseline),
      {
        figure: "loss",
        unit: "%",
        value: loss(subject),
        baseline: loss(baseline),
        better: "lower",
        goal: { value: 1 },
        note: `${
          subject.load.sent - subject.load.received
        } of ${subject.load.sent} datagrams never answered (a sender waits 200 ms before sending afresh)`,
      },
      ...await againstOriginal("udp", options),
    ];
  },
};
