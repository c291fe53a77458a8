/**
 * The fault-and-fuzz suite's harness: a seeded PRNG (the seed is printed, and
 * SOCKETKIT_FUZZ_SEED replays it), payload generators, witnesses that keep
 * doing real work during an attack and notice anything lost, a health check
 * of every service, and the figures each test reports.
 *
 * Short by default (`deno task test:slow`); SOCKETKIT_FUZZ_LONG=1 scales
 * every count up.
 *
 * Adding a fault: write a test that starts a server with startTarget(),
 * attacks it (count what you do in a Figures), then calls checkHealthy() and
 * report(). The file-service faults (fault_files_test.ts) are built that way.
 */
import { equal, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import { writeAll } from "../lib/base/io.ts";
import { decodeLenient, encode } from "../lib/base/text.ts";
import {
  padded,
  peakRssMb,
  type ProcessOptions,
  runCli,
  ServerProcess,
  UdpFrom,
} from "./_helpers.ts";
import { RawClient } from "./_security.ts";

/**
 * How many times a repeated log line stood for an event: lines matching
 * `first` (printed as they happened) plus the counts in the summaries
 * matching `summary` (its first group), which Logger.repeated prints.
 */
export function tally(lines: string[], first: RegExp, summary: RegExp): number {
  let n = 0;
  for (const line of lines) {
    if (first.test(line)) n++;
    const match = line.match(summary);
    if (match) n += Number(match[1]);
  }
  return n;
}

/** SOCKETKIT_FUZZ_LONG=1: the long form. */
export const LONG = Deno.env.get("SOCKETKIT_FUZZ_LONG") === "1";

/** `short` normally, `long` under SOCKETKIT_FUZZ_LONG=1. */
export function scale(short: number, long: number): number {
  return LONG ? long : short;
}

/** The seed: SOCKETKIT_FUZZ_SEED if set, else random. Printed by every fuzz test. */
export const SEED = Number(
  Deno.env.get("SOCKETKIT_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31),
);

export const LABELS = {
  tcp: "[TCP Server]",
  udp: "[UDP Server]",
  chat: "[Chat Server]",
  info: "[Info Server]",
  files: "[File Server]",
} as const;
export const ALL_LABELS = Object.values(LABELS);
export const ACK_TCP = "[TCP Server] Your message was received!";
export const ACK_UDP = "[UDP Server] Your message was received!";

/** A small, fast, seeded PRNG (mulberry32): the same seed gives the same cases. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uint32. */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** 0 <= n < max. */
  int(max: number): number {
    return this.next() % max;
  }

  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

/**
 * The generator for case `index` of stream `stream` (one per target): the
 * same seed gives every case the same bytes, whatever order cases run in.
 */
export function caseRng(seed: number, stream: number, index: number): Rng {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b) ^ index;
  return new Rng(Math.imul(h ^ (h >>> 13), 0x27d4eb2d) ^ (h >>> 16));
}

// Pieces that have hurt line-based servers: terminal escapes, invalid and
// overlong UTF-8, surrogates, bidi overrides, NULs, lone CRs, commands of
// every service (exit is refused: the fuzzed server runs --exit-from none).
const NASTY = [
  "\x1b[2J",
  "\x1b]0;pwned\x07",
  "\x1b[31m",
  "\x9b31m",
  "\u009b",
  "\u202e",
  "\u2066",
  "\u2028",
  "\x00",
  "\r",
  "\t",
  "\x7f",
  "\x08\x08\x08",
  "exit",
  "EXIT\n",
  "/quit",
  "/name ",
  "/me ",
  "/users\n",
  "//",
  "/",
  "AUTH ",
  "AUTH x\n",
  "AUTH\n",
  "LIST\n",
  "STAT a\n",
  "GET 0 a\n",
  "GET 99999999999 ../../etc/passwd\n",
  "PUT 10 new fuzz.bin\n",
  "PUT 99999999999999 force ..\n",
  "SHA256 00\n",
  "STATUS",
  "USERS JSON",
  "😀",
  "é",
  "名前",
];
const BAD_UTF8 = [
  [0xff],
  [0xfe, 0xff],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xe2, 0x82],
  [0x80],
];

