/**
 * Load generator for bench/scenarios/chat.ts: holds many chat members in one
 * process, records when each timestamped line arrives, and prints one JSON
 * result line. Not part of the CLI.
 *
 *   deno run --allow-net chat_members.ts MODE PORT COUNT PREFIX EXPECT DEADLINE_MS
 *
 * MODE "chat" joins through the socketkit chat handshake (names PREFIX0..);
 * MODE "bare" waits for the bare broadcast server's "ok" line; MODE "web" joins
 * over a WebSocket (ws://127.0.0.1:PORT/chat, PORT the web port), one JSON
 * object per frame. Prints "ready"
 * once every member is in, then ends when each member has received EXPECT
 * timestamped lines, when stdin says "stop" or closes, or after DEADLINE_MS.
 */
import process from "node:process";
import { latencyHistogram } from "./_chat_latency.ts";

const [mode, portText, countText, prefix, expectText, deadlineText] = Deno.args;
const port = Number(portText);
const count = Number(countText);
const expect = Number(expectText);
const deadline = performance.now() + Number(deadlineText);
const histogram = latencyHistogram();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

let received = 0;
let firstAt = Infinity;
let lastAt = 0;
let done = 0;
let finish!: () => void;
const finished = new Promise<void>((resolve) => (finish = resolve));
const conns: { close(): void }[] = [];

/** Counts one timestamped line that arrived at `now`. */
function arrived(line: string, now: number): boolean {
  const at = line.indexOf("t=");
  if (at < 0) return false;
  const sent = Number(line.slice(at + 2, line.indexOf(" ", at)));
  histogram.add(now - sent);
  received++;
  if (now < firstAt) firstAt = now;
  if (now > lastAt) lastAt = now;
  return true;
}

/** One member over a WebSocket: the first frame is its name; each frame in is one JSON object. */
function wsMember(index: number, joined: () => void): Promise<void> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/chat`);
  conns.push(socket);
  let mine = 0;
  let isIn = false;
  socket.onopen = () => socket.send(`${prefix}${index}`);
  socket.onmessage = (event) => {
    const now = performance.timeOrigin + performance.now();
    const frame = String(event.data);
    if (!isIn) {
      if (frame.includes('"text":"Joined as ')) {
        isIn = true;
        joined();
      }
      return;
    }
    if (arrived(frame, now) && ++mine === expect && ++done === count) finish();
  };
  return new Promise((resolve) => {
    socket.onclose = () => resolve();
    socket.onerror = () => resolve();
  });
}

/** One member: reads until closed; resolves `joined` on its welcome/join line. */
async function member(index: number, joined: () => void): Promise<void> {
  if (mode === "web") return await wsMember(index, joined);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conns.push(conn);
  if (mode === "chat") await conn.write(encoder.encode(`${prefix}${index}\n`));
  const ready = mode === "chat" ? "! Joined as " : "ok";
  const buffer = new Uint8Array(16 * 1024);
  let rest = "";
  let mine = 0;
  let isIn = false;
  while (true) {
    let n: number | null;
    try {
      n = await conn.read(buffer);
    } catch {
      return;
    }
    if (n === null) return;
    const now = performance.timeOrigin + performance.now();
    const lines = (rest + decoder.decode(buffer.subarray(0, n))).split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      if (!isIn) {
        if (line.startsWith(ready)) {
          isIn = true;
          joined();
        }
        continue;
      }
      if (arrived(line, now) && ++mine === expect && ++done === count) finish();
    }
  }
}

const joinBy = setTimeout(() => {
  console.error(`not every member joined in ${deadlineText} ms`);
  Deno.exit(1);
}, Number(deadlineText));
const readers: Promise<void>[] = [];
// Connect in batches so the listen backlog never overflows.
for (let first = 0; first < count; first += 100) {
  const batch: Promise<void>[] = [];
  for (let i = first; i < Math.min(count, first + 100); i++) {
    batch.push(
      new Promise<void>((resolve, reject) => {
        // Ending before the join line means the server refused this member.
        const closedEarly = () => reject(new Error(`member ${i} closed before joining`));
        readers.push(member(i, resolve).then(closedEarly, reject));
      }),
    );
  }
  await Promise.all(batch);
}
clearTimeout(joinBy);
// CPU and time are counted from here: the measured part, not the joining.
const started = performance.now();
const cpuStart = process.cpuUsage();
console.log("ready");

// stdin: "stop" or EOF ends the run early.
const stdinDone = (async () => {
  const buffer = new Uint8Array(64);
  while ((await Deno.stdin.read(buffer)) !== null) {
    if (decoder.decode(buffer).includes("stop")) return;
  }
})();
let timer: ReturnType<typeof setTimeout> | undefined;
await Promise.race([
  finished,
  stdinDone,
  new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline - performance.now()))),
]);
clearTimeout(timer);
const cpu = process.cpuUsage(cpuStart);
const elapsedMs = performance.now() - started;
for (const conn of conns) {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
await Promise.allSettled(readers);
console.log(JSON.stringify({
  received,
  complete: done === count,
  firstAt,
  lastAt,
  histogram: histogram.counts,
  cpuMs: (cpu.user + cpu.system) / 1000,
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
  elapsedMs,
}));
Deno.exit(0);
