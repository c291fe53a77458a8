/**
 * Test helper: a real redis-server on a free loopback port (no persistence),
 * stopped by its own PID, never by name. Tests that need one skip, saying
 * why, when the binary is missing (.ci/run installs Debian's redis-server).
 */
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import { decodeLenient, encode } from "../lib/base/text.ts";
import { LineReader } from "../lib/net/line_reader.ts";

/** The redis-server binary, or null. */
export function findRedisServer(): string | null {
  for (const path of ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // try the next
    }
  }
  return null;
}

/** Why Redis tests are skipped, or null when they can run. */
export const REDIS_MISSING = findRedisServer() === null
  ? "redis-server not found (apt-get install redis-server): the cluster tests are skipped"
  : null;
if (REDIS_MISSING) console.warn(`SKIPPED: ${REDIS_MISSING}`);

/** A loopback port nobody listens on right now. */
export function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (listener.addr as Deno.NetAddr).port;
}

/** One redis-server child; restartable on the same port (empty, as after a crash). */
export class RedisServer implements AsyncDisposable {
  readonly port: number;
  readonly password: string | undefined;
  #child: Deno.ChildProcess | null = null;
  #binary: string;

  private constructor(binary: string, port: number, password?: string) {
    this.#binary = binary;
    this.port = port;
    this.password = password;
  }

  /**
   * Starts redis-server (loopback only) on `options.port` (default: a free
   * one) and resolves once it accepts connections.
   */
  static async start(options: { password?: string; port?: number } = {}): Promise<RedisServer> {
    const binary = findRedisServer();
    if (binary === null) throw new Error(REDIS_MISSING!);
    const server = new RedisServer(binary, options.port ?? freePort(), options.password);
    await server.restart();
    return server;
  }

  /** redis://127.0.0.1:PORT (never with the password). */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The URL with the password in it, for SOCKETKIT_REDIS. */
  get urlWithPassword(): string {
    return `redis://:${encodeURIComponent(this.password ?? "")}@127.0.0.1:${this.port}`;
  }

  /** The running server's process id (NaN when stopped). */
  get pid(): number {
    return this.#child?.pid ?? NaN;
  }

  /** Starts it again on the same port after kill(). */
  async restart(): Promise<void> {
    if (this.#child) throw new Error("redis-server already running");
    const args = ["--save", "", "--appendonly", "no", "--port", String(this.port)];
    args.push("--bind", "127.0.0.1", "--daemonize", "no", "--loglevel", "notice");
    if (this.password !== undefined) args.push("--requirepass", this.password);
    const child = new Deno.Command(this.#binary, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#child = child;
    const stdout = child.stdout.getReader({ mode: "byob" });
    const lines = new LineReader({
      read: async (buffer) => {
        const { value, done } = await stdout.read(new Uint8Array(buffer.length));
        if (done || !value) return null;
        buffer.set(value);
        return value.length;
      },
    });
    // Its log says when it accepts connections; the rest of the log is drained.
    const ready = (async () => {
      for (let i = 0; i < 1000; i++) {
        const line = await lines.readLine();
        if (line === null) return false;
        if (typeof line !== "symbol" && /Ready to accept connections/.test(decodeLenient(line))) {
          return true;
        }
      }
      return false;
    })();
    const result = await within(ready, 10_000);
    void (async () => {
      while (await lines.readLine().catch(() => null) !== null) {
        // discard
      }
    })();
    if (result !== true) {
      await this.kill();
      throw new Error(`redis-server on port ${this.port} did not start`);
    }
  }

  /** SIGKILLs this server (by its PID) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
  }

  /** One command over a raw connection; resolves with the first reply line. */
  async command(...args: string[]): Promise<string> {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
    const all = this.password === undefined ? [args] : [["AUTH", this.password], args];
    await conn.write(encode(all.map(resp).join("")));
    const reader = new LineReader(conn);
    let line: Uint8Array | symbol | null = null;
    for (const _ of all) {
      const next = await within(reader.readLine(), 5000);
      if (next === TIMED_OUT) throw new Error(`redis: no reply to ${args[0]}`);
      line = next;
    }
    return line === null || typeof line === "symbol" ? "" : decodeLenient(line);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
  }
}

function resp(args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${encode(a).length}\r\n${a}\r\n`).join("");
}
