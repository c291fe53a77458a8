/**
 * Fuzz: thousands of random and malformed inputs, reproducible from the
 * printed seed, on every TCP service (message, chat, files, the AUTH line,
 * the TLS handshake) and as datagrams to both UDP services, while witnesses
 * keep using the server. Afterwards every service must still answer
 * correctly, no witness operation may have been lost, no raw control
 * character may have reached the log or another member, and memory must
 * have stayed bounded.
 */
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { decodeLenient, encode } from "../../lib/base/text.ts";
import {
  ACK_TCP,
  ATTACK_MS,
  caseRng,
  ChatWitness,
  checkHealthy,
  checkMemory,
  closeQuiet,
  drain,
  fuzzPayload,
  LABELS,
  MessageWitness,
  pool,
  RAW_CONTROL,
  report,
  type Rng,
  scale,
  SEED,
  sendQuiet,
  startTarget,
  tryConnect,
  udpWitness,
} from "../_fault.ts";
import { makeTestCerts, RawClient, TOKEN, writeSecretFile } from "../_security.ts";
import { type ProcessOptions, UdpFrom } from "../_helpers.ts";
import { ENGINE_RUNS } from "../_udp_engines.ts";

console.log(`fuzz seed ${SEED} (replay with SOCKETKIT_FUZZ_SEED=${SEED})`);

/** What the TCP fuzzer did and saw. */
interface TcpTally {
  cases: number;
  connections: number;
  refused: number;
  resets: number;
  held: number;
  /** Replies that carried a raw control character (must stay 0). */
  unsafe: number;
}

/**
 * One fuzz case over TCP: connect, optionally join the chat, send the payload
 * in a few chunks, then either reset (close with replies unread), half-close
 * and read the replies, or keep the connection open until the batch ends.
 */
async function fuzzTcpCase(
  port: number,
  rng: Rng,
  tally: TcpTally,
  kept: Deno.Conn[],
  options: { prefix?: (rng: Rng, i: number) => string; checkReplies?: boolean } = {},
): Promise<void> {
  tally.cases++;
  const conn = await tryConnect(port);
  if (conn === null) {
    tally.refused++;
    return;
  }
  tally.connections++;
  const prefix = options.prefix?.(rng, tally.cases) ?? "";
  const payload = fuzzPayload(rng);
  const chunks = 1 + rng.int(4);
  const whole = prefix === "" ? payload : new Uint8Array([...encode(prefix), ...payload]);
  const mode = rng.int(10);
  try {
    for (let i = 0; i < chunks; i++) {
      const from = Math.floor((whole.length * i) / chunks);
      const to = Math.floor((whole.length * (i + 1)) / chunks);
      if (!(await sendQuiet(conn, whole.subarray(from, to)))) return;
    }
    if (mode < 4) {
      tally.resets++; // closed with the replies unread: the kernel sends a reset
      return;
    }
    if (mode < 9) {
      await conn.closeWrite().catch(() => {});
      const reply = decodeLenient(await drain(conn, 300));
      if (options.checkReplies !== false && RAW_CONTROL.test(reply)) {
        tally.unsafe++;
        if (Deno.env.get("FUZZ_DEBUG")) {
          console.log("UNSAFE", port, JSON.stringify(reply.slice(0, 300)));
        }
      }
      return;
    }
    tally.held++;
    kept.push(conn);
  } finally {
    if (!kept.includes(conn)) closeQuiet(conn);
  }
}

async function fuzzTcp(
  port: number,
  count: number,
  stream: number,
  options: Parameters<typeof fuzzTcpCase>[4] = {},
): Promise<TcpTally> {
  const tally: TcpTally = { cases: 0, connections: 0, refused: 0, resets: 0, held: 0, unsafe: 0 };
  const kept: Deno.Conn[] = [];
  await pool(count, 24, async (index) => {
    await fuzzTcpCase(port, caseRng(SEED, stream, index), tally, kept, options);
    // The held ones go in batches, so some are always open while others arrive.
    if (kept.length >= 50) { for (const conn of kept.splice(0)) closeQuiet(conn); }
  }, ATTACK_MS);
  for (const conn of kept) closeQuiet(conn);
  return tally;
}

