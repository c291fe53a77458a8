/**
 * No UDP reply is worth reflecting: every reply of the info and message
 * services, error replies and token refusals included, is at most 3x its
 * request on the wire (IP and UDP headers counted), whatever the source, and
 * a short request still gets a useful answer that says how to get the rest.
 */
import { equal, match, ok } from "node:assert/strict";
import { encode } from "../lib/base/text.ts";
import { MAX_REPLY, PAD_HINT, PADDED_REQUEST } from "../lib/info/protocol.ts";
import { replyBudget, requestFor, wireFactor } from "../lib/net/amplification.ts";
import { udpMessageHandler } from "../lib/message/udp_handler.ts";
import { MESSAGE_FLAGS, parseMessageConfig } from "../lib/message/config.ts";
import { parseFlags } from "../lib/base/flags.ts";
import { Logger } from "../lib/base/logger.ts";
import type { ServiceDeps } from "../lib/service.ts";
import { LineClient, padded, runCli, UdpFrom } from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";
import { TOKEN, writeSecretFile } from "./_security.ts";

const INFO = "[Info Server]";
const UDP = "[UDP Server]";
const CHAT = "[Chat Server]";

/** Sends `request` from a fresh source and returns the reply's bytes (null: none). */
async function exchange(port: number, request: Uint8Array): Promise<Uint8Array | null> {
  using peer = new UdpFrom();
  const reply = await peer.request(port, request);
  return reply === null ? null : encode(reply);
}

/** Asserts the reply to `request` is within 3x on the wire; returns its text. */
async function within3x(port: number, request: string | Uint8Array): Promise<string> {
  const bytes = typeof request === "string" ? encode(request) : request;
  const reply = await exchange(port, bytes);
  ok(reply !== null, `no reply to ${JSON.stringify(request)}`);
  const factor = wireFactor(bytes.length, reply.length);
  ok(
    factor <= 3,
    `${JSON.stringify(request)} (${bytes.length} bytes) got ${reply.length} bytes: ${
      factor.toFixed(2)
    }x on the wire`,
  );
  return new TextDecoder().decode(reply);
}

/** Every request an unpadded client, or a forger, might send to the info service. */
const INFO_REQUESTS: (string | Uint8Array)[] = [
  new Uint8Array(0),
  "x",
  "\x1b\x1b",
  "STATUS",
  "status\n",
  "STATUS JSON",
  "TIME",
  "TIME JSON",
  "USERS",
  "USERS JSON",
  "HELP",
  "HELP JSON",
  "FOO",
  "FOO JSON",
  "\x1b".repeat(20),
  "y".repeat(64),
  "z".repeat(65),
  crypto.getRandomValues(new Uint8Array(3)),
  crypto.getRandomValues(new Uint8Array(30)),
];

Deno.test("amplification: the budget is 3x on the wire, and a padded request buys any reply", () => {
  equal(replyBudget(0), 56);
  equal(replyBudget(6), 74);
  ok(wireFactor(0, replyBudget(0)) <= 3);
  ok(requestFor(MAX_REPLY) <= PADDED_REQUEST);
  ok(replyBudget(PADDED_REQUEST) >= MAX_REPLY);
});

Deno.test("amplification: every info reply is at most 3x its request on the wire", async () => {
  await using server = await InProcessServer.start(
    ["--services", "chat,info,message", "--info-rate", "0", "--udp-rate", "0"],
    [CHAT, INFO, UDP, "[TCP Server]"],
  );
  // Sixty members with the longest names there are: the longest USERS.
  const members: LineClient[] = [];
  try {
    for (let i = 0; i < 60; i++) {
      const member = await LineClient.connect(server.port(CHAT));
      members.push(member);
      ok((await member.readLine()) !== null, "no welcome line");
      await member.send(`member-${String(i).padStart(2, "0")}-${"n".repeat(22)}\n`);
    }
    await server.waitFor(/^\[Chat Server\] member-59-n+ joined from /);
    const port = server.port(INFO);
    for (const request of INFO_REQUESTS) await within3x(port, request);

    // Short answers are still answers, and say how to get the whole one.
    match(await within3x(port, "STATUS"), new RegExp(`^version: .*\\nuptime: .*\\n${PAD_HINT}$`));
    match(await within3x(port, "USERS"), new RegExp(`^users: 60\\n${PAD_HINT}$`));
    match(await within3x(port, "HELP"), /^commands: STATUS, TIME, USERS, HELP\n/);
    match(await within3x(port, "TIME"), /^time: .*\nunix_ms: \d+$/);
    const json = JSON.parse(await within3x(port, "STATUS JSON"));
    equal(json.command, "STATUS");
    equal(json.pad, PADDED_REQUEST);
    equal(JSON.parse(await within3x(port, "USERS JSON")).count, 60);
    match(await within3x(port, "FOO"), /^ERROR unknown command "FOO": try /);

    // Padded (as connect info does, or with spaces, or after a newline): the whole reply.
    const whole = await within3x(port, padded("STATUS"));
    match(whole, /^service: \[Chat Server\] tcp /m);
    match(await within3x(port, "USERS\n" + ".".repeat(PADDED_REQUEST)), /^member-/m);
    ok(JSON.parse(await within3x(port, padded("STATUS JSON"))).services.length >= 4);
  } finally {
    for (const member of members) member.close();
  }
});

