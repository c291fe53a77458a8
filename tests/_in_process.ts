/**
 * The in-process test server: `socketkit serve` without a child process. It
 * parses the same flags as the CLI, starts the services with `startServer`
 * and collects the log through a sink, so a test talks to real sockets but
 * pays no process start-up. Same surface as {@link ServerProcess} where that
 * makes sense (ports, port(), lines, waitFor(), stop(), exited(), dispose)
 * and the same start(args, expect, options): switching a test over is
 * `ServerProcess.start` -> `InProcessServer.start`.
 * Keep spawned-CLI tests for argv, exit codes, stdout, signals and the real
 * entry point, and for what only a process has: its environment, its
 * open-file limit, its peak memory, a SIGKILL, and serve()'s giving up of
 * FFI (startServer keeps the permission; so does the test process).
 */
import { type FdLimit, raiseFdLimit } from "../lib/base/fd_limit.ts";
import { parseFlags } from "../lib/base/flags.ts";
import { Logger } from "../lib/base/logger.ts";
import { decodeLenient } from "../lib/base/text.ts";
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import { parseServeConfig, SERVE_SPEC, type Server, startServer } from "../lib/serve.ts";
import type { ClusterWaits } from "../lib/chat/cluster_config.ts";
import {
  ALL_PORTS_ZERO,
  escapeRegExp,
  namesFilesDir,
  type ProcessOptions,
  type TestServer,
} from "./_helpers.ts";

/**
 * The ProcessOptions an in-process server honours: only denoArgs that grant
 * what the test process has already (deno task test runs with --allow-ffi and
 * --allow-env; without --allow-ffi in denoArgs the server acts as a child
 * without it would). Anything else (cwd, env, a wrapper such as prlimit)
 * needs a child process.
 */
function checkInProcess(options: ProcessOptions): void {
  const granted = (arg: string) => arg === "--allow-ffi" || arg.startsWith("--allow-env");
  const other = (options.denoArgs ?? []).filter((arg) => !granted(arg));
  if (options.cwd !== undefined || options.env !== undefined || options.wrap || other.length) {
    throw new Error(
      `InProcessServer cannot honour ${JSON.stringify(options)}: use ServerProcess for that test`,
    );
  }
}

/**
 * What a test may set that no flag reaches, merged into the parsed config:
 * the waits the server's logic waits out, shortened so a test runs the same
 * logic on milliseconds. Absent: the real ones.
 */
export interface TestSeams {
  /** How long the server goes on after a client's `exit` (MessageConfig.exitGraceMs; 1 s). */
  exitGraceMs?: number;
  /** The chat cluster's intervals and join retries, with --redis (ClusterConfig.waits). */
  clusterWaits?: ClusterWaits;
}

/**
 * No grace after a client's `exit`: for a test whose `exit` comes over one
 * transport only, which would otherwise wait out the real 1 s.
 */
export const NO_EXIT_GRACE: TestSeams = { exitGraceMs: 0 };

/** What the server printed to its log, line by line, for {@link InProcessServer}. */
class LineCollector {
  /** Every log line so far, in order. */
  readonly lines: string[] = [];
  #waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  #partial = "";

  /** The Logger's sink: splits what it writes into lines. */
  write(bytes: Uint8Array): Promise<number> {
    const parts = (this.#partial + decodeLenient(bytes)).split("\n");
    this.#partial = parts.pop() ?? "";
    for (const line of parts) this.#add(line);
    return Promise.resolve(bytes.length);
  }

  /** The first line (already logged or still to come) matching `pattern`. */
  next(pattern: RegExp): Promise<string> {
    const seen = this.lines.find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ pattern, resolve }));
  }

  #add(line: string): void {
    this.lines.push(line);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.pattern.test(line)) return true;
      waiter.resolve(line);
      return false;
    });
  }
}

/** A `socketkit serve` running inside the test process, on port 0 everywhere. */
export class InProcessServer implements TestServer {
  /** Label ("[TCP Server]") -> bound port. */
  readonly ports = new Map<string, number>();
  /** Every log line so far, in order (what the CLI prints to stdout). */
  readonly lines: string[];
  /** Start-up warnings (what the CLI prints to stderr), one per line. */
  readonly warnings: string[];
  #server: Server;
  #log: LineCollector;
  #filesDir: string | null;
  #ended = false;