/** Sends `count` fuzz datagrams from a few sockets; returns how many replies had raw controls. */
async function fuzzUdp(
  port: number,
  count: number,
  stream: number,
): Promise<{ unsafe: number; sent: number }> {
  const peers = Array.from({ length: 8 }, () => new UdpFrom());
  let unsafe = 0;
  const until = Date.now() + ATTACK_MS;
  let i = 0;
  try {
    for (; i < count || Date.now() < until; i++) {
      const peer = peers[i % peers.length]!;
      const rng = caseRng(SEED, stream, i);
      const payload = rng.chance(0.02) ? new Uint8Array(65_507).fill(0x58) : fuzzPayload(rng, 2000);
      await peer.send(port, payload.subarray(0, 65_507));
      // Every 8th: wait for that reply, so the flood stays within what the
      // socket buffers hold (the flood test is fault_udp_test.ts).
      if (i % 8 === 7) {
        const reply = await peer.receive(1000);
        if (reply !== null && RAW_CONTROL.test(reply)) unsafe++;
      }
    }
  } finally {
    for (const peer of peers) peer[Symbol.dispose]();
  }
  return { unsafe, sent: i };
}

for (const { engine, args, options, skip } of ENGINE_RUNS) {
  Deno.test({
    name:
      `fault (${engine} engine): fuzz every TCP service and both UDP services; witnesses lose nothing`,
    ignore: skip !== null,
    fn: () => fuzzEveryService(engine, args, options),
  });
}

async function fuzzEveryService(
  engine: string,
  engineArgs: string[],
  options: ProcessOptions,
): Promise<void> {
  const started = performance.now();
  // Not --quiet: every message is logged, so the log's escaping is fuzzed too.
  await using server = await startTarget(
    ["--info-rate", "0", "--udp-rate", "0", ...engineArgs],
    undefined,
    { quiet: false, process: options },
  );
  const witness = new MessageWitness(server.port(LABELS.tcp), 20);
  const chat = await ChatWitness.start(server.port(LABELS.chat), 250, "f");
  const counts = {
    message: scale(500, 5000),
    chat: scale(500, 5000),
    files: scale(300, 3000),
    udp: scale(1500, 15000),
  };
  const results = await Promise.all([
    fuzzTcp(server.port(LABELS.tcp), counts.message, 1),
    // Half the chat cases join first, so their lines are broadcast to the witness.
    fuzzTcp(server.port(LABELS.chat), counts.chat, 2, {
      prefix: (rng, i) => (rng.chance(0.5) ? `fz${i}\n` : ""),
    }),
    // File replies carry file bytes (a fuzz PUT stores some), so no text check there.
    fuzzTcp(server.port(LABELS.files), counts.files, 3, { checkReplies: false }),
    fuzzUdp(server.port(LABELS.udp), counts.udp, 4),
    fuzzUdp(server.port(LABELS.info), counts.udp, 5),
  ]);
  await witness.stop();
  await chat.stop();
  const [message, chatTally, files, udp, info] = results;
  const udpCheck = await udpWitness(
    server.port(LABELS.udp),
    20,
    (reply) => reply === "[UDP Server] Your message was received!",
  );
  const status = await checkHealthy(server) as { messages: { tcp: number; udp: number } };
  const peakMb = await checkMemory(server, 300);
  const tcpTallies = [message, chatTally, files];
  equal(tcpTallies.reduce((n, t) => n + t.unsafe, 0), 0, "raw control characters in replies");
  equal(udp.unsafe + info.unsafe, 0, "raw control characters in UDP replies");
  equal(chat.unsafe, 0, "raw control characters reached a chat member");
  equal(witness.lost, 0, `TCP witness lost ${witness.lost} of ${witness.sent}`);
  equal(chat.lost, 0, `chat witness lost ${chat.lost} of ${chat.posted}`);
  equal(udpCheck.lost, 0);
  ok(witness.acked >= 20 && chat.received >= 5, "the witnesses ran during the attack");
  ok(status.messages.udp > 0);
  report({
    name: `fuzz (message, chat, files over TCP; message and info over UDP, ${engine} engine)`,
    cases: tcpTallies.reduce((n, t) => n + t.cases, 0) + udp.sent + info.sent,
    connections: tcpTallies.reduce((n, t) => n + t.connections, 0),
    datagrams: udp.sent + info.sent,
    faults: tcpTallies.reduce((n, t) => n + t.resets + t.held, 0),
    witnessed: witness.acked + chat.received + udpCheck.answered,
    lost: witness.lost + chat.lost + udpCheck.lost,
    peakMb,
    ms: performance.now() - started,
    note: `${tcpTallies.reduce((n, t) => n + t.refused, 0)} connects refused`,
  });
}