/** One fuzz payload: random bytes, a soup of nasty pieces, or an over-long line. */
export function fuzzPayload(rng: Rng, maxLong = 200_000): Uint8Array {
  const kind = rng.int(10);
  if (kind < 3) return rng.bytes(rng.int(2048));
  if (kind === 9 && rng.chance(0.3)) {
    const long = new Uint8Array(1000 + rng.int(maxLong));
    long.fill(0x41 + rng.int(26));
    if (rng.chance(0.5)) long[long.length - 1] = 0x0a;
    return long;
  }
  const parts: Uint8Array[] = [];
  const count = 1 + rng.int(40);
  for (let i = 0; i < count; i++) {
    const r = rng.int(10);
    if (r < 5) parts.push(encode(rng.pick(NASTY)));
    else if (r < 7) parts.push(new Uint8Array(rng.pick(BAD_UTF8)));
    else if (r < 9) parts.push(encode("word" + rng.int(1000) + " "));
    else parts.push(rng.bytes(rng.int(64)));
    if (rng.chance(0.3)) parts.push(encode(rng.chance(0.5) ? "\n" : "\r\n"));
  }
  return concat(parts);
}

/** Joins byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Runs jobs, at most `parallel` at a time, until `count` have run and, when
 * `minMs` is given, at least that long has passed (so witnesses get to work
 * during the attack however fast it goes). Resolves to the number run.
 */
export async function pool(
  count: number,
  parallel: number,
  job: (index: number) => Promise<void>,
  minMs = 0,
): Promise<number> {
  let next = 0;
  const until = Date.now() + minMs;
  const more = () => next < count || Date.now() < until;
  const workers = Array.from({ length: Math.min(parallel, Math.max(count, 1)) }, async () => {
    while (more()) await job(next++);
  });
  await Promise.all(workers);
  return next;
}

/** How long each fuzz attack lasts at least, so the witnesses work during it. */
export const ATTACK_MS = scale(2500, 60_000);

/** Raw TCP to 127.0.0.1; null when the connect itself failed (counted by the caller). */
export async function tryConnect(port: number): Promise<Deno.TcpConn | null> {
  try {
    return await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return null;
  }
}

export function closeQuiet(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

/** Reads and discards until EOF or `ms`; returns the bytes read. Never throws. */
export async function drain(conn: Deno.Conn, ms: number, max = 1 << 20): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buffer = new Uint8Array(16 * 1024);
  const deadline = Date.now() + ms;
  while (total < max) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const read = conn.read(buffer).catch(() => null);
    const n = await within(read, left);
    if (n === TIMED_OUT || n === null) break;
    chunks.push(buffer.slice(0, n));
    total += n;
  }
  return concat(chunks);
}

/** Raw controls that must never leave the server unescaped (tab and LF aside). */
// deno-lint-ignore no-control-regex
export const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** What one fault test did, for the report and docs/security.md. */
export interface Figures {
  name: string;
  /** Fuzz cases or attack units tried. */
  cases?: number;
  /** Connections opened by the attack. */
  connections?: number;
  /** Connections held open at once at the peak. */
  held?: number;
  /** Datagrams sent by the attack. */
  datagrams?: number;
  /** Faults injected: resets, kills, stalls. */
  faults?: number;
  /** Witness operations that completed correctly during the attack. */
  witnessed?: number;
  /** Witness operations lost (must be 0). */
  lost?: number;
  /** Peak RSS of the server, MiB. */
  peakMb?: number;
  /** Wall time of the attack, ms. */
  ms?: number;
  note?: string;
}

