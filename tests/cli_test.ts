import { deepStrictEqual, doesNotMatch, equal, match, ok } from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { exitRefusal } from "../lib/message/exit.ts";
import {
  hasCommand,
  LineClient,
  portBelowEphemeral,
  PTY_RESIZE,
  runCli,
  runInPtySteps,
  tcpPortClosed,
} from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";

const TCP_REPLY = "[TCP Client] Server responded: [TCP Server] Your message was received!";
const UDP_REPLY = "[UDP Client] Server responded: [UDP Server] Your message was received!";

function messageArgs(server: InProcessServer, ...extra: string[]): string[] {
  return [
    "connect",
    ...extra,
    `--tcp-port=${server.port("[TCP Server]")}`,
    `--udp-port=${server.port("[UDP Server]")}`,
  ];
}

Deno.test("connect --random: lines go over both transports, end of input leaves the server running", async () => {
  await using server = await InProcessServer.start();
  const lines = Array.from({ length: 40 }, (_, i) => `line ${i}`);
  const result = await runCli(messageArgs(server, "--random"), lines.join("\n") + "\n");
  equal(result.code, 0, result.stderr);
  const out = result.stdout.trim().split("\n");
  equal(out.length, 40);
  ok(out.every((line) => line === TCP_REPLY || line === UDP_REPLY), result.stdout);
  ok(out.includes(TCP_REPLY) && out.includes(UDP_REPLY), "both transports used");
  using probe = await LineClient.connect(server.port("[TCP Server]"));
  equal(await probe.request("still running"), "[TCP Server] Your message was received!");
});

Deno.test("connect --tcp and --udp fix the transport", async () => {
  await using server = await InProcessServer.start();
  const tcp = await runCli(messageArgs(server, "--tcp"), "a\nb\n");
  deepStrictEqual(tcp.stdout.trim().split("\n"), [TCP_REPLY, TCP_REPLY]);
  const udp = await runCli(messageArgs(server, "--udp"), "a\nb\n");
  deepStrictEqual(udp.stdout.trim().split("\n"), [UDP_REPLY, UDP_REPLY]);
});

Deno.test("connect: exit goes over both transports, prints the replies, stops the server, exit 0", async () => {
  await using server = await InProcessServer.start([`--tcp-port=${portBelowEphemeral()}`]);
  const tcp = server.port("[TCP Server]");
  const result = await runCli(messageArgs(server, "--random"), "hello\nexit\nnever sent\n");
  equal(result.code, 0, result.stderr);
  const out = result.stdout.trim().split("\n");
  ok(out[0] === TCP_REPLY || out[0] === UDP_REPLY);
  equal(out[1], "[UDP Client] Server responded: [UDP Server] Server shutting down...");
  match(out[2]!, /^\[TCP Client\] /, "the TCP side reports, without failing");
  equal(out[3], "Exiting client...");
  equal(out.length, 4);
  equal((await server.exited()).code, 0);
  ok(await tcpPortClosed(tcp));
});

Deno.test("connect --udp: a missing reply is reported, the client carries on, and exits 1 when none ever came", async () => {
  // A bound UDP socket that never answers stands in for a lost datagram.
  const silent = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (silent.addr as Deno.NetAddr).port;
    const result = await runCli(
      ["connect", "--udp", `--udp-port=${port}`, "--timeout=100ms", "--retries=1"],
      "one\ntwo\n",
    );
    equal(result.code, 1);
    match(result.stderr, /^error: No reply ever came from 127\.0\.0\.1:\d+ over UDP/);
    const out = result.stdout.trim().split("\n");
    equal(out.length, 2);
    for (const line of out) {
      match(line, /^\[UDP Client\] No reply from 127\.0\.0\.1:\d+ after 2 tries/);
    }
  } finally {
    silent.close();
  }
});