  private constructor(
    server: Server,
    log: LineCollector,
    warnings: string[],
    filesDir: string | null,
  ) {
    this.#server = server;
    this.#log = log;
    this.lines = log.lines;
    this.warnings = warnings;
    this.#filesDir = filesDir;
    server.finished.then(() => (this.#ended = true), () => (this.#ended = true));
  }

  /**
   * Starts the services `serve args` would start (ports default to 0; a fresh
   * --files-dir, removed on dispose, unless `args` names one) and resolves once
   * each of `expect` labels logged its Listening line. Throws what start-up
   * throws (a UsageError for bad flags, a RuntimeError for a port in use).
   * `seams` shortens what no flag reaches (TestSeams).
   */
  static async start(
    args: string[] = [],
    expect: string[] = ["[TCP Server]", "[UDP Server]"],
    options: ProcessOptions = {},
    seams: TestSeams = {},
  ): Promise<InProcessServer> {
    checkInProcess(options);
    const filesDir = namesFilesDir(args)
      ? null
      : await Deno.makeTempDir({ prefix: "socketkit-test-" });
    // A spawned server has FFI only when the test grants it; without it, it
    // knows no open-file limit and --udp-engine auto takes Deno's sockets.
    // The test process has FFI: mirror the child the test would have had.
    const ffi = (options.denoArgs ?? []).includes("--allow-ffi");
    const engine = ffi || args.some((arg) => arg.startsWith("--udp-engine"))
      ? []
      : ["--udp-engine", "deno"];
    const argv = [
      ...ALL_PORTS_ZERO,
      ...engine,
      ...(filesDir ? ["--files-dir", filesDir] : []),
      ...args,
    ];
    const log = new LineCollector();
    const warnings: string[] = [];
    let server: Server;
    try {
      const config = parseServeConfig(parseFlags(SERVE_SPEC, argv));
      if (seams.exitGraceMs !== undefined) config.message.exitGraceMs = seams.exitGraceMs;
      if (seams.clusterWaits && config.chat.cluster) config.chat.cluster.waits = seams.clusterWaits;
      const logger = new Logger({
        quiet: config.quiet,
        summaryInterval: config.summaryInterval,
        sink: log,
      });
      const fdLimit: FdLimit = ffi
        ? raiseFdLimit()
        : { known: false, why: "--allow-ffi not granted" };
      server = await startServer(config, logger, fdLimit, (line) => warnings.push(line));
    } catch (error) {
      if (filesDir) await Deno.remove(filesDir, { recursive: true });
      throw error;
    }
    const running = new InProcessServer(server, log, warnings, filesDir);
    try {
      for (const label of expect) {
        const line = await running.waitFor(
          new RegExp(`^${escapeRegExp(label)} Listening on (.+):(\\d+)$`),
        );
        running.ports.set(label, Number(line.match(/:(\d+)$/)![1]));
      }
    } catch (error) {
      await running[Symbol.asyncDispose]();
      throw error;
    }
    return running;
  }

  /** Port bound by the service with this label, e.g. "[TCP Server]". */
  port(label: string): number {
    const port = this.ports.get(label);
    if (port === undefined) throw new Error(`no Listening line for ${label}`);
    return port;
  }

  /**
   * Resolves with the first log line (already logged or still to come)
   * matching `pattern`; rejects if the server stops or `ms` pass first.
   */
  async waitFor(pattern: RegExp, ms = 10_000): Promise<string> {
    const found = this.#log.next(pattern);
    const result = await within(
      Promise.race([found, this.#server.finished.then(() => null)]),
      ms,
    );
    if (typeof result === "string") return result;
    // The last lines are flushed before `finished` settles: look once more.
    const late = this.lines.find((line) => pattern.test(line));
    if (late !== undefined) return late;
    const why = result === TIMED_OUT ? `timed out after ${ms} ms` : "the server stopped";
    throw new Error(
      `waiting for ${pattern}: ${why}\nlog:\n${this.lines.join("\n")}\nwarnings:\n${
        this.warnings.join("\n")
      }`,
    );
  }

  /** What ServerProcess calls stderr: the warnings, once the server has stopped. */
  stderrIfDone(): Promise<string> {
    return Promise.resolve(this.#ended ? this.#stderr() : "");
  }

  /** Waits for the server to stop by itself (a client's `exit`); code 0, as `serve` returns. */
  async exited(ms = 10_000): Promise<{ code: number; stderr: string }> {
    const done = await within(this.#server.finished, ms);
    if (done === TIMED_OUT) throw new Error(`server still running after ${ms} ms`);
    return { code: 0, stderr: this.#stderr() };
  }

  /**
   * Takes the shutdown path SIGTERM or SIGINT takes (the log says "Shutting
   * down (SIGTERM)"). No SIGKILL: a crash needs a process (ServerProcess).
   */
  async stop(signal: "SIGTERM" | "SIGINT" = "SIGTERM"): Promise<{ code: number; stderr: string }> {
    this.#server.shutdown(signal);
    return await this.exited();
  }

  /** Re-reads the security files, as SIGHUP does. */
  reload(): void {
    this.#server.reload();
  }

  /** For `await using`: stops the services if still running and removes the temp --files-dir. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#server.shutdown("test over");
    await this.#server.finished;
    if (this.#filesDir) await Deno.remove(this.#filesDir, { recursive: true });
    this.#filesDir = null;
  }

  #stderr(): string {
    return this.warnings.map((line) => line + "\n").join("");
  }
}
