/**
 * Message mode never lies and never hangs: a server's bytes are escaped, a
 * reply that is not this protocol is an error, a silent server times out,
 * and UDP that nobody answers ends with exit 1 (at once where the client can
 * hear the host's "port unreachable").
 */
import { doesNotMatch, equal, match, ok } from "node:assert/strict";
import { hasCommand, runCli, runInPtySteps } from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";
import { makeTestCerts } from "./_security.ts";
import { closedUdpPort, fakeServer } from "./_fake_peers.ts";

Deno.test("message mode: control characters in a reply are escaped, never sent to the terminal", async () => {
  const reply = new TextEncoder().encode(
    "[TCP Server] \x1b[31mred\x1b]0;owned title\x07 \u202eevil\r\n",
  );
  await fakeServer(reply, async (port) => {
    const result = await runCli(["connect", "--tcp", `--tcp-port=${port}`], "hi\n");
    equal(result.code, 0, result.stderr);
    // deno-lint-ignore no-control-regex
    ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(result.stdout.replace(/\n$/, "")), "no raw controls");
    equal(
      result.stdout.trim(),
      "[TCP Client] Server responded: [TCP Server] \\x1b[31mred\\x1b]0;owned title\\x07 \\u202eevil",
    );
  });
});

Deno.test("message mode: a TLS server's alert is an error with exit 1 and a hint, not a reply", async () => {
  // What a TLS server sends to a client that speaks plain text: an alert record.
  await fakeServer(new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]), async (port) => {
    const result = await runCli(["connect", "--tcp", `--tcp-port=${port}`], "hi\n");
    equal(result.code, 1);
    equal(result.stdout, "");
    match(
      result.stderr,
      /^error: 127\.0\.0\.1:\d+ answered "\\x15\\x03\\x03\\x00\\x02\\x022", which is not a reply of the TCP message service: the server speaks TLS: add --tls/,
    );
  });
});

Deno.test({
  name:
    "message mode: a real TLS server without --tls is exit 1 with the hint; with --tls it works",
  ignore: !(await hasCommand("openssl")),
  async fn() {
    const certs = (await makeTestCerts())!;
    try {
      await using server = await InProcessServer.start(
        ["--services=message", "--tls-cert", certs.cert, "--tls-key", certs.key],
        ["[TCP Server]"],
      );
      const port = `--tcp-port=${server.port("[TCP Server]")}`;
      const plain = await runCli(["connect", "--tcp", port], "hi\n");
      equal(plain.code, 1);
      equal(plain.stdout, "");
      match(
        plain.stderr,
        /^error: .*not a reply of the TCP message service: the server speaks TLS: add --tls/,
      );
      const tls = await runCli(["connect", "--tcp", port, "--ca", certs.ca], "hi\n");
      equal(tls.code, 0, tls.stderr);
      equal(
        tls.stdout.trim(),
        "[TCP Client] Server responded: [TCP Server] Your message was received!",
      );
    } finally {
      await Deno.remove(certs.dir, { recursive: true });
    }
  },
});

Deno.test("message mode: pointed at the chat port or a UDP service that is not it, exit 1 naming the port", async () => {
  await using server = await InProcessServer.start(
    ["--services=chat,info"],
    ["[Chat Server]", "[Info Server]"],
  );
  const tcp = await runCli(
    ["connect", "--tcp", `--tcp-port=${server.port("[Chat Server]")}`],
    "hi\n",
  );
  equal(tcp.code, 1);
  match(
    tcp.stderr,
    /answered "! Welcome to socketkit chat.*not a reply of the TCP message service: wrong port \(--tcp-port\)/,
  );
  const udp = await runCli(
    ["connect", "--udp", `--udp-port=${server.port("[Info Server]")}`],
    "hi\n",
  );
  equal(udp.code, 1);
  match(
    udp.stderr,
    /answered "ERROR unknown command.*not a reply of the UDP message service: wrong port \(--udp-port\)\?/,
  );
});