Deno.test("cli: usage errors exit 2 and name the flag or value, without a stack trace", async () => {
  const cases: [string[], RegExp][] = [
    [["serve", "--bogus"], /Unknown flag "--bogus"/],
    [["serve", "--tcp-port", "70000"], /Invalid value "70000" for --tcp-port/],
    [
      ["serve", "--exit-from", "maybe"],
      /Invalid value "maybe" for --exit-from: expected one of local, any, none/,
    ],
    [["serve", "--services", "message,ftp"], /Invalid value "ftp" for --services/],
    [["serve", "--idle-timeout", "soon"], /Invalid value "soon" for --idle-timeout/],
    [["serve", "--max-message", "0"], /Invalid value "0" for --max-message/],
    [["serve", "--host"], /Flag "--host" needs a value/],
    [["serve", "extra"], /Unexpected argument "extra"/],
    [["connect", "--tcp", "--udp"], /Choose one of --random, --tcp, --udp/],
    [
      ["connect", "--random", "--retries", "-1"],
      /Invalid value "-1" for --retries: expected a whole number from 0 to 100\n.*'socketkit connect --help'/,
    ],
    [
      ["serve", "--info-rate", "-3"],
      /Invalid value "-3" for --info-rate: expected a number of 0 or more.*\n.*'socketkit serve --help'/,
    ],
    [
      ["connect", "info", "--timeout", "-1s"],
      /Invalid value "-1s" for --timeout: .*\n.*'socketkit connect info --help'/,
    ],
    [["serve", "--max-conns", "0"], /--max-conns: expected a whole number of 1 or more\n/],
    [["connect"], /Choose a mode/],
    [["connect", "teleport"], /Unknown mode "teleport"/],
    [["frobnicate"], /Unknown command "frobnicate"/],
  ];
  // Each case is its own process: run them side by side, check them in order.
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  for (const [i, [args, expected]] of cases.entries()) {
    const result = results[i]!;
    equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    match(result.stderr, expected);
    match(result.stderr, /Run 'socketkit.*--help' for usage/);
    doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
  }
});

Deno.test("cli: --help on every command, --version", async () => {
  const [help, serve, connect, version] = await Promise.all(
    [["--help"], ["serve", "--help"], ["connect", "-h"], ["--version"]].map((args) => runCli(args)),
  );
  for (const result of [help!, serve!, connect!]) {
    equal(result.code, 0);
    match(result.stdout, /Usage: socketkit/);
  }
  const serveHelp = serve!.stdout;
  for (
    const flag of [
      "--host",
      "--tcp-port",
      "--udp-port",
      "--chat-port",
      "--info-port",
      "--file-port",
      "--files-dir",
      "--services",
      "--exit-from",
    ]
  ) {
    match(serveHelp, new RegExp(`${flag} `));
  }
  match(serveHelp, /--tcp-port PORT\s+TCP message service port[^]*?\(default: 65432\)/);
  equal(version!.stdout.trim(), `socketkit ${denoJson.version}`);
});

Deno.test("exit policy: local refuses peers off this machine, accepts loopback in every form", () => {
  for (const host of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]) {
    equal(exitRefusal("local", host), null, host);
  }
  for (const host of ["10.0.0.5", "192.168.1.2", "::ffff:10.0.0.1", "fe80::1", "128.0.0.1"]) {
    match(exitRefusal("local", host)!, /only clients on this machine/, host);
  }
  equal(exitRefusal("any", "203.0.113.9", true), null, "with the token, any peer");
  match(exitRefusal("any", "203.0.113.9")!, /only on a server with a token/, "without, local only");
  equal(exitRefusal("any", "::ffff:127.0.0.1"), null);
  match(exitRefusal("none", "127.0.0.1")!, /does not accept exit/);
});

Deno.test("cli: --help fits 80 columns when stdout is not a terminal", async () => {
  const results = await Promise.all(
    [["serve", "--help"], ["connect", "--help"], ["connect", "download", "--help"]].map((args) =>
      runCli(args)
    ),
  );
  for (const result of results) {
    equal(result.code, 0, result.stderr);
    const long = result.stdout.split("\n").filter((line) => line.length > 80);
    deepStrictEqual(long, []);
  }
});

Deno.test({
  name: "cli: --help on a terminal wraps to its width",
  // The pseudo-terminal comes from python3's pty module.
  ignore: !(await hasCommand("python3")),
  async fn() {
    // Made 60 columns wide before the program asks.
    const result = await runInPtySteps(["connect", "download", "--help"], [[
      "",
      `${PTY_RESIZE}60`,
    ]]);
    ok(result !== null);
    equal(result.code, 0, result.output);
    // Deno clears its own progress line first ("\x1b[2K\x1b[J").
    const text = result.output.replaceAll("\r\n", "\n").split("\x1b[J").at(-1)!;
    const lines = text.trimEnd().split("\n");
    deepStrictEqual(lines.filter((line) => line.length > 60), []);
    match(result.output, /--output PATH/);
  },
});
