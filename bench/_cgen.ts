/**
 * The C load generator (bench/gen/loadgen.c): epoll, nonblocking sockets,
 * nothing allocated per request, so it is not the limit it reports where a
 * Deno generator would saturate a core first. The bench builds it once per
 * run with gcc into a temporary folder; without gcc, callers fall back to the
 * Deno generators and say so in each figure.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { cpuOver } from "./_load.ts";
import { readBounded } from "./_server.ts";

const SOURCE = fileURLToPath(new URL("./gen/loadgen.c", import.meta.url));

/** What one loadgen run measured (its own JSON line, named the bench's way). */
export interface CLoad {
  messagesPerSecond: number;
  completed: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  errors: number;
  /** UDP: datagrams without a reply within the timeout (each sent again). */
  lost: number;
  /** TCP: exchanges that took longer than the timeout. */
  timeouts: number;
  /** The generator's own CPU over its run, % of one core. */
  generatorCpuPercent: number;
  /** The server's CPU over the measured window, % of one core. */
  serverCpuPercent: number;
}

/** Options of {@link runCLoad}. */
export interface CLoadOptions {
  mode: "tcp" | "udp";
  port: number;
  /** Clients (TCP) or senders (UDP) at once. */
  clients: number;
  warmupMs: number;
  durationMs: number;
  /** The request, sent as is (no newline added). */
  payload: string;
  /** TCP: reply bytes that complete an exchange (or the server's close). */
  expect: number;
  /** A TCP exchange, or a UDP datagram's reply, that takes longer is counted (and UDP resent). */
  timeoutMs?: number;
}

/** The built generator, or why there is none. */
export type CLoadgen = { path: string } | { problem: string };

let built: Promise<CLoadgen> | null = null;

/** Builds the generator (once per process) with gcc; never throws. */
export function buildCLoadgen(): Promise<CLoadgen> {
  built ??= (async (): Promise<CLoadgen> => {
    const dir = await Deno.makeTempDir({ prefix: "socketkit-bench-" });
    const path = join(dir, "loadgen");
    let problem: string;
    try {
      const { success, stderr } = await new Deno.Command("gcc", {
        args: ["-O2", "-pthread", "-o", path, SOURCE],
        stdout: "null",
        stderr: "piped",
      }).output();
      if (success) {
        removeAtExit(dir);
        return { path };
      }
      problem = `gcc failed: ${new TextDecoder().decode(stderr).trim().split("\n")[0]}`;
    } catch (error) {
      problem = error instanceof Deno.errors.NotFound
        ? "gcc is not installed"
        : `gcc could not run: ${error instanceof Error ? error.message : String(error)}`;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    return { problem };
  })();
  return built;
}

function removeAtExit(dir: string): void {
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  });
}

/**
 * Runs the generator against 127.0.0.1:`port` while sampling `serverPid`'s
 * CPU over the measured part; throws with its stderr when it fails.
 */
export async function runCLoad(
  binary: string,
  serverPid: number,
  options: CLoadOptions,
): Promise<CLoad> {
  const args = [
    options.mode,
    "--host",
    "127.0.0.1",
    "--port",
    String(options.port),
    "-c",
    String(options.clients),
    "--warmup",
    String(options.warmupMs / 1000),
    "--duration",
    String(options.durationMs / 1000),
    "--payload",
    options.payload,
    "--expect",
    String(options.expect),
    "--timeout-ms",
    String(options.timeoutMs ?? 200),
  ];
  const startAt = Date.now() + options.warmupMs;
  const serverCpu = cpuOver(serverPid, startAt, startAt + options.durationMs);
  const child = new Deno.Command(binary, { args, stdout: "piped", stderr: "piped" }).spawn();
  // Bounded: the generator ends by itself after warm-up and duration.
  const killAt = options.warmupMs + options.durationMs + 10_000;
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
  }, killAt);
  try {
    const [stdout, stderr, status] = await Promise.all([
      readBounded(child.stdout, 64 * 1024),
      readBounded(child.stderr, 64 * 1024),
      child.status,
    ]);
    if (!status.success) throw new Error(`loadgen ${args.join(" ")} failed: ${stderr.trim()}`);
    const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}");
    return {
      messagesPerSecond: result.rate,
      completed: result.completed,
      p50: result.p50_us / 1000,
      p99: result.p99_us / 1000,
      errors: result.errors,
      lost: result.lost,
      timeouts: result.timeouts,
      generatorCpuPercent: result.cpu_pct_of_one_core,
      serverCpuPercent: (100 * (await serverCpu)) / options.durationMs,
    };
  } finally {
    clearTimeout(timer);
  }
}
