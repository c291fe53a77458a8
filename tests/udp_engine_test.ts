/**
 * The UDP engines in-process, over real loopback sockets: both move
 * datagrams in order over IPv4 and IPv6, answer with one send per batch, take
 * the largest datagram whole, report a reply that cannot go and send the
 * rest, and close without leaking their socket or worker (sanitizers are on).
 * The batch engine also lets the event loop run during a flood, and keeps
 * working once the FFI permission is given up (in a child process: a revoke
 * cannot be undone).
 */
import { deepStrictEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import { decodeLenient, encode } from "../lib/base/text.ts";
import { formatIPv6 } from "../lib/net/_udp_libc.ts";
import { BatchEngineError, BatchUdpEngine } from "../lib/net/udp_batch_engine.ts";
import { DenoUdpEngine } from "../lib/net/udp_deno_engine.ts";
import {
  type Datagram,
  DeferredStarts,
  type UdpEngine,
  type UdpEngineOptions,
} from "../lib/net/udp_engine.ts";
import { padded, ROOT, runCli, udpRequest } from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";

const linux = Deno.build.os === "linux";
if (!linux) console.log(`skipping the batch engine's tests: it needs Linux (${Deno.build.os})`);

const ENGINES = [
  {
    name: "deno",
    ignore: false,
    open: (host: string, o?: UdpEngineOptions) => Promise.resolve(DenoUdpEngine.open(host, 0, o)),
  },
  {
    name: "batch",
    ignore: !linux,
    open: (host: string, o?: UdpEngineOptions) => BatchUdpEngine.open(host, 0, o),
  },
] as const;

async function bounded<T>(promise: Promise<T>, what: string, ms = 5000): Promise<T> {
  const result = await within(promise, ms);
  if (result === TIMED_OUT) throw new Error(`timed out: ${what}`);
  return result;
}

/** Receives until `count` datagrams came (in as many batches as it takes), copying each. */
async function receiveAll(engine: UdpEngine, count: number): Promise<Datagram[]> {
  const got: Datagram[] = [];
  while (got.length < count) {
    const batch = await bounded(engine.receive(), `datagram ${got.length + 1} of ${count}`);
    ok(batch !== null && batch.length >= 1, "a batch holds a datagram at least");
    for (const { data, from } of batch) got.push({ data: data.slice(), from });
  }
  return got;
}

for (const { name, ignore, open } of ENGINES) {
  for (const host of ["127.0.0.1", "::1"]) {
    Deno.test({
      name: `udp engine (${name}): a burst in order over ${host}, one send for every reply`,
      ignore,
      async fn() {
        const engine = await open(host);
        const client = Deno.listenDatagram({ transport: "udp", hostname: host, port: 0 });
        try {
          equal(engine.kind, name);
          equal(engine.addr.hostname, host);
          ok(engine.addr.port > 0, "port 0 is resolved");
          const count = 200;
          for (let i = 0; i < count; i++) await client.send(encode(`hello ${i}`), engine.addr);
          const got = await receiveAll(engine, count);
          deepStrictEqual(
            got.map((d) => decodeLenient(d.data)),
            Array.from({ length: count }, (_, i) => `hello ${i}`),
          );
          const mine = client.addr as Deno.NetAddr;
          for (const { from } of got) deepStrictEqual({ ...from }, { ...mine });
          await engine.send(got.map((d, i) => ({ data: encode(`reply ${i}`), to: d.from })));
          const buffer = new Uint8Array(1024);
          for (let i = 0; i < count; i++) {
            const [bytes] = await bounded(client.receive(buffer), `reply ${i}`);
            equal(decodeLenient(bytes), `reply ${i}`);
          }
          // A destination the engine did not make: a plain object.
          await engine.send([{ data: encode("direct"), to: { ...mine } }]);
          equal(decodeLenient((await bounded(client.receive(buffer), "direct"))[0]), "direct");
        } finally {
          client.close();
          await engine.close();
        }
      },
    });
  }

  Deno.test({
    name:
      `udp engine (${name}): the largest datagram whole, then the next; a reply that cannot go is reported, the rest go`,
    ignore,
    async fn() {
      const failed: string[] = [];
      const engine = await open("127.0.0.1", {
        onSendError: (to, error) => failed.push(`${to.hostname}: ${error.message}`),
      });
      const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      try {
        const big = new Uint8Array(65_507).map((_, i) => i & 255); // the IPv4 maximum
        await client.send(big, engine.addr);
        await client.send(encode("after"), engine.addr);
        const [first, second] = await receiveAll(engine, 2);
        deepStrictEqual(first!.data, big);
        equal(decodeLenient(second!.data), "after");
        // Port 0 is no destination: the kernel refuses that one (EINVAL).
        const refused = { transport: "udp" as const, hostname: "127.0.0.1", port: 0 };
        await engine.send([
          { data: encode("nope"), to: refused },
          { data: big, to: first!.from },
        ]);
        const [bytes] = await bounded(client.receive(new Uint8Array(65_536)), "big reply");
        equal(bytes.length, 65_507);
        equal(failed.length, 1, failed.join("; "));
        match(failed[0]!, /^127\.0\.0\.1: /);
      } finally {
        client.close();
        await engine.close();
      }
    },
  });

  Deno.test({
    name: `udp engine (${name}): a port in use is Deno.errors.AddrInUse`,
    ignore,
    async fn() {
      const holder = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      try {
        const port = (holder.addr as Deno.NetAddr).port;
        if (name === "deno") {
          throws(() => DenoUdpEngine.open("127.0.0.1", port), Deno.errors.AddrInUse);
        } else {
          await rejects(BatchUdpEngine.open("127.0.0.1", port), Deno.errors.AddrInUse);
        }
      } finally {
        holder.close();
      }
    },
  });
}

Deno.test({
  name: "udp engine (batch): close() ends a pending receive at once and closes the socket",
  ignore: !linux,
  async fn() {
    const engine = await BatchUdpEngine.open("127.0.0.1", 0);
    const fd = engine.stats().fd;
    const socket = fdTarget(fd);
    ok(socket?.startsWith("socket:"), "the socket is open");
    const pending = engine.receive(); // nothing to read: the worker waits in poll()
    equal(await within(pending, 50), TIMED_OUT);
    await bounded(engine.close(), "close", 1500);
    equal(await bounded(pending, "the pending receive"), null);
    equal(engine.stats().fd, -1);
    // Test files run in parallel in this process: the number may be reused at
    // once, so the check is that it no longer names this socket.
    ok(fdTarget(fd) !== socket, "the socket is closed");
    equal(await engine.receive(), null);
    await rejects(engine.send([{ data: encode("x"), to: engine.addr }]), Deno.errors.BadResource);
    await engine.close(); // again: nothing happens
  },
});

Deno.test({
  name:
    "udp engine (batch): with DeferredStarts open binds at once; a datagram that came before the worker is received once run() started it",
  ignore: !linux,
  async fn() {
    const deferred = new DeferredStarts();
    const engine = await BatchUdpEngine.open("127.0.0.1", 0, { deferred });
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const pending = engine.receive(); // nothing queued yet, and no worker to wait with
      await client.send(encode("early"), engine.addr);
      await bounded(deferred.run(), "the deferred worker start");
      const batch = await bounded(pending, "the early datagram");
      equal(decodeLenient(batch![0]!.data), "early");
      equal(deferred.defer(() => Promise.resolve()), false, "after run(), a start is not kept");
    } finally {
      client.close();
      await engine.close();
    }
  },
});

