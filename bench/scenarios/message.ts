/**
 * Message service throughput: TCP with pipelined persistent connections, TCP
 * in the original client's connect-per-message pattern, and UDP. Each run
 * measures socketkit (`serve --services message --quiet`) and the bare Deno
 * baseline with the same generator, so the ratio compares like with like.
 */
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

/** The original client's pattern: connect, send a line, read the reply, close; 32 at once. */
export const tcpConnect: Scenario = {
  name: "tcp-connect",
  description: "TCP message, connect-send-read-close, 32 at once, vs bare line echo",
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
    ];
  },
};

/** 32 UDP senders, one datagram in flight each. */
export const udpMessage: Scenario = {
  name: "udp-message",
  description: "UDP message, 32 senders, one datagram in flight each, vs bare UDP echo",
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
    ];
  },
};
