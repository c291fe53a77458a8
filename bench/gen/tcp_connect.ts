/**
 * Load generator in the original client's pattern: connect, send one line,
 * read the reply line, close; `workers` of these loops run at once. Latency is
 * measured from the connect call to the reply, so it includes the handshake.
 * With `newline: false` it sends the message as the original client did,
 * without a newline, and a reply is `expect` bytes (or what came before the
 * server's close).
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
export interface TcpConnectConfig extends WindowConfig {
  /** Connect-send-read-close loops running at once. */
  workers: number;
  /** The request, without its newline. */
  message: string;
  /** Send a newline after the message (default true). */
  newline?: boolean;
  /** Reply bytes that complete an exchange; default: a line (up to its LF). */
  expect?: number;
}

const LF = 0x0a;

async function main(): Promise<void> {
  const config = readConfig<TcpConnectConfig>();
  const histogram = new Histogram();
  const result = emptyResult(config);
  const request = new TextEncoder().encode(config.message + (config.newline === false ? "" : "\n"));
  const expect = config.expect;
  const open = new Set<Deno.TcpConn>();
  const hardStop = deadline(config.endAt + config.drainMs);
  hardStop.reached.then(() => {
    for (const conn of open) closeQuietly(conn);
  });
  const cpu = measureOwnCpu(config);

  async function exchange(buffer: Uint8Array): Promise<void> {
    const conn = await Promise.race([
      Deno.connect({ hostname: config.hostname, port: config.port }),
      hardStop.reached,
    ]);
    if (conn === DEADLINE) throw new Error("Connect still pending at the hard stop");
    open.add(conn);
    try {
      for (let written = 0; written < request.length;) {
        written += await conn.write(request.subarray(written));
      }
      let got = 0;
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) {
          if (expect !== undefined && got > 0) return; // the server's close ends the reply
          throw new Error("The server closed the connection before replying");
        }
        got += n;
        if (expect === undefined ? buffer.subarray(0, n).includes(LF) : got >= expect) return;
      }
    } finally {
      open.delete(conn);
      closeQuietly(conn);
    }
  }

  async function worker(): Promise<void> {
    const buffer = new Uint8Array(4096);
    // Bounded by the window: no new exchange starts after endAt, and the hard
    // stop ends one that hangs.
    while (epochNow() < config.endAt) {
      const start = epochNow();
      try {
        await exchange(buffer);
      } catch (error) {
        result.errors++;
        result.firstError ??= describe(error);
        if (epochNow() >= config.endAt) return;
        continue;
      }
      const end = epochNow();
      if (end >= config.startAt && end < config.endAt) {
        result.messages++;
        histogram.record((end - start) * 1000);
      }
    }
  }

  await Promise.all(Array.from({ length: config.workers }, () => worker()));
  hardStop.clear();
  result.cpuMs = await cpu;
  result.latency = histogram.toJSON();
  report(result);
}

function closeQuietly(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

if (import.meta.main) await main();
