import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { LineClient, runCli, ServerProcess, tcpPortClosed, udpRequest } from "./_helpers.ts";

const ACK_TCP = "[TCP Server] Your message was received!";
const ACK_UDP = "[UDP Server] Your message was received!";

Deno.test("tcp message: a reply for a message sent without a newline", async () => {
  await using server = await ServerProcess.start();
  using client = await LineClient.connect(server.port("[TCP Server]"));
  await client.send("Hello"); // the original client: sendall(b"Hello"); recv(1024)
  equal(await client.readLine(), ACK_TCP);
  await server.waitFor(/^\[TCP Server\] Received from 127\.0\.0\.1:\d+: Hello$/);
});

Deno.test("tcp message: many lines on one connection, LF and CRLF, each acknowledged", async () => {
  await using server = await ServerProcess.start();
  using client = await LineClient.connect(server.port("[TCP Server]"));
  await client.send("one\ntwo\r\nthree\n");
  deepStrictEqual(
    [await client.readLine(), await client.readLine(), await client.readLine()],
    [ACK_TCP, ACK_TCP, ACK_TCP],
  );
  await server.waitFor(/Received from .*: three$/);
});

Deno.test("udp message: each datagram gets the reply datagram", async () => {
  await using server = await ServerProcess.start();
  equal(await udpRequest(server.port("[UDP Server]"), "Hello"), ACK_UDP);
  await server.waitFor(/^\[UDP Server\] Received from 127\.0\.0\.1:\d+: Hello$/);
});

Deno.test("tcp message: exit stops every service, frees the ports and exits 0", async () => {
  await using server = await ServerProcess.start();
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