Deno.test({
  name: "udp engine (batch): an engine closed before its deferred start never starts a worker",
  ignore: !linux,
  async fn() {
    const deferred = new DeferredStarts();
    const engine = await BatchUdpEngine.open("127.0.0.1", 0, { deferred });
    await bounded(engine.close(), "close without a worker", 1500);
    await bounded(deferred.run(), "run after the close");
    equal(await engine.receive(), null);
  },
});

Deno.test("DeferredStarts: run() runs every start and rejects with the first failure", async () => {
  const deferred = new DeferredStarts();
  const ran: string[] = [];
  deferred.defer(() => Promise.reject(new Error("first")).finally(() => ran.push("a")));
  deferred.defer(async () => {
    await Promise.resolve();
    ran.push("b");
  });
  await rejects(deferred.run(), /first/);
  deepStrictEqual(ran.sort(), ["a", "b"]);
  equal(deferred.defer(() => Promise.resolve()), false);
});

Deno.test({
  name: "udp engine (batch): during a flood the other sockets are still polled",
  ignore: !linux,
  async fn() {
    const engine = await BatchUdpEngine.open("127.0.0.1", 0);
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    // Other I/O meanwhile: a datagram going back and forth between two
    // sockets of Deno's own, each hop seen only when the event loop polls.
    let hops = 0;
    let flooding = true;
    const payload = encode("flood");
    const ping = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const pong = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const bounce = async (from: Deno.DatagramConn, to: Deno.DatagramConn) => {
      try {
        while (flooding) {
          await from.receive();
          hops++;
          await from.send(payload, to.addr);
        }
      } catch {
        // closed at the end
      }
    };
    const other = Promise.all([bounce(ping, pong), bounce(pong, ping)]);
    await ping.send(payload, pong.addr);
    try {
      const count = 5000;
      for (let i = 0; i < count; i++) await client.send(payload, engine.addr);
      // A slow service (10 µs a datagram): the backlog keeps the engine
      // reading for 50 ms or more without ever finding the socket empty.
      const before = hops;
      let received = 0;
      while (received < count) {
        const batch = await bounded(engine.receive(), `datagram ${received + 1} of ${count}`);
        ok(batch !== null);
        received += batch.length;
        const until = performance.now() + batch.length * 0.01;
        while (performance.now() < until) {
          // busy, as a service would be
        }
      }
      // A poll every 5 ms of reading: about ten here.
      ok(hops - before >= 3, `the other sockets were polled ${hops - before} times`);
      ok(engine.stats().pauses >= 3, JSON.stringify(engine.stats()));
    } finally {
      flooding = false;
      ping.close();
      pong.close();
      await other;
      client.close();
      await engine.close();
    }
  },
});

