/**
 * TcpService in process, on an injected clock and a 5 ms sweep: the idle and
 * request rules and the per-address cap, with no real time waited out.
 */
import { equal, match, ok } from "node:assert/strict";
import { Logger } from "../lib/base/logger.ts";
import { decodeLenient, encode } from "../lib/base/text.ts";
import { type TcpGate, TcpService, type TcpServiceOptions } from "../lib/net/tcp_service.ts";
import type { TrackedConn } from "../lib/net/tracked_conn.ts";

const LABEL = "[Test]";

/** A gate that lets everyone in, with a per-address cap. */
function openGate(maxConnsPerIp = 0): TcpGate {
  return {
    tls: null,
    maxConnsPerIp,
    tokenRequired: false,
    admit: () => true,
    handshake: () => Promise.resolve(true),
  };
}

/** A service on 127.0.0.1:0 whose clock moves only when the test says so. */
function start(options: Partial<TcpServiceOptions> & Pick<TcpServiceOptions, "handle">) {
  const lines: string[] = [];
  const log = new Logger({
    sink: {
      write(bytes) {
        lines.push(...decodeLenient(bytes).split("\n").filter((line) => line !== ""));
        return Promise.resolve(bytes.length);
      },
    },
  });
  const clock = { now: 0 };
  const service = TcpService.listen({
    label: LABEL,
    service: "test service",
    hostname: "127.0.0.1",
    port: 0,
    log,
    maxConnections: 16,
    idle: { ms: 0 },
    busyReply: "BUSY",
    perAddressReply: (cap) => `SHARE ${cap}`,
    gate: openGate(),
    now: () => clock.now,
    sweepEvery: 5,
    ...options,
  });
  return { service, clock, log, lines };
}

/** Reads until the server closes; returns what it sent. */
async function readToEnd(conn: Deno.Conn): Promise<string> {
  const chunks: string[] = [];
  const buffer = new Uint8Array(256);
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    chunks.push(decodeLenient(buffer.subarray(0, n)));
  }
  return chunks.join("");
}

/**
 * A handler that echoes every read (so the test knows it was seen) and marks
 * requests: bytes start one, an LF at the end of a read finishes it.
 */
async function echo(tracked: TrackedConn): Promise<void> {
  const buffer = new Uint8Array(256);
  try {
    for (let n = await tracked.conn.read(buffer); n !== null; n = await tracked.conn.read(buffer)) {
      tracked.touch();
      if (buffer[n - 1] === 0x0a) tracked.requestDone();
      else tracked.requestStarted();
      await tracked.conn.write(buffer.subarray(0, n));
    }
  } catch {
    // Closed by the sweep.
  }
}

/** Sends `text` and waits for its echo: the handler has seen it. */
async function say(conn: Deno.Conn, text: string): Promise<void> {
  await conn.write(encode(text));
  const buffer = new Uint8Array(256);
  let echoed = "";
  while (echoed.length < text.length) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`Closed before "${text}" was echoed`);
    echoed += decodeLenient(buffer.subarray(0, n));
  }
  equal(echoed, text);
}

const connect = (service: TcpService) =>
  Deno.connect({ hostname: "127.0.0.1", port: service.port });

// Each test closes one connection by moving the clock past its rule and
// awaits that close; a connection the same sweep left open must still echo.
// So nothing waits out real time, and "not too early" is checked as well.

Deno.test("tcp service: the idle rule closes a silent connection once the clock passes it", async () => {
  const { service, clock, log, lines } = start({ idle: { ms: 1000 }, handle: echo });
  try {
    using early = await connect(service);
    await say(early, "a\n");
    clock.now = 500;
    using late = await connect(service);
    await say(late, "b\n");
    clock.now = 1001;
    equal(await readToEnd(early), "");
    await say(late, "still open, 501 ms after its open\n");
    clock.now = 2002; // its last activity was at 1001
    equal(await readToEnd(late), "");
    await log.flush();
    ok(lines.some((line) => /^\[Test\] Closing idle connection from 127\.0\.0\.1:\d+$/.test(line)));
  } finally {
    await service.stop();
  }
});

Deno.test("tcp service: activity postpones the idle rule", async () => {
  const { service, clock } = start({ idle: { ms: 100 }, handle: echo });
  try {
    using active = await connect(service);
    using silent = await connect(service);
    await say(silent, "x\n");
    clock.now = 90;
    await say(active, "still here\n");
    clock.now = 150;
    equal(await readToEnd(silent), "");
    await say(active, "60 ms after my last line\n");
    clock.now = 251;
    equal(await readToEnd(active), "");
  } finally {
    await service.stop();
  }
});

Deno.test("tcp service: the request rule cuts off a line trickled past it, however often bytes come", async () => {
  const { service, clock, log, lines } = start({
    idle: { ms: 10_000 },
    request: { ms: 500 },
    handle: echo,
  });
  try {
    using trickle = await connect(service);
    using whole = await connect(service);
    for (const at of [0, 200, 400]) {
      clock.now = at;
      await say(trickle, "x");
      await say(whole, "a line\n");
    }
    await say(whole, "y");
    clock.now = 501;
    equal(await readToEnd(trickle), "");
    await say(whole, "started at 400\n");
    await log.flush();
    ok(lines.some((line) => /a request took longer than 500 ms$/.test(line)), lines.join("\n"));
  } finally {
    await service.stop();
  }
});

Deno.test("tcp service: one address holds at most --max-conns-per-ip; the next is told why", async () => {
  let firstEnded!: () => void;
  const ended = new Promise<void>((resolve) => (firstEnded = resolve));
  const { service } = start({
    gate: openGate(1),
    handle: (tracked) => echo(tracked).finally(firstEnded),
  });
  try {
    using first = await connect(service);
    await say(first, "in\n");
    using second = await connect(service);
    match(await readToEnd(second), /^SHARE 1: --max-conns-per-ip\n$/);
    first.close();
    // The slot is given back as the handler's end settles, before the next accept.
    await ended;
    using third = await connect(service);
    await say(third, "in again\n");
  } finally {
    await service.stop();
  }
});
