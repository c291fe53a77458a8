/**
 * Connection-level faults (the slow tier: thousands of connections, attacks
 * paced by the clock, deadlines waited out): thousands of idle connections
 * held at once, slowloris on every phase that waits for a client (a message line, a chat
 * name, the AUTH line, the TLS handshake), and connections reset in the
 * middle of a message, a chat line and a file transfer. Witnesses keep using
 * the server throughout; afterwards every service must answer correctly,
 * nothing may be lost and memory must have stayed bounded.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { encode } from "../../lib/base/text.ts";
import {
  ACK_TCP,
  ChatWitness,
  checkHealthy,
  checkMemory,
  closeQuiet,
  drain,
  joinChat,
  LABELS,
  MessageWitness,
  openFds,
  pool,
  report,
  scale,
  sendQuiet,
  sha256,
  sleep,
  startTarget,
  tally,
  tryConnect,
} from "../_fault.ts";
import { LineClient, padded, runCli } from "../_helpers.ts";
import { makeTestCerts, RawClient, TOKEN, writeSecretFile } from "../_security.ts";
import { UdpFrom } from "../_helpers.ts";

interface Status {
  services: { label: string; connections?: number }[];
  security: { refusedConnections: number; authFailures: number; tlsFailures: number };
  files: { stored: number };
}

async function statusOf(port: number): Promise<Status> {
  using peer = new UdpFrom("127.0.0.2");
  const reply = await peer.request(port, padded("STATUS JSON"));
  ok(reply !== null, "no STATUS");
  return JSON.parse(reply) as Status;
}

function open(status: Status, label: string): number {
  return status.services.find((service) => service.label === label)?.connections ?? 0;
}

/**
 * Resolves once the service on `port` has accepted every connection opened
 * to it before this call: a listener accepts in order, so when a new client
 * is served (an ack, chat's welcome, a LIST reply), the earlier ones are in.
 */
async function acceptedSoFar(label: string, port: number): Promise<void> {
  if (label === LABELS.chat) {
    using probe = await RawClient.tcp(port);
    ok((await probe.readLine())?.startsWith("! Welcome"));
    return;
  }
  using probe = await LineClient.connect(port);
  const request = label === LABELS.files ? "LIST" : "probe";
  ok((await probe.request(request)) !== null, `${label} answered`);
}

/**
 * Waits (bounded) until `check` holds, asking again every 50 ms; the last
 * value. Only for what the server gives no sign of: a closed connection
 * forgotten, a silent TLS handshake counted as failed after --auth-timeout.
 */
async function eventually<T>(get: () => Promise<T>, check: (value: T) => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  let value = await get();
  while (!check(value) && Date.now() < deadline) {
    await sleep(50);
    value = await get();
  }
  return value;
}

Deno.test("fault: thousands of idle connections held at once; every service still answers", async () => {
  const total = scale(2000, 10_000);
  const started = performance.now();
  await using server = await startTarget(["--max-conns", String(total + 500)]);
  const witness = new MessageWitness(server.port(LABELS.tcp), 20);
  const chat = await ChatWitness.start(server.port(LABELS.chat), 250, "i");
  const share: [string, number][] = [
    [LABELS.tcp, Math.floor(total * 0.45)],
    [LABELS.chat, Math.floor(total * 0.35)],
    [LABELS.files, total - Math.floor(total * 0.45) - Math.floor(total * 0.35)],
  ];
  const held: Deno.TcpConn[] = [];
  let refused = 0;
  try {
    for (const [label, count] of share) {
      await pool(count, 100, async () => {
        const conn = await tryConnect(server.port(label));
        if (conn === null) refused++;
        else held.push(conn);
      });
    }
    const openedMs = performance.now() - started;
    equal(refused, 0);
    for (const [label] of share) await acceptedSoFar(label, server.port(label));
    const status = await statusOf(server.port(LABELS.info));
    for (const [label, count] of share) ok(open(status, label) >= count, `${label} holds ${count}`);
    // Everything works while they are all open.
    await checkHealthy(server);
    await witness.stop();
    await chat.stop();
    equal(witness.lost + chat.lost, 0);
    const peakMb = await checkMemory(server, scale(400, 1500));
    report({
      name: "idle connections",
      held: held.length,
      connections: held.length,
      witnessed: witness.acked + chat.received,
      lost: witness.lost + chat.lost,
      peakMb,
      ms: openedMs,
      note: `${share.map(([label, n]) => `${n} ${label}`).join(", ")}`,
    });
  } finally {
    for (const conn of held) closeQuiet(conn);
  }
  const after = await eventually(
    () => statusOf(server.port(LABELS.info)),
    (s) => open(s, LABELS.tcp) + open(s, LABELS.chat) + open(s, LABELS.files) === 0,
  );
  equal(open(after, LABELS.tcp) + open(after, LABELS.chat) + open(after, LABELS.files), 0);
});