Deno.test("fault: fuzz the AUTH line, token-carrying datagrams and the TLS handshake", async () => {
  const rng = caseRng(SEED, 6, 0);
  const started = performance.now();
  const dir = await Deno.makeTempDir({ prefix: "socketkit-fuzz-auth-" });
  const certs = await makeTestCerts();
  try {
    const tokenFile = await writeSecretFile(dir, "token", TOKEN);
    const tls = certs ? ["--tls-cert", certs.cert, "--tls-key", certs.key] : [];
    await using guarded = await startTarget(
      [
        "--token-file",
        tokenFile,
        "--auth-timeout",
        "500ms",
        "--max-auth-failures",
        "0", // so every case reaches the AUTH parser instead of a cool-down
        "--services",
        "message,chat,info",
      ],
      [LABELS.tcp, LABELS.udp, LABELS.chat, LABELS.info],
      { filesDir: join(dir, "files") },
    );
    const witness = new MessageWitness(guarded.port(LABELS.tcp), 20, [`AUTH ${TOKEN}\n`]);
    // Some cases start with a real AUTH line, so the fuzz reaches the services behind it.
    const prefix = (rng: Rng) =>
      rng.pick(["", "", `AUTH ${TOKEN}\n`, "AUTH \n", `auth ${TOKEN.slice(0, 10)}\n`, "AUTH"]);
    const [message, chat] = await Promise.all([
      fuzzTcp(guarded.port(LABELS.tcp), scale(400, 4000), 7, { prefix }),
      fuzzTcp(guarded.port(LABELS.chat), scale(300, 3000), 8, { prefix }),
    ]);
    // Datagrams with and without the token line, and with a broken one.
    using peer = new UdpFrom();
    const datagrams = scale(600, 6000);
    for (let i = 0; i < datagrams; i++) {
      const head = rng.pick(["", `AUTH ${TOKEN}\n`, "AUTH wrong\n", "AUTH\n", `AUTH ${TOKEN}`]);
      await peer.send(
        rng.chance(0.5) ? guarded.port(LABELS.udp) : guarded.port(LABELS.info),
        new Uint8Array([...encode(head), ...fuzzPayload(rng, 1000)]).subarray(0, 65_507),
      );
      if (i % 8 === 7) await peer.receive(500);
    }
    await witness.stop();
    equal(witness.lost, 0, `witness lost ${witness.lost}`);
    using check = await RawClient.tcp(guarded.port(LABELS.tcp));
    equal(await check.auth(), "AUTH OK");
    equal(await check.request("after the fuzz"), ACK_TCP);
    let tlsCases = 0;
    let tlsPeak = 0;
    if (certs) {
      await using tlsServer = await startTarget(
        [
          ...tls,
          "--token-file",
          tokenFile,
          "--services",
          "message",
          "--auth-timeout",
          "500ms",
          "--max-auth-failures",
          "0",
        ],
        [LABELS.tcp, LABELS.udp],
        { filesDir: join(dir, "files2") },
      );
      // Random bytes where a ClientHello should be.
      const tally = await fuzzTcp(tlsServer.port(LABELS.tcp), scale(300, 3000), 9, {
        checkReplies: false,
      });
      tlsCases = tally.cases;
      const ca = await Deno.readTextFile(certs.ca);
      const conn = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: tlsServer.port(LABELS.tcp),
        caCerts: [ca],
      });
      using client = new RawClient(conn);
      equal(await client.auth(), "AUTH OK");
      equal(await client.request("tls still fine"), ACK_TCP);
      tlsPeak = await checkMemory(tlsServer, 300);
    } else {
      console.log("skipping the TLS handshake fuzz: openssl is not installed");
    }
    const unsafe = [...guarded.lines].filter((line) => RAW_CONTROL.test(line));
    equal(unsafe.length, 0);
    const peakMb = Math.max(await checkMemory(guarded, 300), tlsPeak);
    report({
      name: "fuzz (AUTH line over TCP, token datagrams, TLS handshake)",
      cases: message.cases + chat.cases + datagrams + tlsCases,
      connections: message.connections + chat.connections + tlsCases,
      datagrams,
      faults: message.resets + chat.resets + message.held + chat.held,
      witnessed: witness.acked,
      lost: witness.lost,
      peakMb,
      ms: performance.now() - started,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    if (certs) await Deno.remove(certs.dir, { recursive: true });
  }
});