Deno.test({
  name: "udp engine (batch): keeps working once the FFI permission is given up",
  ignore: !linux,
  async fn() {
    const script = fileURLToPath(new URL("./_udp_engine_revoked.ts", import.meta.url));
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--unstable-net", "--allow-net", "--allow-read", "--allow-ffi", script],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = decodeLenient(output.stderr);
    equal(output.code, 0, stderr);
    equal(
      decodeLenient(output.stdout).trim(),
      "ffi revoked; replies sent; refused replies reported",
    );
  },
});

Deno.test({
  name: "udp engine (batch): a host name that is not an address is a BatchEngineError",
  ignore: !linux,
  async fn() {
    await rejects(BatchUdpEngine.open("example.invalid", 0), BatchEngineError);
  },
});

Deno.test("serve: --udp-engine batch where it cannot run is one line and exit 1; auto falls back to deno", async () => {
  // The tests' server gets no --allow-ffi.
  const result = await runCli(["serve", "--services=message", "--udp-engine=batch"]);
  equal(result.code, 1);
  equal(
    result.stderr.trim(),
    "error: --udp-engine batch cannot run here: FFI is not permitted (run with --allow-ffi)",
  );
  equal(result.stdout, "");
  await using server = await InProcessServer.start(["--services", "message,info"], [
    "[TCP Server]",
    "[UDP Server]",
    "[Info Server]",
  ]);
  match((await udpRequest(server.port("[Info Server]"), padded("STATUS")))!, /\(deno engine\)/);
  await using batch = await InProcessServer.start(["--services", "message,info"], [
    "[TCP Server]",
    "[UDP Server]",
    "[Info Server]",
  ], { denoArgs: ["--allow-ffi"] });
  const status = (await udpRequest(batch.port("[Info Server]"), padded("STATUS")))!;
  // With FFI, auto takes the batch engine for both UDP services (on Linux).
  const engine = linux ? "batch" : "deno";
  for (const label of ["\\[UDP Server\\]", "\\[Info Server\\]"]) {
    match(
      status,
      new RegExp(`^service: ${label} udp 127\\.0\\.0\\.1:\\d+ \\(${engine} engine\\)$`, "m"),
    );
  }
});

Deno.test("udp engine (batch): IPv6 addresses are written the way Deno writes them", () => {
  const bytes = (hex: string) => Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
  equal(formatIPv6(bytes("00000000000000000000000000000001"), 0), "::1");
  equal(formatIPv6(bytes("00000000000000000000000000000000"), 0), "::");
  equal(formatIPv6(bytes("fe800000000000000000000000000001"), 0), "fe80::1");
  equal(formatIPv6(bytes("20010db8000000010000000000000001"), 0), "2001:db8:0:1::1");
  equal(formatIPv6(bytes("20010db8000000000001000000000001"), 0), "2001:db8::1:0:0:1");
  equal(formatIPv6(bytes("00000000000000000000ffff7f000001"), 0), "::ffff:127.0.0.1");
});

/** Whether `fd` is an open descriptor of this process (fcntl F_GETFD). */
/**
 * What descriptor `fd` of this process refers to ("socket:[123]"), or null
 * when it is not open. Read through libc: Deno asks for every permission to
 * read /proc/self, and the tests run with some.
 */
function fdTarget(fd: number): string | null {
  const lib = Deno.dlopen(
    "libc.so.6",
    { readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" } } as const,
  );
  try {
    const path = new TextEncoder().encode(`/proc/self/fd/${fd}\0`);
    const target = new Uint8Array(256);
    const n = Number(lib.symbols.readlink(path, target, BigInt(target.length)));
    return n < 0 ? null : new TextDecoder().decode(target.subarray(0, n));
  } finally {
    lib.close();
  }
}
