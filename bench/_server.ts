/**
 * The server side of a benchmark: a real `socketkit serve` process (spawned
 * from main.ts the way tests/_helpers.ts does) or a bare baseline script,
 * ready once it printed its `Listening on` lines. After that its stdout is
 * drained and counted, never kept, so a server logging every message costs
 * the runner no memory.
 */
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../", import.meta.url));
export const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/**
 * `deno run` arguments for main.ts, as the serve task uses them (with FFI:
 * the open-file limit, and the UDP batch engine that --udp-engine auto takes).
 */
export const SOCKETKIT = [
  "run",
  "--unstable-net",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-ffi",
  MAIN,
];

/** Every port flag set to 0, so the OS picks free ports. */
export const ALL_PORTS_ZERO = [
  "--tcp-port=0",
  "--udp-port=0",
  "--chat-port=0",
  "--info-port=0",
  "--file-port=0",
  "--web-port=0",
];

/**
 * `deno run` arguments for a script in bench/ (a baseline or a generator).
 * Plain --allow-net like the server: a host list (--allow-net=127.0.0.1)
 * makes Deno's per-operation permission checks measurably slower, which
 * would handicap the baselines and the generators.
 */
export function benchScript(path: string, ...args: string[]): string[] {
  const script = fileURLToPath(new URL(path, import.meta.url));
  return ["run", "--allow-net", script, ...args];
}

/** Options of {@link ServerUnderTest.start}. */
export interface StartOptions {
  /**
   * How many `Listening on` lines make the server ready; "settle" waits until
   * no further line arrives for `settleMs` after the first one (for "every
   * service", whose number depends on what is built in). Default 1.
   */
  expect?: number | "settle";
  /** Quiet period for "settle", ms. Default 500. */
  settleMs?: number;
  /** Give up (and kill the process) after this long, ms. Default 15,000. */
  timeoutMs?: number;
  /** The program to run with `args`. Default: Deno (Deno.execPath()). */
  program?: string;
}

// socketkit's "[TCP Server] Listening on 127.0.0.1:65432", or the original
// server's "[TCP Server] Listening on port 65432...".
const LISTENING = /^(.*) Listening on (?:.+:(\d+)|port (\d+)\.\.\.)$/;

/** A server process under test. */
export class ServerUnderTest {
  readonly child: Deno.ChildProcess;
  /** Label ("[TCP Server]") -> bound port. */
  readonly ports: Map<string, number> = new Map();
  /** Milliseconds from spawn to the last `Listening on` line. */
  listeningMs = NaN;
  /** Bytes of stdout drained after start-up (the server's log). */
  loggedBytes = 0;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;
  #drain: Promise<void> = Promise.resolve();
  #stderr: Promise<string>;

  private constructor(child: Deno.ChildProcess) {
    this.child = child;
    this.#reader = child.stdout.getReader();
    this.#stderr = readBounded(child.stderr, 64 * 1024);
  }

  get pid(): number {
    return this.child.pid;
  }

  /**
   * Spawns `deno <args>` (or `options.program`) and resolves once it is
   * listening. Throws with its stderr if it exits or times out first.
   */
  static async start(args: string[], options: StartOptions = {}): Promise<ServerUnderTest> {
    const started = performance.now();
    const child = new Deno.Command(options.program ?? Deno.execPath(), {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const server = new ServerUnderTest(child);
    try {
      await server.#awaitListening(started, options);
    } catch (error) {
      await server.stop();
      const stderr = (await server.#stderr).trim();
      const detail = error instanceof Error ? error.message : String(error);
      throw new Error(`Server "${args.join(" ")}" did not start: ${detail}\n${stderr}`);
    }
    server.#drain = server.#drainRest();
    return server;
  }

  /** The port bound by the service with this label. */
  port(label: string): number {
    const port = this.ports.get(label);
    if (port === undefined) {
      throw new Error(`No Listening line for "${label}" (saw ${[...this.ports.keys()]})`);
    }
    return port;
  }

  /** SIGTERM, then SIGKILL if it has not exited within 5 s; resolves to the exit code. */
  async stop(): Promise<number> {
    kill(this.child, "SIGTERM");
    const timer = setTimeout(() => kill(this.child, "SIGKILL"), 5000);
    try {
      const status = await this.child.status;
      return status.code;
    } finally {
      clearTimeout(timer);
      await this.#drain;
      await this.#stderr;
      this.#reader.releaseLock();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #awaitListening(started: number, options: StartOptions): Promise<void> {
    const expect = options.expect ?? 1;
    const settleMs = options.settleMs ?? 500;
    const giveUp = started + (options.timeoutMs ?? 15_000);
    const decoder = new TextDecoder();
    let text = "";
    while (true) {
      const settled = expect === "settle" && this.ports.size > 0;
      const wait = settled ? settleMs : giveUp - performance.now();
      if (wait <= 0) throw new Error("Timed out waiting for its Listening lines");
      const result = await raceTimeout(this.#read(), wait);
      if (result === null) {
        if (settled) return; // quiet for settleMs after the last Listening line
        throw new Error("Timed out waiting for its Listening lines");
      }
      this.#pending = null;
      const now = performance.now();
      if (result.done) throw new Error("It exited before listening");
      text += decoder.decode(result.value, { stream: true });
      let newline: number;
      while ((newline = text.indexOf("\n")) !== -1) {
        const line = text.slice(0, newline);
        text = text.slice(newline + 1);
        const match = line.match(LISTENING);
        if (!match) continue;
        this.ports.set(match[1]!, Number(match[2] ?? match[3]));
        this.listeningMs = now - started;
        if (typeof expect === "number" && this.ports.size >= expect) return;
      }
    }
  }

  // A read left pending by a timeout is reused by the next call, never dropped.
  #read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (!this.#pending) {
      this.#pending = this.#reader.read();
      this.#pending.catch(() => {});
    }
    return this.#pending;
  }

  async #drainRest(): Promise<void> {
    try {
      while (true) {
        const result = await this.#read();
        this.#pending = null;
        if (result.done) return;
        this.loggedBytes += result.value.length;
      }
    } catch {
      // the pipe broke with the process: nothing left to drain
    }
  }
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // already exited
  }
}

async function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a stream to its end, keeping at most `limit` bytes of it as text. */
export async function readBounded(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<string> {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  try {
    for await (const chunk of stream) {
      if (kept >= limit) continue;
      chunks.push(chunk.subarray(0, limit - kept));
      kept += Math.min(chunk.length, limit - kept);
    }
  } catch {
    // the pipe broke with the process
  }
  const all = new Uint8Array(kept);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return new TextDecoder().decode(all);
}
