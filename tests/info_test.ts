import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import { RuntimeError } from "../lib/base/errors.ts";
import { MENU_ENTRIES, type MenuIO, runMenu } from "../lib/menu.ts";
import { connect } from "../lib/connect.ts";
import {
  INFO_COMMANDS,
  MAX_REPLY,
  MAX_USERS_REPLY,
  type MemberView,
  replyBytes,
  statusReply,
  usersReply,
} from "../lib/info/protocol.ts";
import { RateLimiter } from "../lib/base/rate_limit.ts";
import { chatStatus } from "../lib/chat/status.ts";
import { filesStatus } from "../lib/files/status.ts";
import { infoStatus } from "../lib/info/status.ts";
import { messageStatus } from "../lib/message/status.ts";
import { securityStatus } from "../lib/security/status.ts";
import { decodeLenient, encode } from "../lib/base/text.ts";
import { VERSION } from "../lib/base/version.ts";
import {
  hasCommand,
  LineClient,
  padded,
  type ProcessOptions,
  runCli,
  runInPty,
  runInPtySteps,
  UdpFrom,
  udpRequest,
} from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";
import { ENGINE_RUNS } from "./_udp_engines.ts";

const INFO = "[Info Server]";
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$/;
const UNKNOWN_FOO = 'ERROR unknown command "FOO": try STATUS, TIME, USERS, HELP';

/** Starts a server running the info service (and `services`), all ports 0. */
async function startInfo(
  extra: string[] = [],
  labels: string[] = [INFO],
  options: ProcessOptions = {},
): Promise<InProcessServer> {
  return await InProcessServer.start(
    extra.length > 0 ? extra : ["--services", "info"],
    labels,
    options,
  );
}

/** Sends a query and parses the JSON reply; fails the test on no reply. */
async function queryJson(port: number, query: string): Promise<Record<string, unknown>> {
  const reply = await udpRequest(port, padded(query));
  ok(reply !== null, `no reply to ${query}`);
  return JSON.parse(reply) as Record<string, unknown>;
}

// ---- the service over real UDP ----

