/**
 * Idle-connection holder: opens `connections` TCP connections (at most
 * `concurrency` connecting at once, so the listen backlog never overflows),
 * sends one line on each and reads its reply so the server has really taken
 * the connection on, prints one JSON line, then holds them open and silent
 * until its stdin closes or `holdMs` pass.
 */
import { DEADLINE, deadline, describe } from "./_common.ts";

/** Settings of this generator. */
export interface IdleConfig {
  hostname: string;
  port: number;
  connections: number;
  concurrency: number;
  /** Longest time to hold the connections, in ms. */
  holdMs: number;
}

/** What the holder prints once every connection is open. */
export interface IdleReady {
  open: number;
  errors: number;
  firstError?: string;
  /** Milliseconds from the first connect to the last reply. */
  openMs: number;
}

const LF = 0x0a;

async function main(): Promise<void> {
  const raw = Deno.args[0];
  if (raw === undefined) throw new Error("Missing the JSON settings argument");
  const config = JSON.parse(raw) as IdleConfig;
  const hold = deadline(Date.now() + config.holdMs);
  const request = new TextEncoder().encode("idle\n");
  const conns: Deno.TcpConn[] = [];
  const ready: IdleReady = { open: 0, errors: 0, openMs: 0 };
  const started = performance.now();
  let next = 0;

  async function opener(): Promise<void> {
    const buffer = new Uint8Array(256);
    while (next < config.connections) {
      next++;
      try {
        const conn = await Deno.connect({ hostname: config.hostname, port: config.port });
        conns.push(conn);
        await conn.write(request);
        let n: number | null = 0;
        do n = await conn.read(buffer); while (n !== null && !buffer.subarray(0, n).includes(LF));
        if (n === null) throw new Error("The server closed the connection");
        ready.open++;
      } catch (error) {
        ready.errors++;
        ready.firstError ??= describe(error);
      }
    }
  }

  const opening = Promise.all(Array.from({ length: config.concurrency }, () => opener()));
  if ((await Promise.race([opening, hold.reached])) !== DEADLINE) {
    ready.openMs = performance.now() - started;
    console.log(JSON.stringify(ready));
    // Hold until the runner closes our stdin (it has measured) or time runs out.
    const stdinClosed = (async () => {
      const buffer = new Uint8Array(64);
      while ((await Deno.stdin.read(buffer)) !== null) { /* ignore */ }
    })();
    await Promise.race([stdinClosed, hold.reached]);
  } else {
    console.log(JSON.stringify({ ...ready, firstError: ready.firstError ?? "Timed out opening" }));
  }
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
  Deno.exit(0);
}

if (import.meta.main) await main();
