/**
 * Idle connections: the TCP message service's memory with many open, silent
 * connections (each has exchanged one line, so the server really holds it),
 * against the bare line echo holding the same connections. Several holder
 * processes share the connections so none nears its descriptor limit.
 */
import { rssBytes } from "../_proc.ts";
import { split } from "../_load.ts";
import {
  ALL_PORTS_ZERO,
  benchScript,
  readBounded,
  ServerUnderTest,
  SOCKETKIT,
} from "../_server.ts";
import type { IdleConfig, IdleReady } from "../gen/idle.ts";
import type { Scenario } from "../scenario.ts";

/** Holder processes; each keeps its share of the connections. */
const HOLDERS = 2;

/** A holder process that has opened its connections. */
class Holder {
  readonly child: Deno.ChildProcess;
  #stdout: ReadableStreamDefaultReader<Uint8Array>;
  #stderr: Promise<string>;

  constructor(config: IdleConfig) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: benchScript("./gen/idle.ts", JSON.stringify(config)),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdout = this.child.stdout.getReader();
    this.#stderr = readBounded(this.child.stderr, 64 * 1024);
  }

  /** The holder's one report line, printed once its connections are open. */
  async ready(): Promise<IdleReady> {
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await this.#stdout.read();
      if (done) throw new Error(`Idle holder exited early: ${await this.#stderr}`);
      text += decoder.decode(value, { stream: true });
    }
    return JSON.parse(text.slice(0, text.indexOf("\n"))) as IdleReady;
  }

  /** Closing stdin tells the holder to close its connections and exit. */
  async release(): Promise<void> {
    await this.child.stdin.close().catch(() => {});
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    try {
      await this.child.status;
    } finally {
      clearTimeout(timer);
      await this.#stdout.cancel().catch(() => {});
      await this.#stderr;
    }
  }
}

/** Server RSS before and with `count` idle connections. */
async function holdIdle(
  args: string[],
  label: string,
  expect: number,
  count: number,
  holdMs: number,
): Promise<{ before: number; after: number; ready: IdleReady[] }> {
  await using server = await ServerUnderTest.start(args, { expect });
  const before = await rssBytes(server.pid);
  const holders = split(count, HOLDERS).map((connections) =>
    new Holder({
      hostname: "127.0.0.1",
      port: server.port(label),
      connections,
      concurrency: 64,
      holdMs,
    })
  );
  try {
    const ready = await Promise.all(holders.map((holder) => holder.ready()));
    const after = await rssBytes(server.pid);
    return { before, after, ready };
  } finally {
    await Promise.all(holders.map((holder) => holder.release()));
  }
}

const MB = 1024 * 1024;

/** Server memory with 10,000 (quick: 1,000) idle TCP connections. */
export const idleConnections: Scenario = {
  name: "idle",
  description: "TCP message service RSS with 10,000 idle connections, vs bare line echo",
  async run(options) {
    const count = options.quick ? 1000 : 10_000;
    const holdMs = 60_000; // a bound only: the runner releases the holders once it has measured
    const socketkit = [
      ...SOCKETKIT,
      "serve",
      // Every client is on one address: no per-address share.
      "--max-conns-per-ip",
      "0",
      ...ALL_PORTS_ZERO,
      "--services",
      "message",
      "--quiet",
      "--max-conns",
      String(count + 100),
    ];
    const bare = await holdIdle(
      benchScript("./baselines/tcp_line_echo.ts"),
      "[Bare TCP]",
      1,
      count,
      holdMs,
    );
    const subject = await holdIdle(socketkit, "[TCP Server]", 2, count, holdMs);
    const open = subject.ready.reduce((sum, r) => sum + r.open, 0);
    const errors = subject.ready.reduce((sum, r) => sum + r.errors, 0);
    const firstError = subject.ready.find((r) => r.firstError)?.firstError;
    const openedIn = Math.max(...subject.ready.map((r) => r.openMs));
    let note = `${open} of ${count} connections open (opened in ${
      Math.round(openedIn)
    } ms by ${HOLDERS} processes)`;
    if (errors > 0) note += `; ${errors} failed: ${firstError}`;
    return [
      {
        figure: `server RSS, ${count} idle connections`,
        unit: "MB",
        value: subject.after / MB,
        baseline: bare.after / MB,
        better: "lower",
        goal: { value: 250 },
        note,
      },
      {
        figure: "RSS per idle connection",
        unit: "KB",
        value: (subject.after - subject.before) / count / 1024,
        baseline: (bare.after - bare.before) / count / 1024,
        better: "lower",
        note: `server RSS before connecting: ${(subject.before / MB).toFixed(1)} MB (bare ${
          (bare.before / MB).toFixed(1)
        } MB)`,
      },
    ];
  },
};
