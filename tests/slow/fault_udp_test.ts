/**
 * UDP floods: datagrams of every size from many source ports at once to both
 * UDP services, with and without a token. A witness on another address asks
 * throughout (with retries, as any UDP client must); afterwards both services
 * answer, memory stayed bounded, and a server with a token sent back no more
 * than its rate-limited refusals (no amplification).
 */
import { equal, ok } from "node:assert/strict";
import {
  ACK_UDP,
  caseRng,
  checkHealthy,
  checkMemory,
  LABELS,
  report,
  scale,
  SEED,
  startTarget,
  udpWitness,
} from "../_fault.ts";
import { signed, TOKEN, writeSecretFile } from "../_security.ts";
import { padded, type ProcessOptions, UdpFrom } from "../_helpers.ts";
import { ENGINE_RUNS } from "../_udp_engines.ts";

const UDP_LABELS = [LABELS.udp, LABELS.info] as const;

interface Flood {
  sent: number;
  /** Replies the flooders read back (only when asked to read). */
  replies: number;
  ms: number;
}

/**
 * `sockets` sockets (so as many source ports) each send `each` datagrams to
 * the ports, as fast as they go: sizes from 0 to 1400 bytes, 2% at the UDP
 * maximum of 65,507. With `read`, each socket also counts the replies it gets.
 */
async function flood(
  ports: number[],
  sockets: number,
  each: number,
  options: { read?: boolean } = {},
): Promise<Flood> {
  const peers = Array.from({ length: sockets }, () => new UdpFrom("127.0.0.1"));
  const started = performance.now();
  let sent = 0;
  let replies = 0;
  const readers = options.read
    ? peers.map(async (peer) => {
      while ((await peer.receive(1500)) !== null) replies++;
    })
    : [];
  try {
    await Promise.all(peers.map(async (peer, s) => {
      const rng = caseRng(SEED, 100, s);
      for (let i = 0; i < each; i++) {
        const datagram = rng.bytes(rng.chance(0.02) ? 65_507 : rng.int(1401));
        try {
          await peer.send(ports[(s + i) % ports.length]!, datagram);
          sent++;
        } catch {
          // ENOBUFS and the like: the sender's own limit, not the server's.
        }
      }
    }));
    await Promise.all(readers);
  } finally {
    for (const peer of peers) peer[Symbol.dispose]();
  }
  return { sent, replies, ms: performance.now() - started };
}

for (const { engine, args, options, skip } of ENGINE_RUNS) {
  Deno.test({
    name:
      `fault (${engine} engine): a UDP flood from many source ports; both services keep answering others`,
    ignore: skip !== null,
    fn: () => floodFromManyPorts(engine, args, options),
  });
  Deno.test({
    name:
      `fault (${engine} engine): an unauthenticated UDP flood gets only a trickle of short refusals`,
    ignore: skip !== null,
    fn: () => floodWithoutToken(engine, args, options),
  });
}

async function floodFromManyPorts(
  engine: string,
  engineArgs: string[],
  options: ProcessOptions,
): Promise<void> {
  await using server = await startTarget(
    ["--max-message", "1KiB", "--services", "message,info", ...engineArgs],
    [LABELS.tcp, ...UDP_LABELS],
    { process: options },
  );
  const ports = UDP_LABELS.map((label) => server.port(label));
  const witnessRun = (async () => {
    const message = await udpWitness(server.port(LABELS.udp), 30, (reply) => reply === ACK_UDP);
    const info = await udpWitness(
      server.port(LABELS.info),
      10,
      (reply) => reply.startsWith("time: "),
      () => "TIME",
    );
    return { answered: message.answered + info.answered, lost: message.lost + info.lost };
  })();
  const attack = await flood(ports, scale(200, 2000), scale(50, 250));
  const witness = await witnessRun;
  const status = await checkHealthy(server, [LABELS.tcp, ...UDP_LABELS]) as {
    messages: { udp: number; udpDropped: number };
    info: { dropped: number };
  };
  equal(witness.lost, 0, "the witness on another address always got through");
  ok(
    status.messages.udp > 0 && status.messages.udpDropped > 0 && status.info.dropped > 0,
    JSON.stringify(status),
  );
  const peakMb = await checkMemory(server, 300);
  report({
    name: `UDP flood (message and info, many source ports, ${engine} engine)`,
    datagrams: attack.sent,
    cases: attack.sent,
    witnessed: witness.answered,
    lost: witness.lost,
    peakMb,
    ms: attack.ms,
    note: `message answered ${status.messages.udp} and dropped ${status.messages.udpDropped} ` +
      `over --udp-rate, info dropped ${status.info.dropped} over --info-rate (the rest dropped ` +
      `by the kernel under the flood)`,
  });
}

async function floodWithoutToken(
  engine: string,
  engineArgs: string[],
  options: ProcessOptions,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "socketkit-udp-flood-" });
  try {
    const tokenFile = await writeSecretFile(dir, "token", TOKEN);
    await using server = await startTarget(
      ["--token-file", tokenFile, "--services", "message,info", ...engineArgs],
      [LABELS.tcp, ...UDP_LABELS],
      { process: options },
    );
    const ports = UDP_LABELS.map((label) => server.port(label));
    const attack = await flood(ports, scale(50, 500), scale(100, 400), { read: true });
    // One source address: a burst of 4 refusals, then 2 a second (see Guard).
    const seconds = attack.ms / 1000 + 1.5;
    ok(attack.replies <= 4 + 2 * seconds + 2, `${attack.replies} refusals in ${seconds} s`);
    using peer = new UdpFrom("127.0.0.2");
    equal(await peer.request(server.port(LABELS.udp), signed("still there")), ACK_UDP);
    const reply = await peer.request(server.port(LABELS.info), signed(padded("STATUS JSON")));
    const status = JSON.parse(reply!) as { security: { authFailures: number } };
    ok(status.security.authFailures > 0);
    const peakMb = await checkMemory(server, 300);
    report({
      name: `UDP flood without the token (${engine} engine)`,
      datagrams: attack.sent,
      cases: attack.sent,
      peakMb,
      ms: attack.ms,
      note: `${attack.replies} refusals sent back for ${status.security.authFailures} ` +
        `datagrams counted as failed authentications`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
