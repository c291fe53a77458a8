/**
 * Test helpers: run the real CLI as a child process on port 0 and talk to it
 * over real sockets. Every helper closes what it opens.
 */
import { fileURLToPath } from "node:url";
import { LineReader, OVERLONG } from "../lib/net/line_reader.ts";
import { decodeLenient, encode } from "../lib/base/text.ts";
import { writeAll } from "../lib/base/io.ts";
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import { PADDED_REQUEST } from "../lib/info/protocol.ts";

export const ROOT = fileURLToPath(new URL("../", import.meta.url));
export const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/** The `deno run` arguments for main.ts, as the tasks use them. */
export const RUN_ARGS = [
  "run",
  "--unstable-net",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  MAIN,
];

/** Options for a child process of the CLI (all optional). */
export interface ProcessOptions {
  cwd?: string;
  /** Extra environment variables (added to the inherited ones). */
  env?: Record<string, string>;
  /** Extra `deno run` flags, e.g. "--allow-env=SOCKETKIT_TOKEN". */
  denoArgs?: string[];
  /** A command that runs Deno, e.g. ["prlimit", "--nofile=256:512", "--"]. */
  wrap?: string[];
}

/** The program and arguments that run Deno with `args`, inside `options.wrap` if given. */
function command(args: string[], options: ProcessOptions): [string, string[]] {
  const [wrapper, ...rest] = options.wrap ?? [];
  return wrapper === undefined
    ? [Deno.execPath(), args]
    : [wrapper, [...rest, Deno.execPath(), ...args]];
}

/** RUN_ARGS with `options.denoArgs` before the script. */
export function runArgs(options: ProcessOptions = {}): string[] {
  const extra = options.denoArgs ?? [];
  return [...RUN_ARGS.slice(0, -1), ...extra, MAIN];
}

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
 * What a test needs of a running server, spawned ({@link ServerProcess}) or
 * in process (InProcessServer, tests/_in_process.ts): a helper typed with it
 * takes either.
 */
export interface TestServer extends AsyncDisposable {
  /** Label ("[TCP Server]") -> bound port. */
  readonly ports: Map<string, number>;
  /** Every log line so far, in order. */
  readonly lines: string[];
  /** Port bound by the service with this label; throws if it has none. */
  port(label: string): number;
  /** The first log line matching `pattern`, already printed or still to come. */
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
  /** Waits for the server to stop by itself (a client's `exit`). */
  exited(ms?: number): Promise<{ code: number; stderr: string }>;
  /** Stops the server the way SIGTERM does. */
  stop(): Promise<{ code: number; stderr: string }>;
}

/** A `socketkit serve` child process and the ports its services bound. */
export class ServerProcess implements TestServer {
  readonly child: Deno.ChildProcess;
  /** Label ("[TCP Server]") -> bound port. */
  readonly ports: Map<string, number>;
  /** Every stdout line so far, in order. */
  readonly lines: string[];
  #lines: LineReader;
  #waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  #pump: Promise<void>;
  #stderr: Promise<string>;

  #filesDir: string | null = null;

  private constructor(child: Deno.ChildProcess, lines: LineReader) {
    this.child = child;
    this.ports = new Map();
    this.lines = [];
    this.#lines = lines;
    this.#pump = Promise.resolve();
    this.#stderr = new Response(child.stderr).text();
  }