Deno.test("amplification: every UDP message reply is at most 3x its request", async () => {
  const args = ["--services", "message", "--udp-rate", "0", "--exit-from", "none"];
  {
    await using server = await InProcessServer.start([...args, "--max-message", "1"]);
    const port = server.port(UDP);
    for (const request of [new Uint8Array(0), "x", "ab", "EXIT\n", "x".repeat(100)]) {
      await within3x(port, request);
    }
    equal(await within3x(port, "ab"), "[UDP Server] Error: message too long");
  }
  await using server = await InProcessServer.start(args);
  const port = server.port(UDP);
  for (const request of [new Uint8Array(0), "x", "exit", "EXIT\n", "x".repeat(100)]) {
    await within3x(port, request);
  }
  // A refused exit from connect comes padded, and gets its reason.
  match(await within3x(port, "exit".padEnd(64)), /^\[UDP Server\] Refusing exit: .*none/);
  equal(await within3x(port, "exit"), "[UDP Server] Refusing exit");
});

Deno.test("amplification: a refused exit from another machine, under every policy", async () => {
  const log = new Logger({ quiet: true, sink: { write: (b) => Promise.resolve(b.length) } });
  const far = { transport: "udp" as const, hostname: "192.0.2.1", port: 5000 };
  for (const policy of ["any", "local", "none"]) {
    const flags = parseFlags(
      { name: "t", usage: [], summary: "", flags: MESSAGE_FLAGS },
      ["--exit-from", policy],
    );
    const handler = udpMessageHandler(
      parseMessageConfig(flags),
      { log } as unknown as ServiceDeps,
      { tcp: 0, udp: 0, udpDropped: 0 },
      { accepted: () => {} } as never,
    );
    for (const request of ["exit", "exit".padEnd(64)]) {
      const bytes = encode(request);
      const reply = handler.handle(
        { admitted: true, payload: bytes, authenticated: false },
        far,
        replyBudget(bytes.length),
      );
      ok(reply !== null);
      ok(wireFactor(bytes.length, reply.length) <= 3, `${policy}: ${reply.length} bytes`);
    }
  }
  await log.flush();
});

Deno.test("amplification: token refusals are at most 3x their request", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tokenFile = await writeSecretFile(dir, "token", TOKEN + "\n");
    await using server = await InProcessServer.start(
      ["--services", "message,info", "--token-file", tokenFile],
      ["[TCP Server]", UDP, INFO],
    );
    for (const port of [server.port(UDP), server.port(INFO)]) {
      equal(await within3x(port, new Uint8Array(0)), "AUTH REQUIRED");
      equal(await within3x(port, "AUTH wrong\nSTATUS"), "AUTH FAILED");
    }
    match(await within3x(server.port(INFO), padded(`AUTH ${TOKEN}\nSTATUS`)), /^service: /m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("amplification: connect --udp pads its exit, so a refusal shows its reason", async () => {
  await using server = await InProcessServer.start([
    "--services",
    "message",
    "--exit-from",
    "none",
  ]);
  const result = await runCli(
    ["connect", "--udp", "--udp-port", String(server.port(UDP))],
    "exit\n",
  );
  match(
    result.stdout,
    /\[UDP Server\] Refusing exit: this server does not accept exit \(--exit-from none\)/,
  );
});
