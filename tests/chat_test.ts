import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { within } from "../lib/base/deadline.ts";
import { encode } from "../lib/base/text.ts";
import { hasCommand, LineClient, RUN_ARGS, runCli, ServerProcess } from "./_helpers.ts";
import { LABEL, startChat, TIME } from "./_chat.ts";
import { Member } from "./_chat_member.ts";

Deno.test("chat: join and leave notices, and each line reaches the others naming its sender", async () => {
  await using server = await startChat();
  const port = server.port(LABEL);
  using alice = await Member.join(port, "alice");
  using bob = await Member.join(port, "bob");
  equal(await alice.next(), "* bob joined");
  await server.waitFor(/^\[Chat Server\] bob joined from 127\.0\.0\.1:\d+$/);

  await bob.send("hello everyone");
  match((await alice.next())!, new RegExp(`^${TIME} bob: hello everyone$`));
  await alice.send("hi bob\r"); // CRLF works too
  match((await bob.next())!, new RegExp(`^${TIME} alice: hi bob$`));
  await server.waitFor(/^\[Chat Server\] #lobby alice: hi bob$/);

  await bob.send("/quit");
  equal(await bob.next(), "! Goodbye");
  equal(await bob.next(), null);
  equal(await alice.next(), "* bob left");
  await server.waitFor(/^\[Chat Server\] bob left$/);
});

Deno.test("chat: a member that disconnects without /quit is announced as left", async () => {
  await using server = await startChat();
  const port = server.port(LABEL);
  using alice = await Member.join(port, "alice");
  const carol = await Member.join(port, "carol");
  equal(await alice.next(), "* carol joined");
  carol.client.close();
  equal(await alice.next(), "* carol left");
});

Deno.test("chat: a newcomer receives the last --chat-history messages", async () => {
  await using server = await startChat(["--chat-history", "3"]);
  const port = server.port(LABEL);
  using alice = await Member.join(port, "alice");
  for (let i = 1; i <= 4; i++) await alice.send(`message ${i}`);
  await alice.send("/me stretches");
  await server.waitFor(/\* alice stretches$/);
  using carol = await Member.join(port, "carol");
  equal(await carol.next(), "! The last 3 messages:");
  match((await carol.next())!, new RegExp(`^${TIME} alice: message 3$`));
  match((await carol.next())!, new RegExp(`^${TIME} alice: message 4$`));
  match((await carol.next())!, new RegExp(`^${TIME} \\* alice stretches$`));
  equal(await alice.next(), "* carol joined");
});

Deno.test("chat: /users, /me, /name, /help, // and an unknown command", async () => {
  await using server = await startChat();
  const port = server.port(LABEL);
  using alice = await Member.join(port, "alice");
  using bob = await Member.join(port, "Bob");
  await alice.next(); // * Bob joined

  await alice.send("/users");
  equal(await alice.next(), "! 2 here: alice, Bob");
  await alice.send("/me waves");
  match((await bob.next())!, new RegExp(`^${TIME} \\* alice waves$`));
  await alice.send("/me");
  equal(await alice.next(), "! Usage: /me ACTION, e.g. /me waves");

  await alice.send("/name bob"); // names are unique whatever their case
  equal(await alice.next(), '! The name "bob" is taken.');
  await alice.send("/name not valid");
  equal(await alice.next(), '! Invalid name "not valid": use 1-32 letters, digits, _ - or .');
  await alice.send("/name alicia");
  equal(await alice.next(), "! You are now known as alicia");
  equal(await bob.next(), "* alice is now known as alicia");
  await alice.send("hello");
  match((await bob.next())!, new RegExp(`^${TIME} alicia: hello$`));

  await alice.send("//slashes are fine");
  match((await bob.next())!, new RegExp(`^${TIME} alicia: /slashes are fine$`));
  await alice.send("/dance now");
  equal(await alice.next(), '! Unknown command "/dance"; type /help for the commands');
  await alice.send("/help");
  const { before } = await alice.until(/^! A line starting with \/\/ /);
  equal(before[0], "! Commands:");
  ok(before.some((line) => line.includes("/users")));
});

Deno.test("chat: a taken or invalid name is refused and asked for again", async () => {
  await using server = await startChat();
  const port = server.port(LABEL);
  using alice = await Member.join(port, "alice");
  using other = await Member.connect(port);
  await other.send("ALICE");
  equal(await other.next(), '! The name "ALICE" is taken. Enter your name:');
  await other.send("two words");
  equal(
    await other.next(),
    '! Invalid name "two words": use 1-32 letters, digits, _ - or . Enter your name:',
  );
  await other.send("\x1b[2Jx");
  equal(
    await other.next(),
    '! Invalid name "\\x1b[2Jx": use 1-32 letters, digits, _ - or . Enter your name:',
  );
  await other.send("a".repeat(50));
  match((await other.next())!, /^! Invalid name "a+\.\.\.": /);
  await other.send("alice_2");
  match((await other.next())!, /^! Joined as alice_2\. 2 here: alice, alice_2$/);
  equal(await alice.next(), "* alice_2 joined");
});

Deno.test("chat: an over-long line is refused with a notice and the connection stays usable", async () => {
  await using server = await startChat(["--chat-max-line", "100"]);
  const port = server.port(LABEL);
  using alice = await Member.join(port, "alice");
  using bob = await Member.join(port, "bob");
  await alice.next();
  await bob.send("x".repeat(5000));
  equal(await bob.next(), "! Line too long (over 100 bytes); it was not sent");
  await bob.send("short");
  match((await alice.next())!, new RegExp(`^${TIME} bob: short$`));
});

Deno.test("chat: invalid UTF-8, controls and escape sequences are neutralised", async () => {
  await using server = await startChat();
  const port = server.port(LABEL);
  using alice = await Member.join(port, "alice");
  using mallory = await Member.join(port, "mallory");
  await alice.next();
  const evil = new Uint8Array([
    ...encode("a "),
    0xff,
    0xfe,
    ...encode(" \x1b[2J\x1b]0;pwned\x07 \u009b31m \u202eevil\rx"),
    0x0a,
  ]);
  await mallory.send(evil);
  const line = await alice.next();
  match(line!, new RegExp(`^${TIME} mallory: `));
  ok(line!.endsWith("a \ufffd\ufffd \\x1b[2J\\x1b]0;pwned\\x07 \\x9b31m \\u202eevil\\x0dx"), line!);
});

Deno.test("chat: a member over --chat-rate is told once and its extra lines are dropped", async () => {
  await using server = await startChat([
    "--chat-rate",
    "1",
    "--chat-burst",
    "3",
    "--chat-max-line",
    "100",
  ]);
  const port = server.port(LABEL);
  using alice = await Member.join(port, "alice");
  using flood = await Member.join(port, "flood");
  using carol = await Member.join(port, "carol");
  await alice.until(/^\* carol joined$/);
  await flood.until(/^\* carol joined$/);
  const lines = Array.from({ length: 10 }, (_, i) => `flood ${i + 1}\n`).join("");
  // The over-long line is answered whatever the rate, so its notice marks the
  // point where every flood line has been handled.
  await flood.send(lines + "y".repeat(200) + "\n");
  match((await flood.next())!, /^! Slow down: over 1 lines per second \(bursts of 3\)/);
  equal(await flood.next(), "! Line too long (over 100 bytes); it was not sent");
  await carol.send("marker");
  const { before } = await alice.until(/carol: marker$/);
  deepStrictEqual(before.map((line) => line.replace(/^\S+ /, "")), [
    "flood: flood 1",
    "flood: flood 2",
    "flood: flood 3",
  ]);
});

Deno.test("chat: a member that never reads is dropped; the others still get everything", async () => {
  // A process of its own: the test reads the server's peak memory through its pid.
  await using server = await ServerProcess.start([
    "--services",
    "chat",
    "--chat-rate",
    "0",
    "--chat-max-line",
    "1024",
    "--chat-buffer",
    "64KiB",
  ], [LABEL]);
  const port = server.port(LABEL);
  using reader = await Member.join(port, "reader");
  using _stuck = await Member.join(port, "stuck"); // never reads from here on
  using flood = await Member.join(port, "flood");
  await reader.until(/^\* flood joined$/);

  const payload = "z".repeat(1000);
  const perChunk = 256;
  let sent = 0;
  let dropped = false;
  // Lock-step chunks: the reader keeps up, the stuck member's kernel buffers
  // fill, then its 64 KiB queue overflows and it is dropped.
  for (let chunk = 0; chunk < 100 && !dropped; chunk++) {
    const lines = [];
    for (let i = 0; i < perChunk; i++) lines.push(`${++sent} ${payload}\n`);
    await flood.send(lines.join(""));
    for (let i = sent - perChunk + 1; i <= sent; i++) {
      const line = (await reader.next())!;
      if (line === "* stuck left (disconnected: not reading)") {
        dropped = true;
        i--;
        continue;
      }
      match(line, new RegExp(`^${TIME} flood: ${i} z+$`));
    }
  }
  ok(dropped, `stuck member not dropped after ${sent} lines`);
  await server.waitFor(/^\[Chat Server\] Dropping stuck \(127\.0\.0\.1:\d+\): \d+ bytes queued/);
  // Through cat: Deno grants /proc/<pid> reads only with --allow-all.
  const { stdout } = await new Deno.Command("cat", { args: [`/proc/${server.child.pid}/status`] })
    .output();
  const status = new TextDecoder().decode(stdout);
  const peakMb = Number(status.match(/^VmHWM:\s+(\d+) kB/m)![1]) / 1024;
  ok(peakMb < 250, `server peak RSS ${peakMb} MB`);
  await reader.send("/users");
  equal(await reader.until(/^! \d+ here:/).then((r) => r.line), "! 2 here: flood, reader");
});

Deno.test("chat: shutdown sends every connection a notice before closing it", async () => {
  await using server = await startChat();
  const port = server.port(LABEL);
  using alice = await Member.join(port, "alice");
  using bob = await Member.join(port, "bob");
  using unnamed = await Member.connect(port);
  await alice.next();
  const { code } = await server.stop();
  equal(code, 0);
  for (const member of [alice, bob, unnamed]) {
    equal(await member.until(/^\* Server/).then((r) => r.line), "* Server shutting down; goodbye");
    equal(await member.next(), null);
  }
});

Deno.test("chat: replies to lines sent before a half-close still arrive", async () => {
  await using server = await startChat();
  using client = await LineClient.connect(server.port(LABEL));
  await client.send("alice\n/users");
  await client.conn.closeWrite();
  const lines: string[] = [];
  for (let line = await client.readLine(); line !== null; line = await client.readLine()) {
    lines.push(line);
  }
  equal(lines.at(-1), "! 1 here: alice");
});

Deno.test("connect chat: posts piped lines, leaves with /quit at end of input and exits 0", async () => {
  await using server = await startChat();
  const port = server.port(LABEL);
  using alice = await Member.join(port, "alice");
  const input = Array.from({ length: 25 }, (_, i) => `line ${i + 1}`).join("\n") +
    "\n/me waves\n";
  const result = await runCli(
    ["connect", "chat", "--name", "bot", "--chat-port", String(port)],
    input,
  );
  equal(result.code, 0, result.stderr);
  match(result.stdout, /^! Joined as bot\. 2 here: alice, bot$/m);
  equal(await alice.next(), "* bot joined");
  const { before } = await alice.until(/^\* bot left$/);
  // 25 lines exceed the default burst of 20: the client paces itself, none is lost.
  deepStrictEqual(before.map((line) => line.replace(/^\S+ /, "")), [
    ...Array.from({ length: 25 }, (_, i) => `bot: line ${i + 1}`),
    "* bot waves",
  ]);
});

Deno.test("connect chat: a server that is not there is one line and exit 1", async () => {
  const result = await runCli(["connect", "chat", "--name", "x", "--chat-port", "1"], "hi\n");
  equal(result.code, 1);
  equal(
    result.stderr.trim(),
    "error: Cannot connect to 127.0.0.1:1 (connection refused): is socketkit serve running?",
  );
});

Deno.test("connect chat: a taken name exits 1, a missing or invalid one exits 2", async () => {
  await using server = await startChat();
  const port = String(server.port(LABEL));
  using _alice = await Member.join(Number(port), "alice");
  const taken = await runCli(["connect", "chat", "--name", "alice", "--chat-port", port], "hi\n");
  equal(taken.code, 1);
  equal(
    taken.stderr.trim(),
    'error: Cannot join as "alice": The name "alice" is taken. Enter your name:',
  );
  const missing = await runCli(["connect", "chat", "--chat-port", port], "hi\n");
  equal(missing.code, 2);
  match(missing.stderr, /^error: Give a name with --name/);
  const invalid = await runCli(["connect", "chat", "--name", "a b", "--chat-port", port], "");
  equal(invalid.code, 2);
  match(invalid.stderr, /^error: Invalid value "a b" for --name/);
});

Deno.test({
  name: "connect chat on a terminal: an incoming line does not garble the line being typed",
  ignore: !(await hasCommand("script")),
  async fn() {
    await using server = await startChat();
    const port = server.port(LABEL);
    using alice = await Member.join(port, "alice");
    // script(1) runs the client on a pseudo-terminal, so raw mode is real.
    const command = [Deno.execPath(), ...RUN_ARGS, "connect", "chat", "--name", "tty"]
      .concat(["--chat-port", String(port)]).map((arg) => `'${arg}'`).join(" ");
    const child = new Deno.Command("script", {
      args: ["-qfec", command, "/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const stdin = child.stdin.getWriter();
    let screen = "";
    let changed = () => {};
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        screen += decoder.decode(chunk, { stream: true });
        changed();
      }
    })();
    // Waits (bounded) for the screen output to match, woken by each chunk the pty sends.
    const waitScreen = async (pattern: RegExp) => {
      const matched = (async () => {
        while (!pattern.test(screen)) await new Promise<void>((resolve) => (changed = resolve));
      })();
      await within(matched, 5000);
      match(screen, pattern);
    };
    try {
      equal(await alice.next(), "* tty joined");
      await waitScreen(/tty> $/);
      await stdin.write(encode("hel"));
      // deno-lint-ignore no-control-regex
      await waitScreen(/\r\x1b\[2Ktty> hel$/);
      await alice.send("interrupting");
      // The input row is cleared, the line printed, then the prompt and the
      // typed text redrawn below it (the pty may turn \n into \r\n).
      await waitScreen(
        // deno-lint-ignore no-control-regex
        /\r\x1b\[2K\[\d\d:\d\d:\d\d\] alice: interrupting\r+\n\r\x1b\[2Ktty> hel$/,
      );
      await stdin.write(encode("lo\x1b[A!\x7f\r"));
      match((await alice.next())!, new RegExp(`^${TIME} tty: hello$`));
      await stdin.write(encode("\x03")); // Ctrl-C leaves with /quit
      equal(await alice.next(), "* tty left");
      equal((await child.status).code, 0);
    } finally {
      await stdin.close().catch(() => {});
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await child.status;
      await reading;
    }
  },
});
