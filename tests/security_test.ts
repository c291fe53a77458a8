/**
 * Access control, the shared secret and TLS, end to end over real sockets:
 * every service (message TCP and UDP, chat, info, files) through the real
 * CLI, and the client modes through `connect`.
 */
import { deepStrictEqual, doesNotMatch, equal, match, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { UsageError } from "../lib/base/errors.ts";
import { exitRefusal } from "../lib/message/exit.ts";
import { exposureWarnings, parseServeConfig, SERVE_SPEC } from "../lib/serve.ts";
import { parseFlags } from "../lib/base/flags.ts";
import { AccessPolicy, parseAccessList, parseRule } from "../lib/security/access.ts";
import { ipKey, parseIp } from "../lib/net/ip.ts";
import { parseAuthLine, splitDatagram } from "../lib/security/protocol.ts";
import { Token } from "../lib/security/token_check.ts";
import { decodeLenient, encode } from "../lib/base/text.ts";
import { padded, runCli, runInPtySteps, ServerProcess, UdpFrom } from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";
import {
  makeTestCerts,
  RawClient,
  signed,
  type TestCerts,
  TOKEN,
  writeSecretFile,
} from "./_security.ts";
import { ENGINE_RUNS } from "./_udp_engines.ts";

const TCP = "[TCP Server]";
const UDP = "[UDP Server]";
const CHAT = "[Chat Server]";
const INFO = "[Info Server]";
const FILES = "[File Server]";
const ACK_TCP = "[TCP Server] Your message was received!";
const ACK_UDP = "[UDP Server] Your message was received!";
const WITH_ENV = { denoArgs: ["--allow-env=SOCKETKIT_TOKEN"] };

const tmp = await Deno.makeTempDir({ prefix: "socketkit-security-" });
const tokenFile = await writeSecretFile(tmp, "token", TOKEN + "\n");
const certs: TestCerts | null = await makeTestCerts();
globalThis.addEventListener("unload", () => {
  Deno.removeSync(tmp, { recursive: true });
  if (certs) Deno.removeSync(certs.dir, { recursive: true });
});

async function status(port: number, from = "127.0.0.1", token?: string) {
  using peer = new UdpFrom(from);
  const request = padded("STATUS JSON");
  const reply = await peer.request(port, token ? signed(request, token) : request);
  ok(reply !== null, "no STATUS reply");
  return JSON.parse(reply) as { security: Record<string, number> };
}

// ---- addresses and rules (pure) ----

Deno.test("access: addresses and ranges, IPv4 and IPv6, mapped peers match IPv4 rules", () => {
  deepStrictEqual(parseIp("::ffff:10.1.2.3"), parseIp("10.1.2.3"));
  equal(ipKey("::ffff:127.0.0.1"), "127.0.0.1");
  equal(ipKey("2001:db8:0:0:0:0:0:1"), ipKey("2001:db8::1"));
  for (const bad of ["10.0.0", "10.0.0.256", "010.0.0.1", "1::2::3", "12345::", "host.example"]) {
    equal(parseIp(bad), null, bad);
  }
  const policy = new AccessPolicy(
    parseAccessList("allow", "10.0.0.0/8, 2001:db8::/32, ::ffff:192.168.0.0/112"),
    parseAccessList("deny", "10.9.0.0/16,2001:db8:dead::1"),
  );
  const cases: [string, string | null][] = [
    ["10.1.2.3", null],
    ["::ffff:10.1.2.3", null],
    ["10.9.1.1", "denied"],
    ["::ffff:10.9.1.1", "denied"],
    ["11.0.0.1", "not allowed"],
    ["2001:db8::7", null],
    ["2001:db8:dead::1", "denied"],
    ["2001:db9::1", "not allowed"],
    ["192.168.3.4", null],
    ["fe80::1%eth0", "not allowed"],
  ];
  for (const [host, expected] of cases) equal(policy.check(host), expected, host);
  equal(new AccessPolicy([], parseAccessList("deny", "0.0.0.0/0")).check("::1"), null);
  equal(new AccessPolicy([], parseAccessList("deny", "::/0")).check("::1"), "denied");
  equal(new AccessPolicy().check("203.0.113.9"), null, "no rules: everyone");
  equal(parseRule("10.0.0.1/8")?.bits, 8, "host bits set are masked, not refused");
  for (const bad of ["10.0.0.0/33", "::/129", "10.0.0.0/x", "10.0.0.0/8/8", "nonsense"]) {
    throws(() => parseAccessList("allow", bad), UsageError, bad);
  }
});

Deno.test("token: constant-time match over digests; AUTH lines and datagrams parse strictly", () => {
  const token = new Token(TOKEN);
  ok(token.matches(TOKEN));
  ok(!token.matches(TOKEN + "x"));
  ok(!token.matches(""));
  equal(decodeLenient(parseAuthLine(encode(`auth  ${TOKEN} \r`))!), TOKEN);
  equal(parseAuthLine(encode("AUTH")), null);
  equal(parseAuthLine(encode("AUTHX y")), null);
  const split = splitDatagram(encode(`AUTH ${TOKEN}\nSTATUS`));
  equal(decodeLenient(split.token!), TOKEN);
  equal(decodeLenient(split.payload), "STATUS");
  equal(splitDatagram(encode("STATUS")).token, null);
  equal(splitDatagram(encode("AUTH but no newline")).token, null);
});

Deno.test("exit policy: a peer off this machine needs the token, whatever --exit-from says", () => {
  match(exitRefusal("any", "203.0.113.9")!, /only on a server with a token/);
  equal(exitRefusal("any", "203.0.113.9", true), null);
  match(exitRefusal("local", "203.0.113.9", true)!, /only clients on this machine/);
  match(exitRefusal("none", "127.0.0.1", true)!, /does not accept exit/);
});

Deno.test("serve: exposing the server without --allow or a token, or TLS without a per-address cap, is warned about", () => {
  const warnings = (...args: string[]) =>
    exposureWarnings(parseServeConfig(parseFlags(SERVE_SPEC, args)), false);
  deepStrictEqual(warnings(), [], "loopback: nothing to say");
  deepStrictEqual(warnings("--host", "::ffff:127.0.0.1"), []);
  ok(warnings("--host", "0.0.0.0").some((w) => /neither --allow nor a token/.test(w)));
  deepStrictEqual(
    warnings("--host", "0.0.0.0", "--allow", "192.0.2.0/24").filter((w) => /neither/.test(w)),
    [],
  );
  const tls = ["--host", "::", "--allow", "::1", "--tls-cert", "c", "--tls-key", "k"];
  ok(!warnings(...tls).some((w) => /--max-conns-per-ip/.test(w)), "the default share holds");
  ok(
    warnings(...tls, "--max-conns-per-ip", "0")
      .some((w) => /keep a --max-conns-per-ip \(not 0\)/.test(w)),
  );
  const withToken = exposureWarnings(
    parseServeConfig(parseFlags(SERVE_SPEC, ["--host", "0.0.0.0"])),
    true,
  );
  ok(withToken.some((w) => /token and all traffic cross the network in clear/.test(w)));
});

// ---- --allow and --deny over real sockets ----

Deno.test("deny: a denied TCP peer is closed at once and a denied datagram dropped, on every service; mapped peers match IPv4 rules", async () => {
  // Bound to the IPv4-mapped loopback address, so peers arrive as ::ffff:127.0.0.1.
  await using server = await InProcessServer.start(
    ["--host", "::ffff:127.0.0.1", "--deny", "127.0.0.1", "--services", "message,chat,info"],
    [TCP, UDP, CHAT, INFO],
  );
  for (const label of [TCP, CHAT]) {
    using client = await RawClient.tcp(server.port(label));
    equal(await client.readLine(2000), null, `${label} closed without a byte`);
  }
  using denied = new UdpFrom("127.0.0.1");
  equal(await denied.request(server.port(UDP), "hello", 300), null);
  equal(await denied.request(server.port(INFO), "STATUS", 300), null);
  // 127.0.0.2 is another loopback address, not in --deny.
  using other = new UdpFrom("127.0.0.2");
  equal(await other.request(server.port(UDP), "hello"), ACK_UDP);
  const { security } = await status(server.port(INFO), "127.0.0.2");
  equal(security.refusedConnections, 2);
  equal(security.refusedDatagrams, 2);
  await server.waitFor(/^\[TCP Server\] Refused \[::ffff:127\.0\.0\.1\]:\d+: matches --deny$/);
});

Deno.test("allow: only listed peers get in; deny wins over allow", async () => {
  await using server = await InProcessServer.start(
    ["--allow", "127.0.0.0/8", "--deny", "127.0.0.1", "--services", "message,info"],
    [TCP, UDP, INFO],
  );
  using one = new UdpFrom("127.0.0.1");
  using two = new UdpFrom("127.0.0.2");
  equal(await one.request(server.port(UDP), "x", 300), null, "denied although allowed");
  equal(await two.request(server.port(UDP), "x"), ACK_UDP);

  await using only = await InProcessServer.start(
    ["--allow", "127.0.0.2", "--services", "message,info"],
    [TCP, UDP, INFO],
  );
  using client = await RawClient.tcp(only.port(TCP));
  equal(await client.readLine(2000), null, "127.0.0.1 is not in --allow");
  equal(await one.request(only.port(INFO), "TIME", 300), null);
  match((await two.request(only.port(INFO), "TIME"))!, /^time: /);
  equal((await status(only.port(INFO), "127.0.0.2")).security.refusedConnections, 1);
});

Deno.test("allow: IPv6 rules on an IPv6 address", async () => {
  await using server = await InProcessServer.start(
    ["--host", "::1", "--allow", "::1/128", "--services", "message"],
  );
  using client = await RawClient.tcp(server.port(TCP), "::1");
  equal(await client.request("hello"), ACK_TCP);
});

// ---- the token ----

Deno.test("token over TCP: challenge first; wrong and missing tokens refused and logged without the secret; the right one opens the protocol", async () => {
  await using server = await InProcessServer.start(
    ["--token-file", tokenFile, "--services", "message,info"],
    [TCP, UDP, INFO],
  );
  const port = server.port(TCP);
  await server.waitFor(/^\[Server\] Clients must authenticate \(token from --token-file ".*"\)$/);

  using wrong = await RawClient.tcp(port);
  equal(await wrong.auth("not-the-token-at-all"), "AUTH FAILED: wrong token");
  equal(await wrong.readLine(), null, "closed after the refusal");

  using plain = await RawClient.tcp(port);
  match((await plain.readLine())!, /^AUTH REQUIRED: send "AUTH <token>"/);
  equal(await plain.request("hello"), 'AUTH FAILED: expected "AUTH <token>"');

  using good = await RawClient.tcp(port);
  equal(await good.auth(), "AUTH OK");
  equal(await good.request("hello"), ACK_TCP);

  // netcat style: the AUTH line and the messages in one write.
  using piped = await RawClient.tcp(port);
  await piped.send(`AUTH ${TOKEN}\nfirst\nsecond\n`);
  match((await piped.readLine())!, /^AUTH REQUIRED/);
  deepStrictEqual(
    [await piped.readLine(), await piped.readLine(), await piped.readLine()],
    ["AUTH OK", ACK_TCP, ACK_TCP],
  );

  await server.waitFor(/Authentication failed for 127\.0\.0\.1:\d+: wrong token$/);
  const log = server.lines.join("\n");
  doesNotMatch(log, /not-the-token-at-all/, "the attempted secret is never logged");
  doesNotMatch(log, new RegExp(TOKEN), "nor the real one");
  equal((await status(server.port(INFO), "127.0.0.1", TOKEN)).security.authFailures, 2);
});

Deno.test("token over TCP: --auth-timeout, an over-long AUTH line, a close mid-line, and a cool-down after repeated failures", async () => {
  await using server = await InProcessServer.start(
    ["--token-file", tokenFile, "--auth-timeout", "300ms", "--services", "message"],
  );
  const port = server.port(TCP);
  using silent = await RawClient.tcp(port);
  match((await silent.readLine())!, /^AUTH REQUIRED/);
  equal(await silent.readLine(), "AUTH FAILED: no AUTH line within 300ms");
  equal(await silent.readLine(), null);

  using slow = await RawClient.tcp(port); // a slowloris: the deadline is absolute
  match((await slow.readLine())!, /^AUTH REQUIRED/);
  for (const ch of "AUTH ") {
    await slow.send(ch);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  equal(await slow.readLine(), "AUTH FAILED: no AUTH line within 300ms");

  using long = await RawClient.tcp(port);
  match((await long.readLine())!, /^AUTH REQUIRED/);
  await long.send("AUTH " + "x".repeat(5000) + "\n");
  equal(await long.readLine(), "AUTH FAILED: AUTH line too long");

  // 10 failures in a row (3 so far) put the address in a cool-down.
  for (let i = 0; i < 7; i++) {
    using client = await RawClient.tcp(port);
    equal(await client.auth("wrong-wrong-wrong"), "AUTH FAILED: wrong token");
  }
  using refused = await RawClient.tcp(port);
  equal(await refused.readLine(2000), null, "closed at accept, no challenge");
  await server.waitFor(/Refused 127\.0\.0\.1:\d+: too many failed authentications/);
});

for (const { engine, args, options, skip } of ENGINE_RUNS) {
  Deno.test({
    name:
      `token over UDP (${engine} engine): message and info need the AUTH line; refusals are short; a tokenless server strips the line`,
    ignore: skip !== null,
    async fn() {
      await using server = await InProcessServer.start(
        ["--token-file", tokenFile, "--services", "message,info", ...args],
        [TCP, UDP, INFO],
        options,
      );
      using peer = new UdpFrom();
      for (const port of [server.port(UDP), server.port(INFO)]) {
        equal(await peer.request(port, "hello"), "AUTH REQUIRED");
        equal(await peer.request(port, signed("hello", "wrong-wrong-wrong")), "AUTH FAILED");
      }
      equal(await peer.request(server.port(UDP), signed("hello")), ACK_UDP);
      match((await peer.request(server.port(INFO), signed("time")))!, /^time: /);
      await server.waitFor(/^\[UDP Server\] Received from 127\.0\.0\.1:\d+: hello$/);
      doesNotMatch(server.lines.join("\n"), new RegExp(TOKEN));

      await using open = await InProcessServer.start(["--services", "message"]);
      equal(await peer.request(open.port(UDP), signed("hello")), ACK_UDP);
      await open.waitFor(/^\[UDP Server\] Received from 127\.0\.0\.1:\d+: hello$/);
      doesNotMatch(open.lines.join("\n"), new RegExp(TOKEN), "the token never reaches a log");
    },
  });
}

Deno.test("token: chat and files wait for AUTH; exit needs it; SOCKETKIT_TOKEN works like the file", async () => {
  await using server = await ServerProcess.start(
    ["--services", "message,chat,files", "--files-dir", join(tmp, "files-a")],
    [TCP, UDP, CHAT, FILES],
    { ...WITH_ENV, env: { SOCKETKIT_TOKEN: TOKEN } },
  );
  await server.waitFor(/token from SOCKETKIT_TOKEN/);
  using chat = await RawClient.tcp(server.port(CHAT));
  await chat.send(`AUTH ${TOKEN}\nalice\n`);
  match((await chat.readLine())!, /^AUTH REQUIRED/);
  equal(await chat.readLine(), "AUTH OK");
  match((await chat.readLine())!, /^! Welcome to socketkit chat/);
  match((await chat.readLine())!, /^! Joined as alice\./);

  using files = await RawClient.tcp(server.port(FILES));
  equal(await files.auth(), "AUTH OK");
  equal(await files.request("LIST"), "OK 0");

  using sneaky = await RawClient.tcp(server.port(TCP));
  match((await sneaky.readLine())!, /^AUTH REQUIRED/);
  equal(await sneaky.request("exit"), 'AUTH FAILED: expected "AUTH <token>"');
  using peer = new UdpFrom();
  equal(await peer.request(server.port(UDP), "exit"), "AUTH REQUIRED");

  using owner = await RawClient.tcp(server.port(TCP));
  equal(await owner.auth(), "AUTH OK");
  equal(await owner.request("exit"), "[TCP Server] Server shutting down...");
  equal((await server.exited()).code, 0);
});

Deno.test("serve: the token never comes from the command line; bad token files and TLS files stop start-up", async () => {
  const unknown = await runCli(["serve", "--token", TOKEN]);
  equal(unknown.code, 2);
  match(unknown.stderr, /Unknown flag "--token"/);
  const empty = await writeSecretFile(tmp, "empty", "\n");
  const cases: [string[], RegExp][] = [
    [["--token-file", join(tmp, "absent")], /Cannot read --token-file ".*absent": no such file/],
    [["--token-file", empty], /Cannot use --token-file ".*empty": it is empty/],
    [["--tls-cert", join(tmp, "absent.crt"), "--tls-key", tokenFile], /Cannot read --tls-cert/],
    [["--tls-cert", tokenFile, "--tls-key", tokenFile], /no PEM certificate in it/],
  ];
  const usage = [["--tls-cert", "a.crt"], ["--allow", "10.0.0.0/33"], ["--deny", "nonsense"]];
  // Each case is its own process: run them side by side, check them in order.
  const [refused, misused] = await Promise.all([
    Promise.all(
      cases.map(([args]) => runCli(["serve", "--tcp-port=0", "--services=message", ...args])),
    ),
    Promise.all(usage.map((args) => runCli(["serve", ...args]))),
  ]);
  for (const [i, [, expected]] of cases.entries()) {
    const result = refused[i]!;
    equal(result.code, 1, result.stderr);
    match(result.stderr, expected);
    equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  }
  for (const [i, args] of usage.entries()) {
    const result = misused[i]!;
    equal(result.code, 2, `${args}: ${result.stderr}`);
  }
  const loose = join(tmp, "loose");
  await Deno.writeTextFile(loose, "short\n", { mode: 0o644 });
  await Deno.chmod(loose, 0o644);
  await using server = await InProcessServer.start([
    "--token-file",
    loose,
    "--services",
    "message",
  ]);
  const { stderr } = await server.stop();
  match(stderr, /warning: --token-file ".*loose" can be read by other users \(mode 644\)/);
  match(stderr, /warning: the token from --token-file ".*" is short \(5 characters\)/);
});

// ---- connect with a token ----

Deno.test("connect: the token from SOCKETKIT_TOKEN or --token-file, over TCP, UDP, info, chat and files", async () => {
  await using server = await InProcessServer.start(
    ["--token-file", tokenFile, "--files-dir", join(tmp, "files-b")],
    [TCP, UDP, CHAT, INFO, FILES],
  );
  const ports = [
    `--tcp-port=${server.port(TCP)}`,
    `--udp-port=${server.port(UDP)}`,
  ];
  const env = { ...WITH_ENV, env: { SOCKETKIT_TOKEN: TOKEN } };
  const tcp = await runCli(["connect", "--tcp", ...ports], "a\nb\n", env);
  equal(tcp.code, 0, tcp.stderr);
  equal(tcp.stdout.trim().split("\n").length, 2);
  const random = await runCli(["connect", "--random", "--token-file", tokenFile, ...ports], "a\n");
  equal(random.code, 0, random.stderr);
  match(random.stdout, /Your message was received!/);
  const info = await runCli(["connect", "info", `--info-port=${server.port(INFO)}`], "", env);
  equal(info.code, 0, info.stderr);
  match(info.stdout, /^refused: 0 connections/m);
  const chat = await runCli(
    ["connect", "chat", "--name", "bot", `--chat-port=${server.port(CHAT)}`],
    "hi\n",
    env,
  );
  equal(chat.code, 0, chat.stderr);
  match(chat.stdout, /! Joined as bot\./);
  const upload = join(tmp, "upload.txt");
  await Deno.writeTextFile(upload, "payload\n");
  const up = await runCli(
    ["connect", "upload", upload, `--file-port=${server.port(FILES)}`, "--token-file", tokenFile],
  );
  equal(up.code, 0, up.stderr);
  await server.waitFor(/Stored "upload\.txt"/);
});

Deno.test("connect: a missing or wrong token is one clear line and exit 1", async () => {
  await using server = await InProcessServer.start(
    ["--token-file", tokenFile, "--services", "message,chat,info"],
    [TCP, UDP, CHAT, INFO],
  );
  const wrong = { ...WITH_ENV, env: { SOCKETKIT_TOKEN: "not-the-right-token" } };
  const cases: [string[], Parameters<typeof runCli>[2], RegExp][] = [
    [["--tcp", `--tcp-port=${server.port(TCP)}`], {}, /requires a token: set SOCKETKIT_TOKEN/],
    [["--udp", `--udp-port=${server.port(UDP)}`], {}, /requires a token/],
    [["info", `--info-port=${server.port(INFO)}`], {}, /requires a token/],
    [["chat", "--name=x", `--chat-port=${server.port(CHAT)}`], {}, /requires a token/],
    [["--tcp", `--tcp-port=${server.port(TCP)}`], wrong, /refused the token .*: wrong token/],
    [["--udp", `--udp-port=${server.port(UDP)}`], wrong, /refused the token/],
    [["chat", "--name=x", `--chat-port=${server.port(CHAT)}`], wrong, /refused the token/],
  ];
  for (const [args, options, expected] of cases) {
    const result = await runCli(["connect", ...args], "hello\n", options);
    equal(result.code, 1, `${args}: ${result.stderr}`);
    match(result.stderr, expected);
    equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    doesNotMatch(result.stderr, /not-the-right-token/);
  }
});

Deno.test("connect: a token set for a server without one is not sent; the client says so and goes on", async () => {
  await using server = await InProcessServer.start(["--services", "message"]);
  const result = await runCli(
    ["connect", "--tcp", `--tcp-port=${server.port(TCP)}`],
    "hello\n",
    { ...WITH_ENV, env: { SOCKETKIT_TOKEN: TOKEN } },
  );
  equal(result.code, 0, result.stderr);
  equal(result.stdout.trim(), `[TCP Client] Server responded: ${ACK_TCP}`);
  match(result.stderr, /did not ask for one within .*going on without it/);
  doesNotMatch(server.lines.join("\n"), new RegExp(TOKEN));
});

Deno.test("connect: on a terminal the token is asked for when the server wants one, without echo", async (t) => {
  await using server = await InProcessServer.start(
    ["--token-file", tokenFile, "--services", "message,chat"],
    [TCP, UDP, CHAT],
  );
  const prompt = String.raw`Token for 127\.0\.0\.1:\d+ \(not shown\): `;
  await t.step("chat, whose server speaks first", async () => {
    const result = await runInPtySteps(
      ["connect", "chat", "--name", "carol", `--chat-port=${server.port(CHAT)}`],
      [[prompt, `${TOKEN}\r`], ["Limits:", "hello from a terminal\r"], ["carol: hello", "/quit\r"]],
    );
    if (result === null) return console.log("skipping: python3 is not installed");
    equal(result.code, 0, result.output);
    doesNotMatch(result.output, new RegExp(TOKEN), "the typed token is not echoed");
    await server.waitFor(/carol: hello from a terminal$/);
  });
  await t.step("message mode, where the client speaks first", async () => {
    const result = await runInPtySteps(
      ["connect", "--tcp", `--tcp-port=${server.port(TCP)}`],
      [["Enter message", "typed line\r"], [prompt, `${TOKEN}\r`], ["Server responded", "exit\r"]],
    );
    if (result === null) return;
    equal(result.code, 0, result.output);
    match(
      result.output,
      /\[TCP Client\] Server responded: \[TCP Server\] Your message was received!/,
    );
    doesNotMatch(result.output, new RegExp(TOKEN));
    await server.waitFor(/Received from 127\.0\.0\.1:\d+: typed line$/);
  });
});

// ---- TLS ----

Deno.test({
  name:
    "tls: every TCP service speaks TLS; connect --ca verifies and talks to message, chat and files",
  ignore: certs === null,
  async fn() {
    const { ca, cert, key } = certs!;
    await using server = await InProcessServer.start(
      ["--tls-cert", cert, "--tls-key", key, "--files-dir", join(tmp, "files-c")],
      [TCP, UDP, CHAT, INFO, FILES],
    );
    await server.waitFor(/^\[Server\] TCP services speak TLS$/);
    using raw = await RawClient.tls(server.port(TCP), ca);
    equal(await raw.request("over tls"), ACK_TCP);
    using member = await RawClient.tls(server.port(CHAT), ca);
    match((await member.readLine())!, /^! Welcome/);

    const tcp = await runCli(
      ["connect", "--tcp", "--ca", ca, `--tcp-port=${server.port(TCP)}`],
      "a\nb\n",
    );
    equal(tcp.code, 0, tcp.stderr);
    equal(tcp.stdout.trim().split("\n").length, 2);
    const chat = await runCli(
      ["connect", "chat", "--name", "tlsbot", "--ca", ca, `--chat-port=${server.port(CHAT)}`],
      "secret plans\n",
    );
    equal(chat.code, 0, chat.stderr);
    await server.waitFor(/tlsbot: secret plans$/);
    const file = join(tmp, "tls.bin");
    const bytes = new Uint8Array(200_000);
    for (let i = 0; i < bytes.length; i += 65_536) {
      crypto.getRandomValues(bytes.subarray(i, i + 65_536));
    }
    await Deno.writeFile(file, bytes);
    const up = await runCli(
      ["connect", "upload", file, "--ca", ca, `--file-port=${server.port(FILES)}`],
    );
    equal(up.code, 0, up.stderr);
    const down = await runCli([
      "connect",
      "download",
      "tls.bin",
      "--output",
      join(tmp, "tls-back.bin"),
      "--ca",
      ca,
      `--file-port=${server.port(FILES)}`,
    ]);
    equal(down.code, 0, down.stderr);
    deepStrictEqual(await Deno.readFile(join(tmp, "tls-back.bin")), await Deno.readFile(file));
  },
});

Deno.test({
  name:
    "tls: an unverified certificate is refused by default (exit 1, one line); --insecure-skip-verify warns and connects",
  ignore: certs === null,
  async fn() {
    const { cert, key, strangerCa, ca, otherCert, otherKey } = certs!;
    await using server = await InProcessServer.start(
      ["--tls-cert", cert, "--tls-key", key, "--services", "message,chat"],
      [TCP, UDP, CHAT],
    );
    const port = `--tcp-port=${server.port(TCP)}`;
    for (const extra of [["--tls"], ["--ca", strangerCa]]) {
      const result = await runCli(["connect", "--tcp", port, ...extra], "hello\n");
      equal(result.code, 1, result.stderr);
      equal(
        result.stderr.trim().split("\n").length,
        1,
        `one line: ${result.stderr}`,
      );
      match(
        result.stderr,
        /^error: Cannot connect to 127\.0\.0\.1:\d+ over TLS: the server's certificate is signed by a CA this client does not trust: give that CA's certificate with --ca FILE/,
      );
      equal(result.stdout, "");
    }
    const chat = await runCli(
      ["connect", "chat", "--name", "x", "--tls", `--chat-port=${server.port(CHAT)}`],
      "hi\n",
    );
    equal(chat.code, 1);
    match(chat.stderr, /signed by a CA this client does not trust/);

    const insecure = await runCli(
      ["connect", "--tcp", port, "--insecure-skip-verify"],
      "hello\n",
    );
    equal(insecure.code, 0, insecure.stderr);
    match(
      insecure.stderr,
      /^warning: --insecure-skip-verify: the server's certificate is NOT checked/,
    );
    equal(insecure.stdout.trim(), `[TCP Client] Server responded: ${ACK_TCP}`);

    await using misnamed = await InProcessServer.start(
      ["--tls-cert", otherCert, "--tls-key", otherKey, "--services", "message"],
    );
    const wrongName = await runCli(
      ["connect", "--tcp", "--ca", ca, `--tcp-port=${misnamed.port(TCP)}`],
      "hello\n",
    );
    equal(wrongName.code, 1);
    match(
      wrongName.stderr,
      /the server's certificate is not valid for "127\.0\.0\.1" \(it is valid for other\.example\): dial one of its names with --host/,
    );
  },
});

Deno.test({
  name:
    "tls: plain clients, silent clients and TLS-to-plain fail cleanly; the server counts and carries on",
  ignore: certs === null,
  async fn() {
    const { ca, cert, key } = certs!;
    await using server = await InProcessServer.start(
      [
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--auth-timeout",
        "300ms",
        "--services",
        "message,info",
      ],
      [TCP, UDP, INFO],
    );
    using plain = await RawClient.tcp(server.port(TCP));
    await plain.send("hello in clear\n");
    const answer = await plain.drain();
    doesNotMatch(
      answer.join("\n"),
      /received/,
      "no plaintext answer (a TLS alert at most), then a close",
    );
    // A peer silent in its handshake: logged and counted after --auth-timeout,
    // and it keeps its place until it acts (Deno cannot abort the handshake).
    using silent = await RawClient.tcp(server.port(TCP));
    await server.waitFor(/TLS handshake with 127\.0\.0\.1:\d+ failed: not done within 300 ms/);
    const held = await status(server.port(INFO)) as unknown as {
      services: { label: string; connections?: number }[];
      security: Record<string, number>;
    };
    equal(held.services.find((service) => service.label === TCP)?.connections, 1);
    equal(held.security.tlsFailures, 2);
    await silent.send("GET / HTTP/1.0\r\n\r\n");
    doesNotMatch((await silent.drain()).join(""), /received/, "once it sends, it is closed");
    using good = await RawClient.tls(server.port(TCP), ca);
    equal(await good.request("still fine"), ACK_TCP);

    await using clear = await InProcessServer.start(["--services", "message"]);
    const result = await runCli(
      ["connect", "--tcp", "--ca", ca, `--tcp-port=${clear.port(TCP)}`],
      "hello\n",
    );
    equal(result.code, 1);
    match(result.stderr, /^error: Cannot connect to .* over TLS: .*--tls-cert/);
    equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  },
});

Deno.test({
  name: "tls and token together: chat and UDP, with the warning about UDP in clear",
  ignore: certs === null,
  async fn() {
    const { ca, cert, key } = certs!;
    await using server = await InProcessServer.start(
      ["--tls-cert", cert, "--tls-key", key, "--token-file", tokenFile],
      [TCP, UDP, CHAT, INFO],
    );
    using member = await RawClient.tls(server.port(CHAT), ca);
    equal(await member.auth(), "AUTH OK");
    match((await member.readLine())!, /^! Welcome/);
    const random = await runCli(
      [
        "connect",
        "--random",
        "--ca",
        ca,
        "--token-file",
        tokenFile,
        `--tcp-port=${server.port(TCP)}`,
        `--udp-port=${server.port(UDP)}`,
      ],
      Array.from({ length: 12 }, (_, i) => `line ${i}`).join("\n") + "\n",
    );
    equal(random.code, 0, random.stderr);
    equal(random.stdout.trim().split("\n").length, 12);
    match(
      random.stderr,
      /warning: --tls covers TCP only; UDP requests and their token go in clear/,
    );
  },
});

// ---- caps ----

Deno.test("--max-conns-per-ip: one address holds at most N per service, the next gets the busy line", async () => {
  await using server = await InProcessServer.start(
    ["--max-conns-per-ip", "3", "--services", "message"],
  );
  const clients = await Promise.all([1, 2, 3].map(() => RawClient.tcp(server.port(TCP))));
  try {
    for (const client of clients) equal(await client.request("hi"), ACK_TCP);
    using fourth = await RawClient.tcp(server.port(TCP));
    match((await fourth.readLine())!, /^\[TCP Server\] Error: too many connections/);
    equal(await fourth.readLine(), null);
    clients.pop()!.close();
    await server.waitFor(/disconnected/);
    using again = await RawClient.tcp(server.port(TCP));
    equal(await again.request("back in"), ACK_TCP);
  } finally {
    for (const client of clients) client.close();
  }
});