Deno.test("fault: slowloris on every waiting phase is cut off by its deadline or held within its cap", async (t) => {
  const count = scale(100, 1000);
  const drip = scale(50, 500); // ms between bytes
  const dir = await Deno.makeTempDir({ prefix: "socketkit-slowloris-" });
  const tokenFile = await writeSecretFile(dir, "token", TOKEN);
  const certs = await makeTestCerts();
  let faults = 0;
  const started = performance.now();
  let peakMb = 0;
  try {
    /**
     * Opens `count` connections that each send `text` one byte per `drip` ms
     * until the server closes them (or the text ends, then wait `waitMs`).
     */
    const dribble = (port: number, text: string, waitMs = 10_000) =>
      Promise.all(Array.from({ length: count }, async () => {
        const conn = await tryConnect(port);
        if (conn === null) return;
        try {
          for (const byte of encode(text)) {
            if (!(await sendQuiet(conn, new Uint8Array([byte])))) break;
            await sleep(drip);
          }
          await drain(conn, waitMs);
        } finally {
          closeQuiet(conn);
        }
      }));
    const logged = (server: { lines: string[] }, pattern: RegExp) =>
      server.lines.filter((line) => pattern.test(line)).length;

    await t.step("a chat name, a byte at a time: closed at --chat-name-timeout", async () => {
      await using server = await startTarget(
        ["--chat-name-timeout", "1s", "--services", "chat,info"],
        [LABELS.chat, LABELS.info],
        { quiet: false },
      );
      const chat = await ChatWitness.start(server.port(LABELS.chat), 200, "s");
      const t0 = performance.now();
      await dribble(server.port(LABELS.chat), "x".repeat(400));
      ok(performance.now() - t0 < 8000, "cut off by the deadline, not by the dribble ending");
      equal(logged(server, /gave no name in time; closing$/), count);
      faults += count;
      await chat.stop();
      equal(chat.lost, 0);
      peakMb = Math.max(peakMb, await checkMemory(server, 300));
    });

    await t.step("the AUTH line, a byte at a time: refused at --auth-timeout", async () => {
      await using server = await startTarget(
        [
          "--token-file",
          tokenFile,
          "--auth-timeout",
          "1s",
          "--max-auth-failures",
          "0",
          "--services",
          "message,info",
        ],
        [LABELS.tcp, LABELS.udp, LABELS.info],
      );
      const witness = new MessageWitness(server.port(LABELS.tcp), 20, [`AUTH ${TOKEN}\n`]);
      const t0 = performance.now();
      await dribble(server.port(LABELS.tcp), `AUTH ${"y".repeat(200)}`);
      ok(performance.now() - t0 < 8000, "cut off by the deadline, not by the dribble ending");
      await server.waitFor(/Authentication failed for .*: no AUTH line within 1s$/);
      using peer = new UdpFrom("127.0.0.2");
      const status = JSON.parse(
        (await peer.request(server.port(LABELS.info), padded(`AUTH ${TOKEN}\nSTATUS JSON`)))!,
      ) as Status;
      equal(status.security.authFailures, count);
      faults += count;
      await witness.stop();
      equal(witness.lost, 0);
      peakMb = Math.max(peakMb, await checkMemory(server, 300));
    });

    await t.step(
      "a message line, a byte at a time: each byte is activity, so --max-conns-per-ip bounds them",
      async () => {
        const cap = Math.floor(count / 2);
        await using server = await startTarget(
          [
            "--max-conns-per-ip",
            String(cap + 1),
            "--flush-delay",
            "10s",
            "--services",
            "message,info",
          ],
          [LABELS.tcp, LABELS.udp, LABELS.info],
        );
        const witness = new MessageWitness(server.port(LABELS.tcp), 20); // takes one place
        await dribble(server.port(LABELS.tcp), "z".repeat(20), 200);
        faults += count;
        await witness.stop();
        equal(witness.lost, 0);
        peakMb = Math.max(peakMb, await checkMemory(server, 300));
        // Refusals are logged once, then summarised (the rest on shutdown).
        await server.stop();
        equal(
          tally(
            server.lines,
            /Refused .*connections open from that address$/,
            /Refused (\d+) more connections in \d+s: --max-conns-per-ip reached$/,
          ),
          count - cap,
        );
      },
    );

    await t.step(
      "the TLS handshake, silent: counted, kept until the peer acts, then freed",
      async () => {
        if (!certs) return console.log("skipping: openssl is not installed");
        await using server = await startTarget(
          ["--tls-cert", certs.cert, "--tls-key", certs.key, "--auth-timeout", "500ms"],
          [LABELS.tcp, LABELS.udp, LABELS.info],
        );
        const before = await openFds(server.child.pid);
        const silent: Deno.TcpConn[] = [];
        for (let i = 0; i < count; i++) {
          const conn = await tryConnect(server.port(LABELS.tcp));
          if (conn) silent.push(conn);
        }
        const held = await eventually(
          () => statusOf(server.port(LABELS.info)),
          (s) => s.security.tlsFailures >= count,
        );
        equal(held.security.tlsFailures, count, "each logged and counted after --auth-timeout");
        equal(open(held, LABELS.tcp), count, "and still counted against --max-conns");
        const during = await openFds(server.child.pid);
        ok(
          during - before >= count,
          `${during - before} descriptors for ${count} stalled handshakes`,
        );
        for (const conn of silent) closeQuiet(conn);
        const freed = await eventually(
          () => statusOf(server.port(LABELS.info)),
          (s) => open(s, LABELS.tcp) === 0,
        );
        equal(open(freed, LABELS.tcp), 0);
        const after = await openFds(server.child.pid);
        ok(after - before < 10, `descriptors back to ${after} (from ${before})`);
        using good = await RawClient.tls(server.port(LABELS.tcp), certs.ca);
        equal(await good.request("after the stall"), ACK_TCP);
        faults += count;
        peakMb = Math.max(peakMb, await checkMemory(server, 300));
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    if (certs) await Deno.remove(certs.dir, { recursive: true });
  }
  report({
    name: "slowloris (chat name, AUTH line, message line, TLS handshake)",
    connections: faults,
    faults,
    peakMb,
    ms: performance.now() - started,
  });
});

Deno.test("fault: resets mid-message, mid-chat and mid-transfer; the server carries on and nothing is lost", async () => {
  const count = scale(200, 2000);
  const transfers = scale(8, 40);
  const started = performance.now();
  // Not --quiet: the resumes below wait for the server's "interrupted" lines.
  await using server = await startTarget(
    [
      "--chat-rate",
      "0",
      "--max-transfers",
      String(transfers + 4),
      "--max-transfers-per-ip",
      String(transfers + 4),
    ],
    undefined,
    { quiet: false },
  );
  const witness = new MessageWitness(server.port(LABELS.tcp), 20);
  const chat = await ChatWitness.start(server.port(LABELS.chat), 100, "r");
  using observer = await joinChat(server.port(LABELS.chat), "observer");
  let faults = 0;

  // Mid-message: a full line (whose ack is never read) and half of another, then a close.
  await pool(count, 32, async (i) => {
    const conn = await tryConnect(server.port(LABELS.tcp));
    if (!conn) return;
    await sendQuiet(conn, encode(`complete ${i}\nhalf of a mess`));
    await drain(conn, 5); // let the ack arrive, unread: the close becomes a reset
    closeQuiet(conn);
    faults++;
  });

  // Mid-chat: members that join, send half a line and reset.
  const members = scale(50, 200);
  await pool(members, 10, async (i) => {
    const member = await joinChat(server.port(LABELS.chat), `reset${i}`);
    await member.send("half a li");
    member.close();
    faults++;
  });
  const left = new Set<string>();
  while (left.size < members) {
    const line = await observer.readLine(10_000);
    ok(line !== null);
    const gone = line.match(/^\* (reset\d+) left/);
    if (gone) left.add(gone[1]!);
  }

  // Mid-transfer: uploads cut halfway with the READY line unread, then resumed;
  // downloads cut after a little.
  const local = await Deno.makeTempDir({ prefix: "socketkit-reset-" });
  try {
    const size = 2 * 1024 * 1024;
    const files = await Promise.all(Array.from({ length: transfers }, async (_, i) => {
      const bytes = new Uint8Array(size).map((_, j) => (i * 31 + j * 7) & 0xff);
      const path = join(local, `cut${i}.bin`);
      await Deno.writeFile(path, bytes);
      return { path, name: `cut${i}.bin`, digest: sha256(bytes), bytes };
    }));
    const filePort = server.port(LABELS.files);
    await Promise.all(files.map(async (file) => {
      const conn = await tryConnect(filePort);
      if (!conn) return;
      await sendQuiet(conn, encode(`PUT ${size} new ${file.name}\n`));
      await sendQuiet(conn, file.bytes.subarray(0, size / 2));
      await drain(conn, 5);
      closeQuiet(conn);
      faults++;
    }));
    // The server notices each reset once it has taken the bytes sent before it.
    for (const file of files) {
      await server.waitFor(new RegExp(`Upload of "${file.name}" from .* interrupted at byte`));
    }
    const resumed = await Promise.all(
      files.map((file) =>
        runCli(["connect", "upload", file.path, "--json", `--file-port=${filePort}`])
      ),
    );
    for (const [i, result] of resumed.entries()) {
      equal(result.code, 0, result.stderr);
      equal(JSON.parse(result.stdout).sha256, files[i]!.digest);
    }
    await Promise.all(files.map(async (file) => {
      const conn = await tryConnect(filePort);
      if (!conn) return;
      await sendQuiet(conn, encode(`GET 0 ${file.name}\n`));
      await drain(conn, 50, 100_000);
      closeQuiet(conn); // megabytes unread: a reset mid-download
      faults++;
    }));
    const listing = await runCli(["connect", "files", "--json", `--file-port=${filePort}`]);
    equal(listing.code, 0, listing.stderr);
    const names = JSON.parse(listing.stdout).files.map((f: { name: string }) => f.name).sort();
    deepStrictEqual(names, files.map((file) => file.name).sort(), "only whole files are listed");
  } finally {
    await Deno.remove(local, { recursive: true });
  }

  await witness.stop();
  await chat.stop();
  await checkHealthy(server);
  equal(witness.lost + chat.lost, 0, "nothing lost");
  const peakMb = await checkMemory(server, 400);
  report({
    name: "resets (mid-message, mid-chat, mid-upload then resume, mid-download)",
    faults,
    connections: faults,
    witnessed: witness.acked + chat.received,
    lost: witness.lost + chat.lost,
    peakMb,
    ms: performance.now() - started,
    note: `${transfers} uploads resumed and verified`,
  });
});
