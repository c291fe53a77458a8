/**
 * How the TCP message service cuts a connection into messages (--framing),
 * and `exit` as the original client sends it, over real sockets through the
 * real CLI: the original client's message answered at once, without a
 * newline, and closed; a netcat user's lines unchanged; `exit` over both
 * transports answered in either order; `printf exit | nc -N` stopping the
 * server.
 */
import { deepStrictEqual, equal, match } from "node:assert/strict";
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import { writeAll } from "../lib/base/io.ts";
import { decodeLenient, encode } from "../lib/base/text.ts";
import { hasCommand, LineClient, runCli, udpRequest } from "./_helpers.ts";
import { InProcessServer, NO_EXIT_GRACE } from "./_in_process.ts";

const ACK = "[TCP Server] Your message was received!";
const BYE_TCP = "[TCP Server] Server shutting down...";
const BYE_UDP = "[UDP Server] Server shutting down...";

/** Sends `message` on a new connection (no newline added) and reads every byte until the close. */
async function original(port: number, message: string, ms = 5000): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, encode(message));
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(1024);
    const deadline = Date.now() + ms;
    while (true) {
      const n = await within(conn.read(buffer), Math.max(1, deadline - Date.now()));
      if (n === TIMED_OUT) throw new Error(`no close within ${ms} ms`);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    return chunks.map((chunk) => decodeLenient(chunk)).join("");
  } finally {
    conn.close();
  }
}

Deno.test("tcp message (auto): the original client's message is answered at once, without a newline, and closed", async () => {
  // A flush delay the test would notice: the answer must not wait for it
  // (original() fails when the close does not come within 5 s).
  await using server = await InProcessServer.start(["--flush-delay", "30s"]);
  equal(await original(server.port("[TCP Server]"), "Hello"), ACK);
  await server.waitFor(/^\[TCP Server\] Received from 127\.0\.0\.1:\d+: Hello$/);
});

Deno.test("tcp message (auto): a netcat user's line split by a pause is still one message", async () => {
  await using server = await InProcessServer.start();
  using client = await LineClient.connect(server.port("[TCP Server]"));
  equal(await client.request("first line"), ACK);
  await client.send("sec");
  await new Promise((resolve) => setTimeout(resolve, 50)); // the pause is the point
  await client.send("ond\n");
  equal(await client.readLine(), ACK);
  equal(await client.request("third"), ACK, "no reply was left over for 'sec'");
  await client.conn.closeWrite();
  equal(await client.readLine(), null);
  await server.waitFor(/: third$/);
  deepStrictEqual(
    server.lines.filter((line) => line.includes("Received from")).map((line) =>
      line.split(": ")[1]
    ),
    ["first line", "second", "third"],
  );
});

Deno.test("tcp message (auto): a first read of more than 1024 bytes without a newline is a line", async () => {
  await using server = await InProcessServer.start();
  using client = await LineClient.connect(server.port("[TCP Server]"));
  await client.send("x".repeat(2000));
  await client.conn.closeWrite();
  equal(await client.readLine(), ACK); // with its newline: a line connection
  equal(await client.readLine(), null);
  await server.waitFor(/: x{200}\.\.\. \(2000 bytes\)$/);
});

Deno.test("tcp message (--framing raw): LFs in the read still split it; replies without newlines", async () => {
  await using server = await InProcessServer.start(["--framing", "raw"]);
  equal(await original(server.port("[TCP Server]"), "one\ntwo\n"), ACK + ACK);
  equal(await original(server.port("[TCP Server]"), "a\r\nb"), ACK + ACK);
});

Deno.test("tcp message (--framing line): a message without newline waits for --flush-delay, its reply has the newline", async () => {
  await using server = await InProcessServer.start(["--framing", "line", "--flush-delay", "100ms"]);
  using client = await LineClient.connect(server.port("[TCP Server]"));
  await client.send("Hello");
  equal(await client.readLine(), ACK);
  equal(await client.request("still open"), ACK);
});

Deno.test("serve: --framing and --udp-engine take only their values (exit 2, naming the flag)", async () => {
  for (const flag of ["--framing", "--udp-engine"]) {
    const result = await runCli(["serve", flag, "sometimes"]);
    equal(result.code, 2);
    match(result.stderr, new RegExp(`Invalid value "sometimes" for ${flag}: expected one of`));
  }
});

for (const first of ["tcp", "udp"] as const) {
  Deno.test(`exit: the original client's exit over ${first} first, then the other, gets both replies`, async () => {
    await using server = await InProcessServer.start();
    const tcp = () => original(server.port("[TCP Server]"), "exit");
    const udp = () => udpRequest(server.port("[UDP Server]"), "exit", 5000);
    const replies = first === "tcp" ? [await tcp(), await udp()] : [await udp(), await tcp()];
    deepStrictEqual(replies, first === "tcp" ? [BYE_TCP, BYE_UDP] : [BYE_UDP, BYE_TCP]);
    // Both had their exit: the server stops without waiting out the grace period.
    equal((await server.exited()).code, 0);
    match(
      server.lines.join("\n"),
      new RegExp(`Shutting down \\(exit from 127\\.0\\.0\\.1:\\d+ over ${first.toUpperCase()}\\)`),
    );
  });
}

const nc = await hasCommand("nc");
if (!nc) console.log("skipping the 'printf exit | nc -N' test: nc is not installed");

Deno.test({
  name: "exit: printf exit | nc -N stops the server (--exit-from local)",
  ignore: !nc,
  async fn() {
    await using server = await InProcessServer.start(undefined, undefined, {}, NO_EXIT_GRACE);
    const child = new Deno.Command("nc", {
      args: ["-N", "127.0.0.1", String(server.port("[TCP Server]"))],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(encode("exit"));
    await writer.close();
    const output = await child.output();
    equal(decodeLenient(output.stdout), BYE_TCP);
    equal((await server.exited()).code, 0);
  },
});
