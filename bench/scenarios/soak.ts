/**
 * The soak: one `socketkit serve` under mixed load for N minutes (--minutes;
 * 5 by default, 20 s with --quick), its RSS and open descriptors sampled all
 * along. Leaks and slow growth show only over time. The load, all from this
 * process, paced (it is a soak, not a race):
 *
 * - chat: members talking (3 lines a second each) and reading everything; a
 *   silent member checks every line reached it
 * - the TCP message pattern of the original client: connect, one message,
 *   its reply, close
 * - UDP messages, each answered
 * - info: STATUS JSON (padded, as connect info sends it) and TIME
 * - files: uploads and downloads of random files, the bytes checked against
 *   the SHA-256 each side names
 *
 * Reports the exchanges, the failures, corrupt files, the growth of RSS over
 * the second half, and descriptors with nothing connected before and after
 * the load (after two seconds of warm-up, which are not counted). Goal on a quiet machine at 30 minutes: 0 failures, 0 corrupt,
 * descriptors flat, RSS growth over the second half at most 10 %.
 */
import { cpuTimeMs, openFds, ownCpuTimeMs, rssBytes } from "../_proc.ts";
import { ALL_PORTS_ZERO, ServerUnderTest, SOCKETKIT } from "../_server.ts";
import type { Measurement, Scenario, ScenarioOptions } from "../scenario.ts";

const ACK_TCP = "[TCP Server] Your message was received!";
const ACK_UDP = "[UDP Server] Your message was received!";
/** Longest wait for any one reply; past it the exchange counts as failed. */
const REPLY_MS = 10_000;
const TALKERS = 6;
/** Names the uploads cycle through (force), so the store stays small. */
const FILE_NAMES = 8;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Counts of one soak, by kind of exchange. */
class Tally {
  readonly exchanges = new Map<string, number>();
  readonly failures = new Map<string, number>();
  corrupt = 0;
  lastError = "";

  ok(kind: string): void {
    this.exchanges.set(kind, (this.exchanges.get(kind) ?? 0) + 1);
  }

  fail(kind: string, error: unknown): void {
    this.failures.set(kind, (this.failures.get(kind) ?? 0) + 1);
    this.lastError = `${kind}: ${error instanceof Error ? error.message : String(error)}`;
  }

  static total(map: Map<string, number>): number {
    return [...map.values()].reduce((sum, n) => sum + n, 0);
  }
}