  /**
   * Starts `serve` with `args` (ports default to 0) and resolves once each of
   * `expect` labels printed its Listening line. Throws with stderr if the
   * process exits first.
   */
  static async start(
    args: string[] = [],
    expect: string[] = ["[TCP Server]", "[UDP Server]"],
    options: ProcessOptions = {},
  ): Promise<ServerProcess> {
    // The file service writes into --files-dir: unless the test names one,
    // give it a fresh folder, removed on dispose, never the checkout.
    const filesDir = namesFilesDir(args)
      ? null
      : await Deno.makeTempDir({ prefix: "socketkit-test-" });
    const [program, programArgs] = command([
      ...runArgs(options),
      "serve",
      ...ALL_PORTS_ZERO,
      ...(filesDir ? ["--files-dir", filesDir] : []),
      ...args,
    ], options);
    const child = new Deno.Command(program, {
      args: programArgs,
      cwd: options.cwd ?? ROOT,
      ...(options.env ? { env: options.env } : {}),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.getReader({ mode: "byob" });
    const lines = new LineReader({
      read: async (buffer) => {
        const { value, done } = await reader.read(new Uint8Array(buffer.length));
        if (done || !value) return null;
        buffer.set(value);
        return value.length;
      },
    });
    const server = new ServerProcess(child, lines);
    server.#filesDir = filesDir;
    server.#startPump(reader);
    try {
      for (const label of expect) {
        const line = await server.waitFor(
          new RegExp(`^${escapeRegExp(label)} Listening on (.+):(\\d+)$`),
        );
        server.ports.set(label, Number(line.match(/:(\d+)$/)![1]));
      }
    } catch (error) {
      await server[Symbol.asyncDispose]();
      throw error;
    }
    return server;
  }

  /** Port bound by the service with this label, e.g. "[TCP Server]". */
  port(label: string): number {
    const port = this.ports.get(label);
    if (port === undefined) throw new Error(`no Listening line for ${label}`);
    return port;
  }

  /**
   * Resolves with the first stdout line (already printed or still to come)
   * matching `pattern`; rejects if the process ends or 10 s pass first.
   */
  async waitFor(pattern: RegExp, ms = 10_000): Promise<string> {
    const seen = this.lines.find((line) => pattern.test(line));
    if (seen !== undefined) return seen;
    const found = new Promise<string>((resolve) => this.#waiters.push({ pattern, resolve }));
    const result = await within(Promise.race([found, this.#pump.then(() => null)]), ms);
    if (typeof result === "string") return result;
    const why = result === TIMED_OUT ? `timed out after ${ms} ms` : "the server exited";
    throw new Error(
      `waiting for ${pattern}: ${why}\nstdout:\n${this.lines.join("\n")}\nstderr:\n${await this
        .stderrIfDone()}`,
    );
  }

  /** stderr, once the process has ended (empty string while it runs). */
  async stderrIfDone(): Promise<string> {
    const done = await within(this.child.status, 0);
    return done === TIMED_OUT ? "" : await this.#stderr;
  }

  /** Waits for the process to end by itself; returns its code and stderr. */
  async exited(ms = 10_000): Promise<{ code: number; stderr: string }> {
    const status = await within(this.child.status, ms);
    if (status === TIMED_OUT) throw new Error(`server still running after ${ms} ms`);
    await this.#pump;
    return { code: status.code, stderr: await this.#stderr };
  }

  /** Sends a signal and waits for the exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<{ code: number; stderr: string }> {
    try {
      this.child.kill(signal);
    } catch {
      // already gone
    }
    return await this.exited();
  }

  /** For `finally`: kills if still running and releases every resource. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.child.status;
    await this.#pump;
    await this.#stderr;
    if (this.#filesDir) await Deno.remove(this.#filesDir, { recursive: true });
  }

  #startPump(reader: ReadableStreamBYOBReader): void {
    this.#pump = (async () => {
      try {
        while (true) {
          const raw = await this.#lines.readLine();
          if (raw === null) break;
          const line = raw === OVERLONG ? "(over-long line)" : decodeLenient(raw);
          this.lines.push(line);
          this.#waiters = this.#waiters.filter((waiter) => {
            if (!waiter.pattern.test(line)) return true;
            waiter.resolve(line);
            return false;
          });
        }
      } finally {
        reader.releaseLock();
      }
    })();
  }
}

/** `text` as a regular expression that matches it literally. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether `serve` arguments name their own --files-dir. */
export function namesFilesDir(args: string[]): boolean {
  return args.some((arg) => arg === "--files-dir" || arg.startsWith("--files-dir="));
}

/** Result of a CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs main.ts with `args` and optional stdin text; resolves when it exits. */
export async function runCli(
  args: string[],
  stdin?: string,
  options: ProcessOptions = {},
): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...runArgs(options), ...args],
    cwd: options.cwd ?? ROOT,
    ...(options.env ? { env: options.env } : {}),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(encode(stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** A TCP client that reads replies line by line. */
export class LineClient {
  readonly conn: Deno.TcpConn;
  readonly reader: LineReader;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.reader = new LineReader(conn);
  }

  static async connect(port: number, hostname = "127.0.0.1"): Promise<LineClient> {
    return new LineClient(await Deno.connect({ hostname, port }));
  }

  /** Writes raw text or bytes. */
  async send(data: string | Uint8Array): Promise<void> {
    await writeAll(this.conn, typeof data === "string" ? encode(data) : data);
  }

  /** The next line, or null at EOF; throws if none comes within `ms`. */
  async readLine(ms = 5000): Promise<string | null> {
    const line = await within(this.reader.readLine(), ms);
    if (line === TIMED_OUT) throw new Error(`no line within ${ms} ms`);
    if (line === OVERLONG) throw new Error("over-long line");
    return line === null ? null : decodeLenient(line);
  }

  /** Sends a line and returns the reply line. */
  async request(line: string): Promise<string | null> {
    await this.send(line + "\n");
    return await this.readLine();
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** An info request padded as `connect info` pads it, so the whole reply comes (docs/info.md). */
export function padded(request: string): string {
  return request.padEnd(PADDED_REQUEST);
}

/** Sends one datagram and waits for one reply; null if none within `ms`. */
export async function udpRequest(
  port: number,
  payload: string | Uint8Array,
  ms = 2000,
): Promise<string | null> {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const reply = socket.receive();
  reply.catch(() => {});
  try {
    const bytes = typeof payload === "string" ? encode(payload) : payload;
    await socket.send(bytes, { transport: "udp", hostname: "127.0.0.1", port });
    const result = await within(reply, ms);
    return result === TIMED_OUT ? null : decodeLenient(result[0]);
  } finally {
    socket.close();
    await reply.catch(() => {});
  }
}

/**
 * A free TCP port below the kernel's ephemeral range, for a test that checks
 * a port is closed after its server stopped: port 0 hands out ephemeral ports,
 * and with tests running side by side another test's listener can be given
 * the port just freed, which a closed-port check would then find open. Nothing
 * else here binds below that range.
 */
export function portBelowEphemeral(): number {
  let low = 32768;
  try {
    low = Number(Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").split(/\s+/)[0]);
  } catch {
    // not Linux, or not readable: the usual start of the range
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * Math.max(1, low - 20_000));
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
  throw new Error("no free port below the ephemeral range after 100 tries");
}

/** True when `port` on 127.0.0.1 accepts no TCP connection (the server let it go). */
export async function tcpPortClosed(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    // A free port in the ephemeral range can be given to this very socket,
    // which then connects to itself (TCP simultaneous open): nobody listens.
    const itself = (conn.localAddr as Deno.NetAddr).port === port;
    conn.close();
    return itself;
  } catch (error) {
    return error instanceof Deno.errors.ConnectionRefused;
  }
}

/** True when an executable is on PATH. */
export async function hasCommand(name: string): Promise<boolean> {
  try {
    const { code } = await new Deno.Command("sh", {
      args: ["-c", `command -v ${name}`],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return code === 0;
  } catch {
    return false;
  }
}

// Runs argv[1:] on a new pseudo-terminal and plays PTY_STEPS: each step waits
// until the terminal has shown its pattern (after the previous step) and then
// types its text, or, for a text of PTY_RESIZE and a number, makes the
// terminal that many columns wide (the program gets SIGWINCH). Prints what the
// terminal showed; exits with the child's code (124: timed out).
const PTY_STEPS_SCRIPT = `
import fcntl, json, os, pty, re, select, signal, struct, sys, termios, time
steps = json.loads(os.environ["PTY_STEPS"])
args = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(args[0], args)
out = bytearray()
deadline = time.monotonic() + float(os.environ.get("PTY_TIMEOUT", "20"))
step, since, timed_out = 0, 0, False
while True:
    while step < len(steps) and re.search(steps[step][0].encode(), bytes(out[since:])):
        text = steps[step][1]
        if text.startswith("\\0resize:"):
            cols = int(text.split(":")[1])
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
        else:
            os.write(fd, text.encode())
        since = len(out)
        step += 1
    left = deadline - time.monotonic()
    if left <= 0:
        timed_out = True
        os.kill(pid, signal.SIGKILL)
        break
    ready, _, _ = select.select([fd], [], [], left)
    if not ready:
        continue
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.close(fd)
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(bytes(out))
code = os.waitstatus_to_exitcode(status)
sys.exit(124 if timed_out else (code if code >= 0 else 128 - code))
`;

/** A step's text that resizes the pseudo-terminal: `${PTY_RESIZE}30` makes it 30 columns wide. */
export const PTY_RESIZE = "\0resize:";

let python: Promise<string | null> | null = null;

/**
 * python3's interpreter itself, asked once (null without python3): a version
 * manager's shim in front of it (pyenv's) costs about 0.4 s of CPU a start.
 */
function pythonInterpreter(): Promise<string | null> {
  python ??= (async () => {
    if (!(await hasCommand("python3"))) return null;
    const asked = await new Deno.Command("python3", {
      args: ["-c", "import sys; print(sys.executable)"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const path = new TextDecoder().decode(asked.stdout).trim();
    return asked.success && path !== "" ? path : "python3";
  })();
  return python;
}

/**
 * Runs main.ts with `args` on a pseudo-terminal (python3's pty module),
 * typing each step's text once the terminal shows its pattern (a regular
 * expression, Python syntax). Resolves with the exit code and what the
 * terminal showed; null when python3 is missing.
 */
export async function runInPtySteps(
  args: string[],
  steps: [pattern: string, text: string][],
  ms = 20_000,
): Promise<{ code: number; output: string } | null> {
  const python = await pythonInterpreter();
  if (python === null) return null;
  const output = await new Deno.Command(python, {
    args: ["-c", PTY_STEPS_SCRIPT, Deno.execPath(), ...RUN_ARGS, ...args],
    cwd: ROOT,
    env: { PTY_TIMEOUT: String(ms / 1000), PTY_STEPS: JSON.stringify(steps), NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    output: decoder.decode(output.stdout) + decoder.decode(output.stderr),
  };
}

/**
 * Runs main.ts with `args` on a pseudo-terminal, typing `input` ahead (the
 * terminal hands the program one line per read). Resolves with the exit code
 * and everything the terminal showed; null when python3 is missing.
 */
export async function runInPty(
  args: string[],
  input: string,
  ms = 20_000,
): Promise<{ code: number; output: string } | null> {
  return await runInPtySteps(args, [["", input]], ms); // "" matches at once
}

/**
 * Peak resident memory (VmHWM) of a process in MiB, or NaN. Read through
 * `cat`: Deno grants /proc/<pid> reads only with --allow-all.
 */
export async function peakRssMb(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stderr: "null",
  }).output();
  const kb = new TextDecoder().decode(stdout).match(/^VmHWM:\s+(\d+) kB/m)?.[1];
  return kb ? Number(kb) / 1024 : NaN;
}

/** A UDP socket on a chosen loopback address (127.0.0.2 is a different peer from 127.0.0.1). */
export class UdpFrom implements Disposable {
  readonly socket: Deno.DatagramConn;
  #pending: Promise<[Uint8Array, Deno.Addr] | null> | null = null;

  constructor(hostname = "127.0.0.1") {
    this.socket = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  }

  /** Sends one datagram to 127.0.0.1:`port`. */
  async send(port: number, payload: string | Uint8Array): Promise<void> {
    const bytes = typeof payload === "string" ? encode(payload) : payload;
    await this.socket.send(bytes, { transport: "udp", hostname: "127.0.0.1", port });
  }

  /** The next datagram's text, or null if none within `ms`. */
  async receive(ms = 2000): Promise<string | null> {
    this.#pending ??= this.socket.receive().catch(() => null);
    const result = await within(this.#pending, ms);
    if (result === TIMED_OUT) return null;
    this.#pending = null;
    return result === null ? null : decodeLenient(result[0]);
  }

  async request(port: number, payload: string | Uint8Array, ms = 2000): Promise<string | null> {
    await this.send(port, payload);
    return await this.receive(ms);
  }

  [Symbol.dispose](): void {
    this.socket.close();
  }
}
