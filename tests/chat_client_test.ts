/**
 * `connect chat` as a user meets it: reconnecting across a server restart,
 * a port that never greets, Ctrl-C and SIGTERM at every stage, mentions and
 * the bell on a pseudo-terminal, and --json for programs.
 */
import { deepStrictEqual, doesNotMatch, equal, match, ok } from "node:assert/strict";
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import { encode } from "../lib/base/text.ts";
import { RawClient, TOKEN, writeSecretFile } from "./_security.ts";
import {
  hasCommand,
  type ProcessOptions,
  runArgs,
  runCli,
  runInPtySteps,
  type TestServer,
} from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";
import { join, LABEL, startChat, TIME, until } from "./_chat.ts";

const HAS_PYTHON = await hasCommand("python3");

/** `connect chat` with piped stdin we write to, and stdout/stderr collected. */
class ChatChild implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #stdout: Promise<string>;
  #stderr: Promise<string>;

  constructor(args: string[], options: ProcessOptions = {}) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: [...runArgs(options), "connect", "chat", ...args],
      ...(options.env ? { env: options.env } : {}),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.child.stdin.getWriter();
    this.#stdout = new Response(this.child.stdout).text();
    this.#stderr = new Response(this.child.stderr).text();
  }

  async type(text: string): Promise<void> {
    await this.#stdin.write(encode(text));
  }

  /** Closes stdin and waits (bounded) for the exit. */
  async end(ms = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
    await this.#stdin.close().catch(() => {});
    return await this.exited(ms);
  }

  async exited(ms = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
    const status = await within(this.child.status, ms);
    if (status === TIMED_OUT) throw new Error(`connect chat still running after ${ms} ms`);
    return { code: status.code, stdout: await this.#stdout, stderr: await this.#stderr };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.#stdin.close().catch(() => {});
    await this.child.status;
    await this.#stdout;
    await this.#stderr;
  }
}