/** Prints one line of figures (collected by hand into docs/security.md). */
export function report(figures: Figures): void {
  const parts = Object.entries(figures)
    .filter(([key, value]) => key !== "name" && value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === "number" ? Math.round(value) : value}`);
  console.log(`FAULT ${figures.name}: ${parts.join(" ")} (seed ${SEED}${LONG ? ", long" : ""})`);
}

/**
 * A server for an attack: every service on loopback, `exit` refused, files in
 * a temp dir (removed when the server is disposed), --quiet unless told.
 */
/**
 * The attacks come from one address: without a --max-conns-per-ip of their
 * own they run with none, as before the fair share, so each attack meets the
 * cap it is about.
 */
function unshared(extra: string[]): string[] {
  return extra.includes("--max-conns-per-ip") ? [] : ["--max-conns-per-ip", "0"];
}

export async function startTarget(
  extra: string[] = [],
  labels: readonly string[] = ALL_LABELS,
  options: { filesDir?: string; quiet?: boolean; process?: ProcessOptions } = {},
): Promise<ServerProcess & { filesDir: string }> {
  const made = options.filesDir === undefined;
  const filesDir = options.filesDir ?? await Deno.makeTempDir({ prefix: "socketkit-fault-" });
  const quiet = options.quiet ?? true ? ["--quiet"] : [];
  let server: ServerProcess;
  try {
    server = await ServerProcess.start(
      [...quiet, "--exit-from", "none", "--files-dir", filesDir, ...unshared(extra), ...extra],
      [...labels],
      options.process,
    );
  } catch (error) {
    if (made) await Deno.remove(filesDir, { recursive: true });
    throw error;
  }
  const dispose = server[Symbol.asyncDispose].bind(server);
  return Object.assign(server, {
    filesDir,
    async [Symbol.asyncDispose]() {
      await dispose();
      if (made) await Deno.remove(filesDir, { recursive: true }).catch(() => {});
    },
  });
}

/**
 * A TCP message client that sends a numbered line every `everyMs` and checks
 * each reply, until stopped. Anything but the ack, or no reply within 5 s,
 * is a loss.
 */
export class MessageWitness {
  sent = 0;
  acked = 0;
  lost = 0;
  #stop = false;
  #done: Promise<void>;

  constructor(port: number, everyMs: number, prefix: string[] = []) {
    this.#done = (async () => {
      const client = new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
      try {
        for (const line of prefix) await client.send(line);
        if (prefix.length > 0) {
          await client.readLine(); // AUTH REQUIRED
          equal(await client.readLine(), "AUTH OK");
        }
        while (!this.#stop) {
          this.sent++;
          let reply: string | null = null;
          try {
            reply = await client.request(`witness ${this.sent}`);
          } catch {
            reply = null;
          }
          if (reply === ACK_TCP) this.acked++;
          else this.lost++;
          await sleep(everyMs);
        }
      } finally {
        client.close();
      }
    })();
  }

  /** Stops and resolves once the last request finished. */
  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

/**
 * Two chat members: one posts a numbered line every `everyMs`, the other
 * checks that every one arrives, in order, and that nothing any member sent
 * reaches it with a raw control character.
 */
export class ChatWitness {
  posted = 0;
  received = 0;
  lost = 0;
  unsafe = 0;
  #stop = false;
  #sender!: RawClient;
  #reader!: RawClient;
  #done!: Promise<void>;
  #reading!: Promise<void>;
  #draining!: Promise<void>;
  #expected = 1;
  /** Resolves stop()'s wait once the last posted line arrived. */
  #caughtUp = () => {};

  static async start(port: number, everyMs: number, tag: string): Promise<ChatWitness> {
    const witness = new ChatWitness();
    witness.#sender = await joinChat(port, `w${tag}a`);
    witness.#reader = await joinChat(port, `w${tag}b`);
    const mine = new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\] w${tag}a: witness (\\d+)$`);
    witness.#reading = (async () => {
      while (true) {
        let line: string | null;
        try {
          line = await witness.#reader.readLine(10_000);
        } catch {
          line = null;
        }
        if (line === null) return;
        if (RAW_CONTROL.test(line)) witness.unsafe++;
        const match = line.match(mine);
        if (!match) continue;
        const n = Number(match[1]);
        if (n !== witness.#expected) witness.lost += Math.max(1, n - witness.#expected);
        witness.#expected = n + 1;
        witness.received++;
        witness.#caughtUp();
      }
    })();
    // The sender reads too (and drops what it reads): a member that never
    // reads is, rightly, dropped by the server as stuck once the room is busy.
    witness.#draining = (async () => {
      while (true) {
        const line = await witness.#sender.readLine(60_000).catch(() => null);
        if (line === null) return;
      }
    })();
    witness.#done = (async () => {
      while (!witness.#stop) {
        witness.posted++;
        try {
          await witness.#sender.send(`witness ${witness.posted}\n`);
        } catch (error) {
          // Counted as lost by stop(); the reason goes to the test output.
          console.log(`chat witness: sending failed: ${error}`);
          return;
        }
        await sleep(everyMs);
      }
    })();
    return witness;
  }

  /** Stops posting, waits for the last line to arrive (or 5 s), closes both. */
  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
    const last = this.posted;
    await within(
      new Promise<void>((resolve) => {
        this.#caughtUp = () => this.#expected > last && resolve();
        this.#caughtUp();
      }),
      5000,
    );
    this.lost += Math.max(0, this.posted - this.received - this.lost);
    this.#sender.close();
    this.#reader.close();
    await this.#reading;
    await this.#draining;
  }
}

/** Joins the chat as `name` over raw TCP; returns after the limits line. */
export async function joinChat(port: number, name: string, auth?: string): Promise<RawClient> {
  const client = await RawClient.tcp(port);
  if (auth !== undefined) equal(await client.auth(auth), "AUTH OK");
  const welcome = await client.readLine();
  ok(welcome?.startsWith("! Welcome"), `welcome: ${welcome}`);
  await client.send(name + "\n");
  const joined = await client.readLine();
  ok(joined?.startsWith(`! Joined as ${name}.`), `joined: ${joined}`);
  await client.readLine(); // ! Limits
  return client;
}