Deno.test("info: every command answers in text", async (t) => {
  await using server = await startInfo();
  const port = server.port(INFO);

  await t.step("STATUS reports version, uptime, services and counters", async () => {
    const reply = (await udpRequest(port, padded("STATUS")))!;
    const lines = reply.split("\n");
    equal(lines[0], `version: ${VERSION}`);
    match(lines[1]!, /^uptime: (\d+[dhm] )*\d+s$/);
    // No --allow-ffi in the tests' server: --udp-engine auto takes Deno's sockets.
    ok(lines.includes(`service: ${INFO} udp 127.0.0.1:${port} (deno engine)`), reply);
    ok(lines.includes("messages: 0 over TCP, 0 over UDP (0 dropped over --udp-rate)"), reply);
    ok(lines.includes("chat: 0 members, 0 messages, 0 rooms"), reply);
    ok(lines.includes("files: 0 stored, 0 bytes uploaded, 0 bytes downloaded"), reply);
    ok(lines.includes("dropped: 0 info requests over the rate limit"), reply);
  });

  await t.step("TIME is ISO 8601 with an offset, and Unix milliseconds", async () => {
    const before = Date.now();
    const reply = (await udpRequest(port, padded("TIME")))!;
    const [time, unix] = reply.split("\n");
    match(time!, /^time: /);
    const iso = time!.slice("time: ".length);
    match(iso, ISO_WITH_OFFSET);
    match(unix!, /^unix_ms: \d+$/);
    const ms = Number(unix!.slice("unix_ms: ".length));
    ok(ms >= before - 1000 && ms <= Date.now() + 1000, `${ms} is not now`);
    equal(Date.parse(iso), ms);
  });

  await t.step("USERS is an empty list without a chat room", async () => {
    equal(await udpRequest(port, padded("USERS")), "users: 0");
  });

  await t.step("HELP lists every command", async () => {
    const reply = (await udpRequest(port, padded("HELP")))!;
    match(reply, /^commands: STATUS, TIME, USERS, HELP /);
    for (const command of INFO_COMMANDS) match(reply, new RegExp(`^${command}: `, "m"));
  });

  await t.step("commands are read in any case, trimmed", async () => {
    match((await udpRequest(port, padded("  status\r\n")))!, /^version: /);
    match((await udpRequest(port, padded("TiMe")))!, /^time: /);
    equal(await udpRequest(port, padded("\tusers ")), "users: 0");
    match((await udpRequest(port, padded("help  json")))!, /^\{"command":"HELP"/);
  });

  await t.step("an unknown command gets the ERROR line", async () => {
    equal(await udpRequest(port, padded("FOO")), UNKNOWN_FOO);
    equal(await udpRequest(port, padded(" foo \n")), UNKNOWN_FOO.replace('"FOO"', '"foo"'));
    equal(
      await udpRequest(port, padded("STATUS EXTRA")),
      'ERROR unknown command "STATUS EXTRA": try STATUS, TIME, USERS, HELP',
    );
    deepStrictEqual(JSON.parse((await udpRequest(port, padded("foo JSON")))!), {
      error: 'unknown command "foo": try STATUS, TIME, USERS, HELP',
    });
  });

  await t.step("the echoed command is cut and its control characters escaped", async () => {
    equal(
      await udpRequest(port, padded("\x1b[2Jboom\x07")),
      'ERROR unknown command "\\x1b[2Jboom\\x07": try STATUS, TIME, USERS, HELP',
    );
    const long = await udpRequest(port, padded("x".repeat(60)));
    equal(long, `ERROR unknown command "${"x".repeat(40)}...": try STATUS, TIME, USERS, HELP`);
  });
  await server.waitFor(/^\[Info Server\] Unknown command from 127\.0\.0\.1:\d+: "FOO"$/);
});

Deno.test("info: every command answers in JSON", async () => {
  await using server = await startInfo();
  const port = server.port(INFO);

  const status = await queryJson(port, "STATUS JSON");
  equal(status.command, "STATUS");
  equal(status.version, VERSION);
  equal(typeof status.uptimeSeconds, "number");
  deepStrictEqual(status.services, [
    { label: INFO, transport: "udp", host: "127.0.0.1", port, engine: "deno" },
  ]);
  deepStrictEqual(status.messages, { tcp: 0, udp: 0, udpDropped: 0 });
  deepStrictEqual(status.chat, { members: 0, messages: 0, rooms: 0 });
  deepStrictEqual(status.files, { stored: 0, bytesUploaded: 0, bytesDownloaded: 0 });
  deepStrictEqual(status.info, { dropped: 0 });

  const time = await queryJson(port, "time json");
  equal(time.command, "TIME");
  match(String(time.time), ISO_WITH_OFFSET);
  equal(Date.parse(String(time.time)), time.unixMs);
  equal(typeof time.utcOffsetMinutes, "number");

  deepStrictEqual(await queryJson(port, "Users Json"), {
    command: "USERS",
    count: 0,
    users: [],
    more: 0,
  });

  const help = await queryJson(port, "HELP JSON");
  deepStrictEqual(Object.keys(help.commands as object), [...INFO_COMMANDS]);
});

Deno.test("info: STATUS counters move after TCP and UDP messages", async () => {
  await using server = await startInfo(
    ["--services", "message,info"],
    ["[TCP Server]", "[UDP Server]", INFO],
  );
  const port = server.port(INFO);
  const before = await queryJson(port, "STATUS JSON");
  deepStrictEqual(before.messages, { tcp: 0, udp: 0, udpDropped: 0 });

  using client = await LineClient.connect(server.port("[TCP Server]"));
  equal(await client.request("one"), "[TCP Server] Your message was received!");
  equal(await client.request("two"), "[TCP Server] Your message was received!");
  equal(
    await udpRequest(server.port("[UDP Server]"), "three"),
    "[UDP Server] Your message was received!",
  );

  const after = await queryJson(port, "STATUS JSON");
  deepStrictEqual(after.messages, { tcp: 2, udp: 1, udpDropped: 0 });
  const tcp = (after.services as { label: string; connections?: number }[])
    .find((service) => service.label === "[TCP Server]");
  equal(tcp?.connections, 1);
  const text = (await udpRequest(port, padded("STATUS")))!;
  ok(text.includes("messages: 2 over TCP, 1 over UDP"), text);
  match(text, /^service: \[TCP Server\] tcp 127\.0\.0\.1:\d+, 1 connection open$/m);
});

for (const { engine, args, options, skip } of ENGINE_RUNS) {
  Deno.test({
    name:
      `info (${engine} engine): junk datagrams (random, empty, 60 KB) leave the service answering`,
    ignore: skip !== null,
    async fn() {
      await using server = await startInfo(["--services", "info", ...args], [INFO], options);
      const port = server.port(INFO);
      using peer = new UdpFrom();
      const random = crypto.getRandomValues(new Uint8Array(512));
      for (const junk of [random, new Uint8Array(0), new Uint8Array(60 * 1024).fill(0xff)]) {
        const reply = await peer.request(port, junk);
        ok(reply !== null, "junk got no reply");
        match(reply, /^ERROR unknown command ".*": try STATUS, TIME, USERS, HELP$/s);
        ok(encode(reply).length <= MAX_REPLY);
      }
      match((await peer.request(port, padded("STATUS")))!, /^version: /);
    },
  });
}

for (const { engine, args, options, skip } of ENGINE_RUNS) {
  Deno.test({
    name:
      `info (${engine} engine): the rate limit drops a burst from one source and still answers another`,
    ignore: skip !== null,
    async fn() {
      // --info-rate 1 allows a burst of 2, then one reply a second.
      await using server = await startInfo(["--services", "info", "--info-rate", "1", ...args], [
        INFO,
      ], options);
      const port = server.port(INFO);
      using flooder = new UdpFrom("127.0.0.1");
      using other = new UdpFrom("127.0.0.2");
      const sent = 10;
      for (let i = 0; i < sent; i++) await flooder.send(port, "TIME");

      // The service reads datagrams in order, so by the time this is answered the
      // whole burst has been handled.
      const status = JSON.parse((await other.request(port, padded("STATUS JSON")))!);
      const dropped = status.info.dropped as number;
      ok(dropped >= sent - 3, `only ${dropped} of ${sent} dropped`);
      for (let i = 0; i < sent - dropped; i++) match((await flooder.receive())!, /^time: /);
      const text = (await other.request(port, padded("STATUS")))!;
      ok(text.includes(`dropped: ${dropped} info requests over the rate limit`), text);
    },
  });
}

Deno.test("info: --info-rate 0 turns the limit off", async () => {
  await using server = await startInfo(["--services", "info", "--info-rate", "0"]);
  const port = server.port(INFO);
  using peer = new UdpFrom();
  const sent = 100;
  for (let i = 0; i < sent; i++) await peer.send(port, "HELP");
  for (let i = 0; i < sent; i++) ok((await peer.receive()) !== null, `reply ${i} missing`);
  equal(JSON.parse((await peer.request(port, padded("STATUS JSON")))!).info.dropped, 0);
});

Deno.test({
  name: "info: USERS follows chat members joining and leaving",
  async fn() {
    await using server = await startInfo(
      ["--services", "chat,info", "--info-rate", "0"],
      ["[Chat Server]", INFO],
    );
    const port = server.port(INFO);
    const users = async () => {
      const reply = await queryJson(port, "USERS JSON");
      return (reply.users as { name: string }[]).map((user) => user.name).sort();
    };
    // The server logs each join, move and leave once the roster has it.
    const until = async (logged: RegExp, want: string[]) => {
      await server.waitFor(logged);
      deepStrictEqual(await users(), want);
    };
    const join = async (name: string) => {
      const client = await LineClient.connect(server.port("[Chat Server]"));
      ok((await client.readLine()) !== null, "no welcome line");
      await client.send(name + "\n");
      return client;
    };
    using alice = await join("alice");
    await until(/^\[Chat Server\] alice joined from /, ["alice"]);
    using bob = await join("bob");
    await until(/^\[Chat Server\] bob joined from /, ["alice", "bob"]);
    match((await udpRequest(port, padded("USERS")))!, /^users: 2\nalice in #lobby \(here \d+s\)\n/);
    await bob.send("/join #games\n");
    await server.waitFor(/^\[Chat Server\] bob moved to #games$/);
    match(
      (await udpRequest(port, padded("USERS")))!,
      /^users: 2\nbob in #games \(here \d+s\)\nalice in #lobby \(here \d+s\)$/,
    );
    alice.close();
    await until(/^\[Chat Server\] alice left/, ["bob"]);
    bob.close();
    await until(/^\[Chat Server\] bob left/, []);
  },
});

// ---- the reply bound and the rate limiter, as functions ----

Deno.test("info: a long USERS list stays within its bound (no amplifier) and says how many more", () => {
  const now = Date.now();
  const members: MemberView[] = Array.from({ length: 500 }, (_, i) => ({
    name: `member-${i}-${"é".repeat(100)}`,
    room: i % 2 === 0 ? "#lobby" : "#" + "r".repeat(32),
    joinedAt: now - i * 1000,
  }));
  const text = usersReply(members, now, false);
  ok(encode(text).length <= MAX_USERS_REPLY, `${encode(text).length} bytes`);
  const lines = text.split("\n");
  equal(lines[0], "users: 500");
  const shown = lines.length - 2;
  ok(shown > 0);
  equal(lines.at(-1), `... and ${500 - shown} more`);

  const json = usersReply(members, now, true);
  ok(encode(json).length <= MAX_USERS_REPLY, `${encode(json).length} bytes`);
  const parsed = JSON.parse(json);
  equal(parsed.count, 500);
  equal(parsed.users.length + parsed.more, 500);
  ok(parsed.users.length > 0);

  equal(
    usersReply(members.slice(0, 2), now, false).split("\n").at(-1),
    "member-1-" +
      "é".repeat(55) + `... in #${"r".repeat(32)} (here 1s)`,
  );
});

Deno.test("info: STATUS with many services on long addresses stays within the bound", () => {
  const most = Number.MAX_SAFE_INTEGER;
  const sections = [
    messageStatus({ tcp: most, udp: most, udpDropped: most }),
    chatStatus(most, most),
    filesStatus({ stored: most, bytesUploaded: most, bytesDownloaded: most }),
    securityStatus({
      refusedConnections: most,
      refusedDatagrams: most,
      authFailures: most,
      tlsFailures: most,
    }),
    infoStatus(most),
  ];
  const services = [
    "[TCP Server]",
    "[UDP Server]",
    "[Chat Server]",
    "[Info Server]",
    "[File Server]",
  ]
    .map((label) => ({
      label,
      transport: "tcp",
      hostname: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
      port: 65535,
      connections: 100_000,
    }));
  const view = { version: VERSION, uptimeMs: 1e12, services, sections };
  for (const json of [false, true]) {
    const reply = statusReply(view, json);
    ok(encode(reply).length <= MAX_REPLY, `${encode(reply).length} bytes (json: ${json})`);
  }
  // The last line of defence still answers with something well-formed.
  ok(replyBytes("x".repeat(5000), false).length <= MAX_REPLY);
  deepStrictEqual(JSON.parse(decodeLenient(replyBytes(`"${"x".repeat(5000)}"`, true))), {
    error: "reply too large",
  });
});

Deno.test("rate limiter: a burst, then the rate; sources are separate", () => {
  let now = 0;
  const limiter = new RateLimiter({ rate: 2, burst: 3, now: () => now });
  deepStrictEqual([1, 2, 3, 4].map(() => limiter.allow("a")), [true, true, true, false]);
  ok(limiter.allow("b"), "another source has its own bucket");
  now += 499;
  ok(!limiter.allow("a"));
  now += 1;
  ok(limiter.allow("a"), "one token after half a second at 2/s");
  ok(!limiter.allow("a"));
  ok(new RateLimiter({ rate: 0, burst: 0 }).allow("a"), "rate 0: no limit");
});

Deno.test("rate limiter: the table is bounded and a full table does not reset anyone", () => {
  let now = 0;
  const limiter = new RateLimiter({ rate: 1, burst: 2, maxSources: 3, now: () => now });
  ok(limiter.allow("victim") && limiter.allow("victim") && !limiter.allow("victim"));
  for (let i = 0; i < 100; i++) limiter.allow(`forged-${i}`);
  equal(limiter.size, 3);
  ok(!limiter.allow("victim"), "cycling forged sources must not refill the victim's bucket");
  // Sources beyond the table share one bucket (burst 2), so they are limited too.
  deepStrictEqual([1, 2].map((i) => limiter.allow(`late-${i}`)), [false, false]);
  // Once entries have refilled completely they carry nothing and make room.
  now += 2000;
  ok(limiter.allow("newcomer"));
  ok(limiter.size <= 3);
});

// ---- connect info ----

Deno.test("connect info: text, --json, any case, and usage errors", async (t) => {
  await using server = await startInfo();
  const port = String(server.port(INFO));

  await t.step("STATUS by default, printed as text", async () => {
    const result = await runCli(["connect", "info", "--info-port", port]);
    equal(result.code, 0, result.stderr);
    match(result.stdout, new RegExp(`^version: ${VERSION.replaceAll(".", "\\.")}\n`));
    match(result.stdout, /^dropped: 0 info requests over the rate limit\n$/m);
  });

  await t.step("a command in lower case", async () => {
    const result = await runCli(["connect", "info", "time", "--info-port", port]);
    equal(result.code, 0, result.stderr);
    match(result.stdout, /^time: .+\nunix_ms: \d+\n$/);
  });

  await t.step("--json prints one JSON object and nothing else", async () => {
    // Each command is its own process: run them side by side, check them in order.
    const results = await Promise.all(
      INFO_COMMANDS.map((command) =>
        runCli(["connect", "info", command, "--json", "--info-port", port])
      ),
    );
    for (const [i, command] of INFO_COMMANDS.entries()) {
      const result = results[i]!;
      equal(result.code, 0, result.stderr);
      equal(result.stdout.trimEnd().split("\n").length, 1, result.stdout);
      const value = JSON.parse(result.stdout);
      equal(value.command, command);
      if (command === "STATUS") {
        for (const field of ["version", "uptimeSeconds", "services", "messages", "chat", "files"]) {
          ok(field in value, `STATUS JSON lacks ${field}`);
        }
      }
    }
  });

  await t.step("an unknown command is a usage error", async () => {
    const result = await runCli(["connect", "info", "FOO", "--info-port", port]);
    equal(result.code, 2);
    match(
      result.stderr,
      /^error: Unknown info command "FOO": expected one of STATUS, TIME, USERS, HELP\n/,
    );
  });
});

Deno.test("connect info: no reply is one clear line and exit 1", async () => {
  // A socket that never answers stands for a lost reply or a missing server.
  using silent = new UdpFrom();
  const port = (silent.socket.addr as Deno.NetAddr).port;
  const result = await runCli([
    "connect",
    "info",
    "--info-port",
    String(port),
    "--timeout",
    "100ms",
    "--retries",
    "1",
  ]);
  equal(result.code, 1);
  equal(result.stdout, "");
  equal(
    result.stderr.trim(),
    `error: No reply from 127.0.0.1:${port} after 2 tries: is socketkit serve running with the info service on that port?`,
  );
});

Deno.test("connect info: a port that is not the info service is exit 1 with a hint", async () => {
  await using server = await InProcessServer.start(["--services", "message"]);
  const port = server.port("[UDP Server]");
  for (const json of [[], ["--json"]]) {
    const result = await runCli(["connect", "info", "--info-port", String(port), ...json]);
    equal(result.code, 1, result.stdout);
    equal(result.stdout, "");
    equal(
      result.stderr.trim(),
      `error: 127.0.0.1:${port} answered "[UDP Server] Your message was received!", which is not a reply of the info service: wrong port (--info-port)?`,
    );
  }
});

Deno.test("info: STATUS words counts of one in the singular, and uptime once", async () => {
  await using server = await startInfo(
    ["--services", "chat,info,message"],
    ["[Chat Server]", INFO, "[TCP Server]", "[UDP Server]"],
  );
  using member = await LineClient.connect(server.port("[Chat Server]"));
  ok((await member.readLine()) !== null, "no welcome line");
  await member.send("solo\n");
  await server.waitFor(/^\[Chat Server\] solo joined from /);
  const text = (await udpRequest(server.port(INFO), padded("STATUS")))!;
  match(text, /^service: \[Chat Server\] tcp 127\.0\.0\.1:\d+, 1 connection open$/m);
  match(text, /^chat: 1 member, 0 messages, 1 room$/m);
  match(text, /^uptime: (\d+[dhm] )*\d+s$/m);
  match(text, /^dropped: 0 info requests over the rate limit$/m);
});

Deno.test("info: an over-long request line is echoed trimmed and cut", async () => {
  await using server = await startInfo();
  equal(
    await udpRequest(server.port(INFO), padded("   " + "y".repeat(70) + "  ")),
    `ERROR unknown command "${"y".repeat(40)}...": try STATUS, TIME, USERS, HELP`,
  );
});

Deno.test("connect: no mode and no terminal prints usage and exits 2", async () => {
  const result = await runCli(["connect"]);
  equal(result.code, 2);
  match(result.stderr, /^error: Choose a mode: --random, --tcp or --udp, or one of .*info/);
  match(result.stderr, /Run 'socketkit connect --help' for usage\./);
});

// ---- the menu ----

/** A MenuIO that answers from a script and records what the menu wrote. */
function scripted(lines: string[]): MenuIO & { output: () => string } {
  const written: string[] = [];
  return {
    readLine: () => Promise.resolve(lines.length > 0 ? lines.shift()! : null),
    write: (text) => void written.push(text),
    output: () => written.join(""),
  };
}

Deno.test("menu: each entry asks what it needs and runs its subcommand", async () => {
  const runs: string[][] = [];
  const io = scripted([
    "nine",
    "",
    "3",
    "time",
    "info",
    "",
    "2",
    "5",
    "  ",
    "upload",
    "a.txt",
    "",
    "download",
    "report.pdf",
    "/tmp/reports/",
    "y",
    "6",
    "r.pdf",
    "",
    "",
    "q",
  ]);
  const code = await runMenu(io, {
    run: (args) => (runs.push(args), Promise.resolve(0)),
    available: (mode) => mode !== "chat",
    flagsFor: (mode) => mode === "info" ? ["--info-port", "1234"] : [],
  });
  equal(code, 0);
  deepStrictEqual(runs, [
    ["info", "time", "--info-port", "1234"],
    ["info", "STATUS", "--info-port", "1234"],
    ["upload", "a.txt"],
    ["download", "report.pdf", "--output", "/tmp/reports/", "--force"],
    ["download", "r.pdf"],
  ]);
  const output = io.output();
  match(output, /Unknown choice "nine": type 1-7/);
  match(output, /Chat: not available in this build of socketkit/);
  match(output, /Nothing entered; back to the menu/);
  for (const [i, entry] of MENU_ENTRIES.entries()) ok(output.includes(`${i + 1}) ${entry.label}`));
});

Deno.test("menu: end of input quits; an entry's error is shown and the menu comes back", async () => {
  equal(await runMenu(scripted([]), { run: () => Promise.resolve(0), available: () => true }), 0);
  equal(
    await runMenu(scripted(["6"]), { run: () => Promise.resolve(0), available: () => true }),
    0,
  );
  const io = scripted(["1", "7"]);
  let runs = 0;
  await runMenu(io, {
    run: () => {
      runs++;
      throw new RuntimeError("Cannot connect to 127.0.0.1:1 (connection refused)");
    },
    available: () => true,
  });
  equal(runs, 1);
  match(io.output(), /error: Cannot connect to 127\.0\.0\.1:1 \(connection refused\)\n/);
  match(io.output(), /what would you like to do\?[^]*what would you like to do\?/);
  // Anything else is a bug, not the user's doing: it is not swallowed.
  await rejects(
    runMenu(scripted(["1"]), {
      run: () => Promise.reject(new TypeError("bug")),
      available: () => true,
    }),
    TypeError,
  );
});

Deno.test("menu: the info entry runs the real connect info", async () => {
  await using server = await startInfo();
  const port = String(server.port(INFO));
  const code = await runMenu(scripted(["info", "TIME", "quit"]), {
    run: connect,
    available: () => true,
    flagsFor: () => ["--info-port", port],
  });
  equal(code, 0);
  await server.waitFor(/^\[Info Server\] TIME from 127\.0\.0\.1:\d+$/);
});

Deno.test({
  name: "menu: Ctrl-C in an entry closes its connections and the menu comes back",
  ignore: !(await hasCommand("python3")),
  async fn() {
    // A UDP socket that never answers, and a timeout far beyond the test's.
    using silent = new UdpFrom();
    const port = String((silent.socket.addr as Deno.NetAddr).port);
    const result = await runInPtySteps(
      ["connect", "--info-port", port, "--timeout", "60s", "--retries", "0"],
      [
        ["Choose 1-7: ", "3\n"],
        ["\\[STATUS\\]: ", "\n"],
        ["Ctrl-C returns to the menu", "\x03"],
        ["Interrupted; back to the menu[\\s\\S]*Choose 1-7: ", "7\n"],
      ],
    );
    ok(result !== null);
    equal(result.code, 0, result.output);
    match(result.output, /Interrupted; back to the menu/);
  },
});

Deno.test({
  name: "menu: on a real terminal, connect with no mode shows the menu",
  // The pseudo-terminal comes from python3's pty module.
  ignore: !(await hasCommand("python3")),
  async fn() {
    await using server = await startInfo();
    const port = String(server.port(INFO));
    const result = await runInPty(["connect", "--info-port", port], "nine\n3\ntime\n7\n");
    ok(result !== null);
    const output = result.output.replaceAll("\r\n", "\n");
    equal(result.code, 0, output);
    match(output, /what would you like to do\?\n {2}1\) Send messages \(random TCP\/UDP\)/);
    match(output, /Unknown choice "nine": type 1-7/);
    match(output, /Command \(STATUS, TIME, USERS, HELP\) \[STATUS\]: /);
    // Typed-ahead input is echoed first, so the entry's note follows the prompt on its line.
    match(output, /\[STATUS\]: \(Ctrl-C returns to the menu\)\ntime: \d{4}-.+\nunix_ms: \d+\n/);
    await server.waitFor(/^\[Info Server\] TIME from 127\.0\.0\.1:\d+$/);
  },
});

Deno.test("docs/info.md: the STATUS examples show what STATUS prints, the engine included", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/info.md", import.meta.url));
  const text = doc.split("**STATUS**")[1]!.split("```")[1]!;
  const services = text.split("\n").filter((line) => line.startsWith("service: "));
  ok(services.length >= 2, text);
  for (const line of services) {
    match(
      line,
      /^service: \[[A-Za-z ]+\] (tcp \S+, \d+ connections? open|udp \S+ \((batch|deno) engine\))$/,
    );
  }
  match(text, /^uptime: (\d+[dhm] )*\d+s$/m);
  const json = doc.split("`STATUS JSON` (")[1]!.split("```json")[1]!.split("```")[0]!;
  for (const service of JSON.parse(json).services) {
    ok(service.transport === "udp" ? "engine" in service : "connections" in service, json);
  }
});