Deno.test("connect chat: across a server restart it re-sends the token, rejoins its room and carries on; a kick ends it", async () => {
  const dir = await Deno.makeTempDir();
  const tokenFile = await writeSecretFile(dir, "token", TOKEN);
  const first = await startChat(["--token-file", tokenFile]);
  const port = first.port(LABEL);
  await using client = new ChatChild(
    ["--name", "bob", "--room", "games", "--chat-port", String(port)],
    { env: { SOCKETKIT_TOKEN: TOKEN }, denoArgs: ["--allow-env=SOCKETKIT_TOKEN"] },
  );
  let second: TestServer | null = null;
  try {
    using alice = await join(port, "alice", TOKEN);
    equal(await alice.request("/join #games"), "! Joined #games. 1 here: alice");
    await until(alice, /^\* bob joined$/);
    await client.type("before the restart\n");
    await until(alice, new RegExp(`^${TIME} bob: before the restart$`));
    await first.stop();
    second = await startChat([`--chat-port=${port}`, "--token-file", tokenFile]);
    using carol = await join(port, "carol", TOKEN);
    // However the two race, carol ends up in #games with bob there.
    const joined = await carol.request("/join #games");
    if (joined !== "! Joined #games. 2 here: bob, carol") {
      equal(joined, "! Joined #games. 1 here: carol");
      await until(carol, /^\* bob joined$/);
    }
    await client.type("after the restart\n");
    await until(carol, new RegExp(`^${TIME} bob: after the restart$`));
    // carol presented the token: an operator. A kicked client does not come back.
    await carol.send("/kick bob bye\n");
    const result = await client.exited();
    equal(result.code, 1, result.stderr);
    match(result.stderr, /-- The server is shutting down; reconnecting\n/);
    equal(result.stderr.match(/-- Reconnected as bob\n/g)?.length, 1, result.stderr);
    match(result.stderr, /\nerror: You were kicked by carol: bye\n$/);
    await until(carol, /^\* bob left \(kicked by carol: bye\)$/);
  } finally {
    await first[Symbol.asyncDispose]();
    await second?.[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("connect chat: when its name is still taken after a drop it rejoins as NAME_2", async () => {
  // A scripted server: the first connection drops after the join; on the second,
  // "bob" is taken (the server has not noticed the old one gone).
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using client = new ChatChild(
    ["--name", "bob", "--room", "den", "--chat-port", String(listener.addr.port)],
  );
  const greet = async (conn: Deno.Conn) => {
    const peer = new RawClient(conn);
    await peer.send("! Welcome (0 members online). Enter your name:\n");
    return peer;
  };
  {
    using first = await greet(await listener.accept());
    equal(await first.readLine(), "bob");
    await first.send(
      "! Joined as bob. 1 here: bob\n! Limits: lines up to 4096 bytes; no rate limit.\n",
    );
    equal(await first.readLine(), "/join #den");
    await first.send("! Joined #den. 1 here: bob\n");
  }
  using second = await greet(await listener.accept());
  equal(await second.readLine(), "bob");
  await second.send('! The name "bob" is taken. Enter your name:\n');
  equal(await second.readLine(), "bob_2");
  await second.send(
    "! Joined as bob_2. 2 here: bob, bob_2\n! Limits: lines up to 4096 bytes; no rate limit.\n",
  );
  equal(await second.readLine(), "/join #den", "back to its room");
  await second.send("! Joined #den. 1 here: bob_2\n");
  await client.type("still here\n");
  equal(await second.readLine(), "still here");
  const done = client.end();
  equal(await second.readLine(), "/quit");
  second.close();
  const result = await done;
  equal(result.code, 0, result.stderr);
  match(result.stderr, /-- Lost the connection; reconnecting\n/);
  match(result.stderr, /-- Reconnected as bob_2\n/);
});

Deno.test("connect chat --no-reconnect: a server shutdown ends it with exit 0 and no error", async () => {
  await using server = await startChat();
  const port = server.port(LABEL);
  await using client = new ChatChild([
    "--name",
    "bob",
    "--no-reconnect",
    "--chat-port",
    String(port),
  ]);
  using alice = await join(port, "alice");
  await until(alice, /^\* bob joined$/);
  await server.stop();
  const result = await client.exited();
  equal(result.code, 0, result.stderr);
  equal(result.stderr, "");
  match(result.stdout, /^\* Server shutting down; goodbye$/m);
});

Deno.test("connect chat: SIGTERM while waiting for the greeting ends it at once", async () => {
  // A listener that accepts and never speaks, like a TLS server or the file port.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // With an hour to greet, only the signal can end it, and only at once gives 143
  // (the greeting's timeout would be exit 1 with an error).
  await using client = new ChatChild(
    ["--name", "x", "--connect-timeout", "1h", "--chat-port", String(listener.addr.port)],
  );
  using _conn = await listener.accept();
  client.child.kill("SIGTERM");
  const result = await client.exited();
  equal(result.code, 143);
  equal(result.stderr, "");
});

Deno.test({
  name:
    "connect chat on a terminal: a port that never greets times out with a hint; Ctrl-C ends any stage",
  ignore: !HAS_PYTHON,
  async fn() {
    await using server = await InProcessServer.start(
      ["--services", "chat,files"],
      [LABEL, "[File Server]"],
    );
    const files = String(server.port("[File Server]"));
    const chat = String(server.port(LABEL));
    const timedOut = await runInPtySteps(
      ["connect", "chat", "--name", "x", "--chat-port", files, "--connect-timeout", "1s"],
      [],
    );
    equal(timedOut!.code, 1, timedOut!.output);
    match(
      timedOut!.output,
      new RegExp(
        `error: No greeting from 127\\.0\\.0\\.1:${files} within 1 s: wrong port, or does the server need --tls\\?`,
      ),
    );
    ok(!timedOut!.output.includes("\x1b[2K"), "never drew the chat screen (no raw mode)");

    const waiting = await runInPtySteps(
      ["connect", "chat", "--name", "x", "--chat-port", files],
      [["Connecting to", "\x03"]],
    );
    equal(waiting!.code, 130, waiting!.output);
    ok(!waiting!.output.includes("error"), waiting!.output);

    const naming = await runInPtySteps(
      ["connect", "chat", "--chat-port", chat],
      [["Your name: ", "\x03"]],
    );
    equal(naming!.code, 130, naming!.output);
    ok(!naming!.output.includes("error"), naming!.output);
  },
});

Deno.test({
  name:
    "connect chat on a terminal: a mention is highlighted with one bell; own lines carry the server's clock",
  ignore: !HAS_PYTHON,
  async fn() {
    await using server = await startChat();
    const port = server.port(LABEL);
    using alice = await join(port, "alice");
    const run = runInPtySteps(
      ["connect", "chat", "--name", "tty", "--chat-port", String(port)],
      [
        ["tty> $", "hello all\r"],
        ["look here", "\x03"],
      ],
    );
    await until(alice, /^\* tty joined$/);
    await until(alice, new RegExp(`^${TIME} tty: hello all$`));
    await alice.send("no mention for ttyx\nhey @TTY look here\n");
    const result = (await run)!;
    equal(result.code, 0, result.output);
    // The server echoes our own line (/echo on): stamped by its clock, shown once.
    equal(result.output.match(/tty: hello all/g)?.length, 1, result.output);
    match(
      result.output,
      new RegExp(`\\x1b\\[7m${TIME} alice: hey @TTY look here\\x1b\\[27m\\r+\\n\\x07`),
    );
    match(
      result.output,
      new RegExp(`\\r\\x1b\\[2K${TIME} alice: no mention for ttyx\\r+\\n\\r\\x1b`),
    );
    equal(result.output.split("\x07").length, 2, "one bell");
    await until(alice, /^\* tty left$/);
  },
});

Deno.test({
  name:
    "connect chat on a terminal: --no-bell highlights without the bell; Ctrl-C while reconnecting quits at once",
  ignore: !HAS_PYTHON,
  async fn() {
    const server = await startChat();
    try {
      const port = server.port(LABEL);
      using alice = await join(port, "alice");
      // With an hour to reconnect in, only the Ctrl-C can end it (exit 0, no error)
      // before the pseudo-terminal's own time limit.
      const run = runInPtySteps(
        ["connect", "chat", "--name", "tty", "--no-bell", "--reconnect-for", "1h"]
          .concat(["--chat-port", String(port)]),
        [["look here", ""], ["Reconnecting in", "\x03"]],
      );
      await until(alice, /^\* tty joined$/);
      await alice.send("tty, look here\n");
      await server.waitFor(/alice: tty, look here$/); // queued for tty before the notice
      await server.stop(); // and never comes back
      const result = (await run)!;
      equal(result.code, 0, result.output);
      match(result.output, new RegExp(`\\x1b\\[7m${TIME} alice: tty, look here\\x1b\\[27m`));
      ok(!result.output.includes("\x07"), "no bell");
      match(result.output, /-- The server is shutting down; reconnecting/);
      ok(!result.output.includes("error"), result.output);
    } finally {
      await server[Symbol.asyncDispose]();
    }
  },
});

Deno.test("connect chat --json: every line on stdout is one JSON object", async () => {
  await using server = await startChat();
  const port = server.port(LABEL);
  using alice = await join(port, "alice");
  await alice.send("earlier\x1b]0;title\x07\n");
  const result = await runCli(
    ["connect", "chat", "--json", "--name", "jbot", "--chat-port", String(port)],
    "/msg alice hi from a bot\nposted\n",
  );
  equal(result.code, 0, result.stderr);
  const objects = result.stdout.trim().split("\n").map((line) => JSON.parse(line));
  deepStrictEqual(objects.map((o) => o.type), ["users", "message", "private", "system"]);
  deepStrictEqual(objects[0].users, ["alice", "jbot"]);
  equal(objects[1].text, "earlier\\x1b]0;title\\x07");
  equal(objects[1].history, true);
  equal(objects[2].text, "hi from a bot");
  equal(objects[3].text, "Goodbye");
  await until(alice, /jbot: posted$/);
});

Deno.test("connect chat: a history replay after a reconnect with nothing new prints no empty header", async () => {
  // A scripted server that replays the same one-line history on each connection.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using client = new ChatChild(["--name", "bob", "--chat-port", String(listener.addr.port)]);
  const said = "[03:04:05] alice: hello";
  const joinWithHistory = async (conn: Deno.Conn) => {
    const peer = new RawClient(conn);
    await peer.send("! Welcome (1 member online). Enter your name:\n");
    equal(await peer.readLine(), "bob");
    await peer.send(
      "! Joined as bob. 2 here: alice, bob\n! Limits: lines up to 4096 bytes; no rate limit.\n" +
        `! The last 1 message:\n${said}\n`,
    );
    return peer;
  };
  {
    using first = await joinWithHistory(await listener.accept());
    await client.type("one\n");
    equal(await first.readLine(), "one");
  }
  using second = await joinWithHistory(await listener.accept());
  await client.type("two\n");
  equal(await second.readLine(), "two");
  const done = client.end();
  equal(await second.readLine(), "/quit");
  second.close();
  const result = await done;
  equal(result.code, 0, result.stderr);
  match(result.stderr, /-- Reconnected as bob\n/);
  equal(result.stdout.match(/! The last 1 message:\n/g)?.length, 1, result.stdout);
  equal(result.stdout.match(/alice: hello\n/g)?.length, 1, result.stdout);
  doesNotMatch(result.stdout, /! The last 1 message:\n(?!\[03:04:05\] alice: hello)/);
});

Deno.test("connect chat --help: the exit status names 2 for an invalid --room and 129 for SIGHUP", async () => {
  const help = await runCli(["connect", "chat", "--help"]);
  equal(help.code, 0);
  const status = help.stdout.slice(help.stdout.indexOf("Exit status:")).replace(/\s+/g, " ");
  match(status, /2 for a bad flag, an invalid --name or an invalid --room/);
  match(status, /130, 143 or 129 for Ctrl-C, SIGTERM or SIGHUP before joining/);
  const room = await runCli(["connect", "chat", "--name", "x", "--room", "bad room!"]);
  equal(room.code, 2);
});