/** Sends UDP requests from 127.0.0.2 with retries; counts answers and losses. */
export async function udpWitness(
  port: number,
  count: number,
  expect: (reply: string) => boolean,
  payload: (i: number) => string = (i) => `witness ${i}`,
): Promise<{ answered: number; lost: number }> {
  using peer = new UdpFrom("127.0.0.2");
  let answered = 0;
  let lost = 0;
  for (let i = 0; i < count; i++) {
    let ok = false;
    for (let attempt = 0; attempt < 5 && !ok; attempt++) {
      const reply = await peer.request(port, payload(i), 500);
      ok = reply !== null && expect(reply);
    }
    if (ok) answered++;
    else lost++;
  }
  return { answered, lost };
}

/**
 * Checks that every service of `server` still answers correctly, end to end:
 * message TCP and UDP, chat between two members, info STATUS, and a file
 * round trip with its SHA-256. Returns the STATUS JSON.
 */
export async function checkHealthy(
  server: ServerProcess & { filesDir: string },
  labels: readonly string[] = ALL_LABELS,
): Promise<Record<string, unknown>> {
  const has = (label: string) => labels.includes(label);
  if (has(LABELS.tcp)) {
    using client = await RawClient.tcp(server.port(LABELS.tcp));
    equal(await client.request("health check"), ACK_TCP);
  }
  if (has(LABELS.udp)) {
    const { lost } = await udpWitness(server.port(LABELS.udp), 3, (r) => r === ACK_UDP);
    equal(lost, 0, "UDP message service answers");
  }
  if (has(LABELS.chat)) {
    using a = await joinChat(server.port(LABELS.chat), "healthA");
    using b = await joinChat(server.port(LABELS.chat), "healthB");
    await a.send("are you there\n");
    let line: string | null;
    do line = await b.readLine(); while (line !== null && !line.endsWith("healthA: are you there"));
    ok(line !== null, "chat delivers");
  }
  if (has(LABELS.files)) {
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    const local = await Deno.makeTempDir({ prefix: "socketkit-health-" });
    try {
      await Deno.writeFile(join(local, "health.bin"), bytes);
      const port = `--file-port=${server.port(LABELS.files)}`;
      const up = await runCli(
        ["connect", "upload", join(local, "health.bin"), "--force", port],
      );
      equal(up.code, 0, up.stderr);
      const down = await runCli(
        ["connect", "download", "health.bin", "--output", join(local, "back.bin"), port],
      );
      equal(down.code, 0, down.stderr);
      equal(sha256(await Deno.readFile(join(local, "back.bin"))), sha256(bytes));
    } finally {
      await Deno.remove(local, { recursive: true });
    }
  }
  let status: Record<string, unknown> = {};
  if (has(LABELS.info)) {
    using peer = new UdpFrom("127.0.0.2");
    const reply = await peer.request(server.port(LABELS.info), padded("STATUS JSON"));
    ok(reply !== null, "info answers");
    status = JSON.parse(reply);
  }
  const log = server.lines.join("\n");
  ok(
    !/Error with |Accept failed|Uncaught|Shutting down/.test(log),
    `unexpected in the log:\n${
      server.lines.filter((line) => /Error with |Accept failed|Uncaught|Shutting down/.test(line))
        .slice(0, 5).join("\n")
    }`,
  );
  const unsafe = server.lines.filter((line) => RAW_CONTROL.test(line));
  equal(unsafe.length, 0, `raw control characters in the log: ${JSON.stringify(unsafe[0])}`);
  return status;
}

/** Peak RSS of the server in MiB, asserting it stayed under `boundMb`. */
export async function checkMemory(server: ServerProcess, boundMb: number): Promise<number> {
  const peak = await peakRssMb(server.child.pid);
  ok(Number.isNaN(peak) || peak < boundMb, `server peak RSS ${peak.toFixed(0)} MiB >= ${boundMb}`);
  return peak;
}

/** Open file descriptors of a process (through ls: Deno reads /proc/<pid> only with -A). */
export async function openFds(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("ls", { args: [`/proc/${pid}/fd`], stderr: "null" })
    .output();
  return decodeLenient(stdout).split("\n").filter((line) => line !== "").length;
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Writes everything, ignoring a peer that went away. */
export async function sendQuiet(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    await writeAll(conn, bytes);
    return true;
  } catch {
    return false;
  }
}
