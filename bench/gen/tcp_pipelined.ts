/**
 * Load generator: many persistent TCP connections, each keeping `depth`
 * newline-terminated requests in flight. Every reply line frees a slot that is
 * refilled at once; replies that arrive in one read are answered with one
 * write from a preallocated buffer, so the generator spends its time in I/O,
 * not in allocation.
 */
import { Histogram } from "../_histogram.ts";
import {
  DEADLINE,
  deadline,
  describe,
  emptyResult,
  epochNow,
  measureOwnCpu,
  readConfig,
  report,
  type WindowConfig,
} from "./_common.ts";

/** Settings of this generator. */
export interface TcpPipelinedConfig extends WindowConfig {
  connections: number;
  /** Requests in flight per connection. */
  depth: number;
  /** One request, without its newline. */
  message: string;
}

const LF = 0x0a;

async function main(): Promise<void> {
  const config = readConfig<TcpPipelinedConfig>();
  const histogram = new Histogram();
  const result = emptyResult(config);
  const fail = (error: unknown) => {
    result.errors++;
    result.firstError ??= describe(error);
  };

  const request = new TextEncoder().encode(config.message + "\n");
  const burst = new Uint8Array(request.length * config.depth);
  for (let i = 0; i < config.depth; i++) burst.set(request, i * request.length);

  const hardStop = deadline(config.endAt + config.drainMs);
  const connected = await Promise.race([
    Promise.all(
      Array.from(
        { length: config.connections },
        () => Deno.connect({ hostname: config.hostname, port: config.port }),
      ),
    ),
    hardStop.reached,
  ]);
  if (connected === DEADLINE) throw new Error("Connections still pending at the hard stop");
  const conns = connected;
  for (const conn of conns) conn.setNoDelay(true);
  // Closing makes every pending read fail, so no worker outlives the hard stop.
  hardStop.reached.then(() => {
    for (const conn of conns) closeQuietly(conn);
  });
  const cpu = measureOwnCpu(config);

  async function worker(conn: Deno.TcpConn): Promise<void> {
    const sentAt = new Float64Array(config.depth); // ring of send times, oldest at `head`
    const buffer = new Uint8Array(64 * 1024);
    let head = 0;
    let tail = 0;
    let inFlight = 0;
    let now = epochNow();
    for (let i = 0; i < config.depth; i++) {
      sentAt[tail] = now;
      tail = (tail + 1) % config.depth;
    }
    inFlight = config.depth;
    await writeAll(conn, burst);
    while (inFlight > 0) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("The server closed the connection");
      now = epochNow();
      const counting = now >= config.startAt && now < config.endAt;
      const chunk = buffer.subarray(0, n);
      let replies = 0;
      for (let at = chunk.indexOf(LF); at !== -1; at = chunk.indexOf(LF, at + 1)) {
        replies++;
        if (counting) histogram.record((now - sentAt[head]!) * 1000);
        head = (head + 1) % config.depth;
      }
      if (counting) result.messages += replies;
      inFlight -= replies;
      if (replies > 0 && now < config.endAt) {
        for (let i = 0; i < replies; i++) {
          sentAt[tail] = now;
          tail = (tail + 1) % config.depth;
        }
        inFlight += replies;
        await writeAll(conn, burst.subarray(0, replies * request.length));
      }
    }
  }

  await Promise.all(conns.map((conn) => worker(conn).catch(fail)));
  hardStop.clear();
  for (const conn of conns) closeQuietly(conn);
  result.cpuMs = await cpu;
  result.latency = histogram.toJSON();
  report(result);
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

function closeQuietly(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

if (import.meta.main) await main();
