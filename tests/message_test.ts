import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import {
  LineClient,
  portBelowEphemeral,
  type ProcessOptions,
  runCli,
  tcpPortClosed,
  udpRequest,
} from "./_helpers.ts";
import { ENGINE_RUNS } from "./_udp_engines.ts";
import { InProcessServer, NO_EXIT_GRACE } from "./_in_process.ts";

const ACK_TCP = "[TCP Server] Your message was received!";
const ACK_UDP = "[UDP Server] Your message was received!";

Deno.test("tcp message: a reply for a message sent without a newline", async () => {
  await using server = await InProcessServer.start();
  using client = await LineClient.connect(server.port("[TCP Server]"));
  await client.send("Hello"); // the original client: sendall(b"Hello"); recv(1024)
  equal(await client.readLine(), ACK_TCP);
  await server.waitFor(/^\[TCP Server\] Received from 127\.0\.0\.1:\d+: Hello$/);
});

Deno.test("tcp message: many lines on one connection, LF and CRLF, each acknowledged", async () => {
  await using server = await InProcessServer.start();
  using client = await LineClient.connect(server.port("[TCP Server]"));
  await client.send("one\ntwo\r\nthree\n");
  deepStrictEqual(
    [await client.readLine(), await client.readLine(), await client.readLine()],
    [ACK_TCP, ACK_TCP, ACK_TCP],
  );
  await server.waitFor(/Received from .*: three$/);
});

for (const { engine, args, options, skip } of ENGINE_RUNS) {
  Deno.test({
    name: `udp message (${engine} engine): each datagram gets the reply datagram`,
    ignore: skip !== null,
    async fn() {
      await using server = await InProcessServer.start(args, undefined, options);
      equal(await udpRequest(server.port("[UDP Server]"), "Hello"), ACK_UDP);
      await server.waitFor(/^\[UDP Server\] Received from 127\.0\.0\.1:\d+: Hello$/);
    },
  });
}

// The one in-process exit over one transport that waits out the real grace
// (EXIT_GRACE_MS); the others take NO_EXIT_GRACE.
Deno.test("tcp message: exit stops every service, frees the ports and exits 0", async () => {
  await using server = await InProcessServer.start([`--tcp-port=${portBelowEphemeral()}`]);
  const tcp = server.port("[TCP Server]");
  using client = await LineClient.connect(tcp);
  equal(await client.request("  EXIT "), "[TCP Server] Server shutting down...");
  const { code } = await server.exited();
  equal(code, 0);
  ok(server.lines.includes("[Server] All services stopped."));
  ok(await tcpPortClosed(tcp));
  match(server.lines.join("\n"), /Shutting down \(exit from 127\.0\.0\.1:\d+ over TCP\)/);
});

Deno.test("cli: connection refused is one line and exit 1", async () => {
  const result = await runCli(["connect", "--tcp", "--tcp-port", "1"], "hello\n");
  equal(result.code, 1);
  equal(
    result.stderr.trim(),
    "error: Cannot connect to 127.0.0.1:1 (connection refused): is socketkit serve running?",
  );
});

Deno.test("tcp message: a half-close ends the pending message and still gets its reply", async () => {
  await using server = await InProcessServer.start(["--flush-delay", "10s"]);
  using client = await LineClient.connect(server.port("[TCP Server]"));
  await client.send("no newline, then FIN");
  await client.conn.closeWrite();
  equal(await client.readLine(), ACK_TCP);
  equal(await client.readLine(), null);
});

for (const { engine, args, options, skip } of ENGINE_RUNS) {
  Deno.test({
    name: `udp message (${engine} engine): exit over UDP stops every service and exits 0`,
    ignore: skip !== null,
    async fn() {
      await using server = await InProcessServer.start(
        [...args, `--tcp-port=${portBelowEphemeral()}`],
        undefined,
        options,
        NO_EXIT_GRACE,
      );
      const tcp = server.port("[TCP Server]");
      using idle = await LineClient.connect(tcp);
      equal(
        await udpRequest(server.port("[UDP Server]"), "exit"),
        "[UDP Server] Server shutting down...",
      );
      equal((await server.exited()).code, 0);
      equal(await idle.readLine(), null, "open connections are closed");
      ok(await tcpPortClosed(tcp));
      equal(server.lines.at(-1), "[Server] All services stopped.");
    },
  });
}

Deno.test("exit: refused under --exit-from none, over both transports, and the server runs on", async () => {
  await using server = await InProcessServer.start(["--exit-from", "none"]);
  using client = await LineClient.connect(server.port("[TCP Server]"));
  const refusal = "Refusing exit: this server does not accept exit (--exit-from none)";
  equal(await client.request("exit"), `[TCP Server] ${refusal}`);
  // Padded as connect pads it: a bare "Exit" gets the short form (3x rule, docs/security.md).
  equal(
    await udpRequest(server.port("[UDP Server]"), "Exit".padEnd(64)),
    `[UDP Server] ${refusal}`,
  );
  equal(await client.request("still here?"), ACK_TCP);
  equal(await udpRequest(server.port("[UDP Server]"), "yes"), ACK_UDP);
});

Deno.test("exit: --exit-from local accepts a loopback peer", async () => {
  await using server = await InProcessServer.start(
    ["--exit-from", "local"],
    undefined,
    {},
    NO_EXIT_GRACE,
  );
  equal(
    await udpRequest(server.port("[UDP Server]"), "exit"),
    "[UDP Server] Server shutting down...",
  );
  equal((await server.exited()).code, 0);
});