/** A TCP connection read by lines and by exact byte counts, each read within REPLY_MS. */
class Wire implements Disposable {
  readonly conn: Deno.TcpConn;
  #buffer = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  static async open(port: number): Promise<Wire> {
    return new Wire(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async write(data: string | Uint8Array): Promise<void> {
    let bytes = typeof data === "string" ? encoder.encode(data) : data;
    while (bytes.length > 0) bytes = bytes.subarray(await this.conn.write(bytes));
  }

  /** The next line without its LF; null at the end. */
  async readLine(): Promise<string | null> {
    while (true) {
      const newline = this.#buffer.subarray(this.#start, this.#end).indexOf(0x0a);
      if (newline >= 0) {
        const line = decoder.decode(this.#buffer.subarray(this.#start, this.#start + newline));
        this.#start += newline + 1;
        return line.replace(/\r$/, "");
      }
      if (!(await this.#fill())) return null;
    }
  }

  /** Exactly `n` bytes (fewer only at the end). */
  async readBytes(n: number): Promise<Uint8Array<ArrayBuffer>> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      if (this.#start === this.#end && !(await this.#fill())) break;
      const take = Math.min(n - got, this.#end - this.#start);
      out.set(this.#buffer.subarray(this.#start, this.#start + take), got);
      this.#start += take;
      got += take;
    }
    return out.subarray(0, got);
  }

  async #fill(): Promise<boolean> {
    if (this.#start > 0) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buffer.length) {
      const bigger = new Uint8Array(this.#buffer.length * 2);
      bigger.set(this.#buffer);
      this.#buffer = bigger;
    }
    const timer = setTimeout(() => this.close(), REPLY_MS);
    try {
      const n = await this.conn.read(this.#buffer.subarray(this.#end));
      if (n === null) return false;
      this.#end += n;
      return true;
    } finally {
      clearTimeout(timer);
    }
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

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Runs `step` every `everyMs` until `until` (performance.now()), counting each outcome. */
async function paced(
  kind: string,
  tally: Tally,
  until: number,
  everyMs: number,
  step: (n: number) => Promise<void>,
): Promise<void> {
  for (let n = 0; performance.now() < until; n++) {
    const started = performance.now();
    try {
      await step(n);
      tally.ok(kind);
    } catch (error) {
      tally.fail(kind, error);
    }
    await pause(Math.max(0, everyMs - (performance.now() - started)));
  }
}

/** The original client's pattern: connect, one message, its reply, close. */
async function tcpMessages(port: number, tally: Tally, until: number): Promise<void> {
  await paced("tcp message", tally, until, 20, async (n) => {
    using wire = await Wire.open(port);
    await wire.write(`soak ${n}\n`);
    const reply = await wire.readLine();
    if (reply !== ACK_TCP) throw new Error(`reply ${JSON.stringify(reply)}`);
  });
}

/** One datagram, one reply; `check` judges the reply's text. */
async function datagrams(
  kind: string,
  port: number,
  tally: Tally,
  until: number,
  everyMs: number,
  request: (n: number) => string,
  check: (reply: string, n: number) => boolean,
): Promise<void> {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let pending: Promise<[Uint8Array, Deno.Addr] | null> | null = null;
  try {
    await paced(kind, tally, until, everyMs, async (n) => {
      await socket.send(encoder.encode(request(n)), {
        transport: "udp",
        hostname: "127.0.0.1",
        port,
      });
      // A late reply to a lost exchange is taken by the next one and fails its check.
      pending ??= socket.receive().catch(() => null);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const got = await Promise.race([
        pending,
        new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), REPLY_MS))),
      ]);
      clearTimeout(timer);
      if (got === "late") throw new Error(`no reply within ${REPLY_MS} ms`);
      pending = null;
      if (got === null || !check(decoder.decode(got[0]), n)) throw new Error("wrong reply");
    });
  } finally {
    socket.close();
    await pending;
  }
}

/** Chat sessions so far: each one's names are its own (a name is free only once its member left). */
let chats = 0;

/** Chat members talking and reading; a silent one checks every line arrives. */
async function chat(port: number, tally: Tally, until: number): Promise<void> {
  const session = ++chats;
  const join = async (name: string) => {
    const wire = await Wire.open(port);
    const welcome = await wire.readLine();
    if (!welcome?.startsWith("! Welcome")) throw new Error(`no welcome: ${welcome}`);
    await wire.write(`${name}\n`);
    return wire;
  };
  const observer = await join(`soak${session}-observer`);
  const heard = new Set<string>();
  const listening = (async () => {
    for (let line = await observer.readLine(); line !== null; line = await observer.readLine()) {
      const said = line.match(/\bsoak-line (\d+ \d+)$/);
      if (said) heard.add(said[1]!);
    }
  })().catch(() => {});
  let sent = 0;
  const talkers = Array.from({ length: TALKERS }, async (_, i) => {
    let wire: Wire;
    try {
      wire = await join(`soak${session}-${i}`);
    } catch (error) {
      tally.fail("chat join", error);
      return;
    }
    // Members read what everyone says, as people do.
    const reading = (async () => {
      while ((await wire.readLine()) !== null) { /* read */ }
    })().catch(() => {});
    try {
      await paced("chat line", tally, until, 333, async (n) => {
        await wire.write(`soak-line ${i} ${n}\n`);
        sent++;
      });
    } finally {
      await wire.write("/quit\n").catch(() => {});
      wire.close();
      await reading;
    }
  });
  await Promise.all(talkers);
  // Lines sent at the very end have a moment to arrive.
  for (let waited = 0; heard.size < sent && waited < 5000; waited += 50) await pause(50);
  observer.close();
  await listening;
  const missing = sent - heard.size;
  for (let i = 0; i < missing; i++) tally.fail("chat line", "a line never reached the observer");
}

/** Random files up and down, each checked against the digests both sides name. */
async function files(port: number, tally: Tally, until: number): Promise<void> {
  await paced("file round trip", tally, until, 100, async (n) => {
    const size = 16 * 1024 + Math.floor(Math.random() * 496 * 1024);
    const data = new Uint8Array(size);
    for (let at = 0; at < size; at += 65_536) {
      crypto.getRandomValues(data.subarray(at, Math.min(size, at + 65_536)));
    }
    const digest = await sha256Hex(data);
    const name = `soak-${n % FILE_NAMES}.bin`;
    using wire = await Wire.open(port);
    await wire.write(`PUT ${size} force ${name}\n`);
    const ready = (await wire.readLine())?.match(/^READY (\d+)$/);
    if (!ready) throw new Error("no READY");
    await wire.write(data.subarray(Number(ready[1])));
    await wire.write(`SHA256 ${digest}\n`);
    const stored = await wire.readLine();
    if (stored !== `OK ${digest}`) throw new Error(`upload: ${stored}`);
    await wire.write(`GET 0 ${name}\n`);
    const head = (await wire.readLine())?.match(/^OK (\d+) \d+ ([0-9a-f]{64}|-)$/);
    if (!head) throw new Error("GET: no OK line");
    const body = await wire.readBytes(Number(head[1]));
    const trailer = await wire.readLine();
    const got = await sha256Hex(body);
    if (body.length !== size || got !== digest || trailer !== `SHA256 ${digest}`) {
      tally.corrupt++;
      throw new Error(`a download differed from its upload (${body.length} of ${size} bytes)`);
    }
  });
}

/**
 * HOOK (issue 23, the web service): once lib/web lands, add its loads here,
 * WebSocket chat members talking and reading, and HTTP downloads checked by
 * digest, started like the others against `server.port("[Web Server]")`.
 */
function webLoads(_server: ServerUnderTest, _tally: Tally, _until: number): Promise<void>[] {
  return [];
}

interface Sample {
  at: number;
  rss: number;
  fds: number;
}

/** Samples RSS and descriptors every `everyMs` until `until`. */
async function sample(pid: number, until: number, everyMs: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  while (performance.now() < until) {
    samples.push({ at: performance.now(), rss: await rssBytes(pid), fds: await openFds(pid) });
    await pause(everyMs);
  }
  return samples;
}

/** Mean RSS of the samples between two fractions of the run. */
function meanRss(samples: Sample[], from: number, to: number): number {
  const first = samples[0]!.at;
  const span = samples[samples.length - 1]!.at - first;
  const picked = samples.filter((s) => s.at - first >= from * span && s.at - first <= to * span);
  return picked.reduce((sum, s) => sum + s.rss, 0) / Math.max(1, picked.length);
}

/** Descriptors once the count has not moved for a moment (connections closing settle). */
async function settledFds(pid: number): Promise<number> {
  let last = await openFds(pid);
  for (let i = 0; i < 20; i++) {
    await pause(250);
    const now = await openFds(pid);
    if (now === last) return now;
    last = now;
  }
  return last;
}

async function run(options: ScenarioOptions): Promise<Measurement[]> {
  const minutes = options.minutes ?? (options.quick ? 1 / 3 : 5);
  const filesDir = await Deno.makeTempDir({ prefix: "socketkit-soak-" });
  try {
    await using server = await ServerUnderTest.start([
      ...SOCKETKIT,
      "serve",
      ...ALL_PORTS_ZERO,
      "--quiet",
      "--files-dir",
      filesDir,
      // Paced, but faster than one person: the rate limits would answer
      // most of it with silence, which a soak does not measure.
      "--udp-rate",
      "0",
      "--info-rate",
      "0",
    ], { expect: "settle" });
    const pid = server.pid;
    const port = (label: string) => server.port(label);
    const loads = (tally: Tally, until: number) =>
      Promise.all([
        tcpMessages(port("[TCP Server]"), tally, until),
        datagrams(
          "udp message",
          port("[UDP Server]"),
          tally,
          until,
          20,
          (n) => `soak ${n}`,
          (r) => r === ACK_UDP,
        ),
        datagrams(
          "info",
          port("[Info Server]"),
          tally,
          until,
          100,
          (n) => (n % 5 === 4 ? "TIME" : "STATUS JSON").padEnd(400),
          (reply, n) =>
            n % 5 === 4 ? reply.startsWith("time: ") : JSON.parse(reply).command === "STATUS",
        ),
        chat(port("[Chat Server]"), tally, until),
        files(port("[File Server]"), tally, until),
        ...webLoads(server, tally, until),
      ]);
    // Two seconds of every load first, so what the server opens once, on
    // first use, is in the count before.
    const warmUp = new Tally();
    await loads(warmUp, performance.now() + 2000);
    if (Tally.total(warmUp.failures) > 0) throw new Error(`warm-up failed: ${warmUp.lastError}`);
    const fdsBefore = await settledFds(pid);
    const tally = new Tally();
    const started = performance.now();
    const until = started + minutes * 60_000;
    const serverCpu = await cpuTimeMs(pid);
    const ownCpu = ownCpuTimeMs();
    const sampling = sample(pid, until, Math.max(1000, (minutes * 60_000) / 240));
    await loads(tally, until);
    const seconds = (performance.now() - started) / 1000;
    const serverCpuPct = ((await cpuTimeMs(pid)) - serverCpu) / 10 / seconds;
    const ownCpuPct = (ownCpuTimeMs() - ownCpu) / 10 / seconds;
    const samples = await sampling;
    const fdsAfter = await settledFds(pid);
    const mid = meanRss(samples, 0.45, 0.55);
    const late = meanRss(samples, 0.7, 0.8);
    const end = meanRss(samples, 0.9, 1);
    const growth = ((end - mid) / mid) * 100;
    const peakFds = Math.max(...samples.map((s) => s.fds));
    const exchanges = Tally.total(tally.exchanges);
    const failures = Tally.total(tally.failures);
    const breakdown = [...tally.exchanges].map(([kind, n]) => `${kind} ${n}`).join(", ");
    const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
    return [
      {
        figure: `exchanges in ${minutes.toFixed(minutes < 1 ? 2 : 0)} min`,
        unit: "count",
        value: exchanges,
        better: "higher",
        note: `${breakdown}; server CPU ${serverCpuPct.toFixed(0)}%, load generator CPU ${
          ownCpuPct.toFixed(0)
        }%`,
      },
      {
        figure: "failed exchanges",
        unit: "count",
        value: failures,
        better: "lower",
        goal: { value: 0 },
        ...(failures > 0 ? { note: tally.lastError } : {}),
      },
      {
        figure: "corrupt files",
        unit: "count",
        value: tally.corrupt,
        better: "lower",
        goal: { value: 0 },
      },
      {
        figure: "RSS growth, second half",
        unit: "%",
        value: growth,
        better: "lower",
        goal: { value: 10 },
        note: `server RSS ${mb(samples[0]!.rss)} MB at start, ${mb(mid)} at half time, ${
          mb(late)
        } at three quarters, ${mb(end)} at the end; ${samples.length} samples`,
      },
      {
        figure: "descriptors after load - before",
        unit: "fds",
        value: fdsAfter - fdsBefore,
        better: "lower",
        goal: { value: 0 },
        note:
          `${fdsBefore} before, ${fdsAfter} after (nothing connected), ${peakFds} at most during`,
      },
    ];
  } finally {
    await Deno.remove(filesDir, { recursive: true }).catch(() => {});
  }
}

export const soak: Scenario = {
  name: "soak",
  description:
    "One server under mixed load (chat, TCP and UDP messages, info, files) for --minutes: leaks",
  maxRuns: 1,
  run,
};