Deno.test("message mode: without --allow-ffi, UDP that never gets a reply still ends with exit 1", async () => {
  const result = await runCli(
    ["connect", "--udp", `--udp-port=${closedUdpPort()}`, "--timeout=100ms", "--retries=0"],
    "one\ntwo\n",
  );
  equal(result.code, 1);
  equal(result.stdout.trim().split("\n").length, 2, "each line reported as it went");
  match(
    result.stderr,
    /^error: No reply ever came from 127\.0\.0\.1:\d+ over UDP \(2 messages, 1 try each\)/,
  );
  doesNotMatch(result.stderr, /\n\s+at /);
});

Deno.test({
  name: "menu, message entry: says how to get back, asks before exit, Ctrl-C returns to the menu",
  // The pseudo-terminal comes from python3's pty module.
  ignore: !(await hasCommand("python3")),
  async fn() {
    await using server = await InProcessServer.start();
    const prompt = "\\(Ctrl-D or Ctrl-C: back to the menu; 'exit' stops the server\\): ";
    const result = await runInPtySteps(
      [
        "connect",
        `--tcp-port=${server.port("[TCP Server]")}`,
        `--udp-port=${server.port("[UDP Server]")}`,
      ],
      [
        ["Choose 1-7: ", "1\n"],
        [prompt, "hello\n"],
        [`Server responded: [^\\n]*\\n[\\s\\S]*${prompt}`, "exit\n"],
        ["Send it\\? \\[y/N\\] ", "n\n"],
        [`Not sent; the server keeps running[\\s\\S]*${prompt}`, "\x03"],
        ["Interrupted; back to the menu[\\s\\S]*Choose 1-7: ", "1\n"],
        [prompt, "exit\n"],
        ["Send it\\? \\[y/N\\] ", "y\n"],
      ],
    );
    ok(result !== null);
    const output = result.output.replaceAll("\r\n", "\n");
    equal(result.code, 0, output);
    match(output, /Server shutting down\.\.\.[\s\S]*The server was stopped; leaving the menu\n/);
    equal((await server.exited()).code, 0);
  },
});

Deno.test({
  name:
    "menu: Ctrl-D in the message entry, at an entry's question and at chat's name returns to the menu",
  // The pseudo-terminal comes from python3's pty module.
  ignore: !(await hasCommand("python3")),
  async fn() {
    await using server = await InProcessServer.start([], [
      "[TCP Server]",
      "[UDP Server]",
      "[Chat Server]",
    ]);
    const prompt = "\\(Ctrl-D or Ctrl-C: back to the menu; 'exit' stops the server\\): ";
    const result = await runInPtySteps(
      [
        "connect",
        `--tcp-port=${server.port("[TCP Server]")}`,
        `--udp-port=${server.port("[UDP Server]")}`,
        `--chat-port=${server.port("[Chat Server]")}`,
      ],
      [
        ["Choose 1-7: ", "1\n"],
        [prompt, "\x04"],
        ["Back to the menu\\r?\\n[\\s\\S]*Choose 1-7: ", "5\n"],
        ["File to upload: ", "\x04"],
        ["Back to the menu\\r?\\n[\\s\\S]*Choose 1-7: ", "2\n"],
        ["Your name: ", "\x04"],
        ["left the chat\\r?\\n[\\s\\S]*Choose 1-7: ", "7\n"],
      ],
    );
    ok(result !== null);
    const output = result.output.replaceAll("\r\n", "\n");
    equal(result.code, 0, output);
    // Each Ctrl-D leaves its prompt's line, then the menu is shown again.
    match(output, new RegExp(`${prompt}\\nBack to the menu\\n\\nsocketkit`));
    match(output, /File to upload: \nBack to the menu\n\nsocketkit/);
    match(output, /Your name: \nerror: No name given; left the chat\n\nsocketkit/);
    match(output, /Choose 1-7: 7\n/);
  },
});

Deno.test("message mode: a message too large for one UDP datagram says so and suggests --tcp", async () => {
  await using server = await InProcessServer.start(["--services=message"], ["[UDP Server]"]);
  const result = await runCli(
    ["connect", "--udp", `--udp-port=${server.port("[UDP Server]")}`],
    "a".repeat(70_000) + "\n",
  );
  equal(result.code, 1);
  equal(
    result.stderr.trim(),
    "error: Cannot send to 127.0.0.1:" + server.port("[UDP Server]") +
      ": the message is 70,000 bytes, larger than one UDP datagram can carry (65,507 bytes):" +
      " send it with --tcp",
  );
});