Deno.test("tcp message: a 1 MiB line gets an error, the rest is discarded, the connection stays usable", async () => {
  await using server = await InProcessServer.start();
  using client = await LineClient.connect(server.port("[TCP Server]"));
  await client.send("x".repeat(1024 * 1024) + "\nafter\n");
  equal(
    await client.readLine(),
    "[TCP Server] Error: message too long (over 65536 bytes); it was discarded",
  );
  equal(await client.readLine(), ACK_TCP, "the next line is a message again");
  await server.waitFor(/Received from .*: after$/);
});

Deno.test("tcp message: --max-message is configurable", async () => {
  await using server = await InProcessServer.start(["--max-message", "8"]);
  using client = await LineClient.connect(server.port("[TCP Server]"));
  equal(await client.request("12345678"), ACK_TCP);
  match((await client.request("123456789"))!, /message too long \(over 8 bytes\)/);
  match(
    (await udpRequest(server.port("[UDP Server]"), "123456789"))!,
    /^\[UDP Server\] Error: message too long/,
  );
});

Deno.test("tcp message: invalid UTF-8 and escape sequences are acknowledged and logged harmlessly", async () => {
  await using server = await InProcessServer.start();
  using client = await LineClient.connect(server.port("[TCP Server]"));
  await client.send(new Uint8Array([0xff, 0xfe, 0x1b, 0x5b, 0x32, 0x4a, 0x0a])); // junk + ESC[2J
  equal(await client.readLine(), ACK_TCP);
  const logged = await server.waitFor(/Received from .*: \uFFFD\uFFFD/);
  ok(logged.includes("\\x1b[2J") && !logged.includes("\x1b"), logged);
});

for (const { engine, args, options, skip } of ENGINE_RUNS) {
  Deno.test({
    name:
      `udp message (${engine} engine): empty, 65,507-byte and non-UTF-8 datagrams are answered and the service goes on`,
    ignore: skip !== null,
    async fn() {
      await using server = await InProcessServer.start(args, undefined, options);
      const udp = server.port("[UDP Server]");
      equal(await udpRequest(udp, new Uint8Array(0)), ACK_UDP);
      // The largest UDP payload over IPv4: read whole, not cut.
      equal(await udpRequest(udp, new Uint8Array(65_507).fill(0x41)), ACK_UDP);
      equal(await udpRequest(udp, new Uint8Array([0xc3, 0x28, 0xff])), ACK_UDP);
      equal(await udpRequest(udp, "still fine"), ACK_UDP);
      await server.waitFor(/\[UDP Server\] Received from .*: A{200}\.\.\. \(65507 bytes\)$/);
    },
  });
}

Deno.test("tcp message: many clients at once each get their own replies", async () => {
  await using server = await InProcessServer.start();
  const port = server.port("[TCP Server]");
  const clients = await Promise.all(Array.from({ length: 20 }, () => LineClient.connect(port)));
  try {
    const replies = await Promise.all(clients.map(async (client, i) => {
      const out = [];
      for (let n = 0; n < 5; n++) out.push(await client.request(`client ${i} line ${n}`));
      return out;
    }));
    deepStrictEqual(replies.flat(), Array(100).fill(ACK_TCP));
  } finally {
    for (const client of clients) client.close();
  }
});

Deno.test("tcp message: over --max-conns a client is told and closed; the others are unaffected", async () => {
  await using server = await InProcessServer.start(["--max-conns", "2", "--max-conns-per-ip", "0"]);
  const port = server.port("[TCP Server]");
  using first = await LineClient.connect(port);
  using second = await LineClient.connect(port);
  equal(await first.request("a"), ACK_TCP);
  equal(await second.request("b"), ACK_TCP);
  using third = await LineClient.connect(port);
  equal(await third.readLine(), "[TCP Server] Error: too many connections (2); try again later");
  equal(await third.readLine(), null);
  equal(await first.request("c"), ACK_TCP);
});

Deno.test("tcp message: an idle connection is closed after --idle-timeout; an active one is not", async () => {
  await using server = await InProcessServer.start(["--idle-timeout", "300ms"]);
  const port = server.port("[TCP Server]");
  using idle = await LineClient.connect(port);
  using active = await LineClient.connect(port);
  const closed = idle.readLine(5000);
  // Keep one connection busy while the other stays silent past the timeout.
  while (await within(closed, 50) === TIMED_OUT) equal(await active.request("ping"), ACK_TCP);
  equal(await closed, null);
  equal(await active.request("still served"), ACK_TCP);
  await server.waitFor(/Closing idle connection from/);
});

for (const { engine, args, options, skip } of ENGINE_RUNS) {
  Deno.test({
    name:
      `serve (${engine} engine): a port in use is one clear line, exit 1, and nothing is left listening`,
    ignore: skip !== null,
    fn: () => portInUse(args, options),
  });
}

async function portInUse(engineArgs: string[], options: ProcessOptions): Promise<void> {
  const blocker = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const busy = (blocker.addr as Deno.NetAddr).port;
  try {
    // Find a free TCP port to ask for, so we can check it was released again.
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const tcp = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const result = await runCli(
      [
        "serve",
        "--services=message",
        `--tcp-port=${tcp}`,
        `--udp-port=${busy}`,
        ...engineArgs,
      ],
      undefined,
      options,
    );
    equal(result.code, 1);
    equal(
      result.stderr.trim(),
      `error: Cannot listen on 127.0.0.1:${busy} for the UDP message service: the port is in use`,
    );
    equal(result.stdout, "", "no Listening line for a server that did not start");
    ok(await tcpPortClosed(tcp), "the TCP service bound first was closed again");
  } finally {
    blocker.close();
  }
}
