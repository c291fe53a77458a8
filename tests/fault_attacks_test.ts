/**
 * Attacks found by independent scripts (issue 15) whose proof needs no clock,
 * each against a real server over loopback: log floods (refused connections
 * and refused exits summarised), invisible characters, and a token sent to a
 * server without one. Each test fails on a server without the defence. The
 * attacks judged by elapsed time are in slow/fault_attacks_test.ts.
 * SOCKETKIT_FUZZ_LONG=1 runs the long form (more of them).
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { encode } from "../lib/base/text.ts";
import {
  closeQuiet,
  joinChat,
  LABELS,
  pool,
  report,
  scale,
  startTarget,
  tally,
  tryConnect,
} from "./_fault.ts";
import { LineClient, padded, UdpFrom } from "./_helpers.ts";
import { RawClient } from "./_security.ts";

const ACK_TCP = "[TCP Server] Your message was received!";

Deno.test("attack: refused connections and refused exits are summarised, not logged one by one", async (t) => {
  const refused = scale(2000, 20_000);
  const datagrams = scale(30_000, 100_000);

  for (const quiet of [false, true]) {
    await t.step(`2,000 refused connections${quiet ? " under --quiet" : ""}`, async () => {
      await using server = await startTarget(
        ["--allow", "127.0.0.2", "--services", "message,info"],
        [LABELS.tcp, LABELS.udp, LABELS.info],
        { quiet },
      );
      await pool(refused, 100, async () => {
        const conn = await tryConnect(server.port(LABELS.tcp));
        if (conn === null) return;
        await conn.read(new Uint8Array(16)).catch(() => null); // closed at once, no byte
        closeQuiet(conn);
      });
      using peer = new UdpFrom("127.0.0.2");
      const status = JSON.parse(
        (await peer.request(server.port(LABELS.info), padded("STATUS JSON")))!,
      );
      equal(status.security.refusedConnections, refused);
      await server.stop();
      const lines = server.lines.filter((line) => /Refused/.test(line));
      ok(lines.length <= 2, lines.join("\n"));
      if (!quiet) {
        equal(
          tally(
            lines,
            /Refused 127\.0\.0\.1:\d+: not in --allow$/,
            /Refused (\d+) more connections in \d+s: not in --allow$/,
          ),
          refused,
        );
      }
    });
  }

  await t.step("30,000 refused exit datagrams under --quiet", async () => {
    await using server = await startTarget(
      ["--udp-rate", "0", "--services", "message,info"],
      [LABELS.tcp, LABELS.udp, LABELS.info],
    );
    using peer = new UdpFrom();
    const started = performance.now();
    for (let i = 0; i < datagrams; i++) {
      await peer.send(server.port(LABELS.udp), "exit");
      // Now and then wait for the answer, so the socket buffers are not overrun.
      if (i % 64 === 63) await peer.receive(500);
    }
    const ms = performance.now() - started;
    // The service reads its socket in order: once an exit sent after the
    // flood is answered, it has taken every datagram the kernel kept for it.
    // The marker is an exit too, so it is counted like the rest; one that
    // the kernel dropped (a full buffer) is sent again, and a last one, sent
    // after an answer, is behind any earlier one still on its way.
    using other = new UdpFrom("127.0.0.2");
    const refusal = /^\[UDP Server\] Refusing exit/;
    let answer: string | null = null;
    for (let i = 0; i < 15 && answer === null; i++) {
      answer = await other.request(server.port(LABELS.udp), "exit", 1000);
    }
    match(answer ?? "", refusal);
    match((await other.request(server.port(LABELS.udp), "exit", 5000)) ?? "", refusal);
    const status = JSON.parse(
      (await other.request(server.port(LABELS.info), padded("STATUS JSON")))!,
    );
    const taken = status.messages.udp;
    await server.stop();
    const bytes = server.lines.reduce((n, line) => n + encode(line).length + 1, 0);
    const summarised = tally(
      server.lines,
      /Refused exit from /,
      /Refused exit (\d+) more times in \d+s/,
    );
    report({
      name: "refused exit datagrams, log size",
      datagrams,
      ms,
      note: `${taken} refused, ${bytes} bytes of log in all`,
    });
    equal(summarised, taken);
    ok(bytes < 4096, `${bytes} bytes of log`);
  });
});

Deno.test("attack: invisible and format characters reach other chat members escaped", async () => {
  await using server = await startTarget(["--services", "chat"], [LABELS.chat]);
  using alice = await joinChat(server.port(LABELS.chat), "alice");
  using bob = await joinChat(server.port(LABELS.chat), "bob");
  const hidden = "pay\u200bpal \u200dx\u00ady \ufeffz\u2060 tag\u{e0041}\u{e0042} \u3164.";
  await alice.send(`${hidden} 👩‍💻 ❤️\n`);
  let line: string | null = null;
  for (let i = 0; i < 10 && !line?.includes("alice:"); i++) line = await bob.readLine();
  ok(line !== null);
  ok(
    line.endsWith(
      "alice: pay\\u200bpal \\u200dx\\u00ady \\ufeffz\\u2060 tag\\u{e0041}\\u{e0042} \\u3164. 👩‍💻 ❤️",
    ),
    line,
  );
});

Deno.test("attack: an AUTH line sent to a server without a token never reaches the log", async () => {
  const secret = "s3cr3t-do-not-log-4242";
  await using server = await startTarget([], undefined, { quiet: false });
  using message = await LineClient.connect(server.port(LABELS.tcp));
  await message.send(`AUTH ${secret}\nhello\n`);
  deepStrictEqual([await message.readLine(), await message.readLine()], [ACK_TCP, ACK_TCP]);
  using peer = new UdpFrom();
  ok((await peer.request(server.port(LABELS.udp), `AUTH ${secret}`)) !== null);
  ok((await peer.request(server.port(LABELS.udp), `auth\t${secret}`)) !== null);
  const info = (await peer.request(server.port(LABELS.info), `AUTH ${secret}`))!;
  ok(!info.includes(secret), info);
  // Chat: at the name prompt, and from a member, where it is neither sent to the room nor echoed.
  using chat = await RawClient.tcp(server.port(LABELS.chat));
  await chat.readLine(); // the welcome
  await chat.send(`AUTH ${secret}\n`);
  equal(
    await chat.readLine(),
    "! That AUTH line was not sent to anyone or kept (this server has no token). Enter your name:",
  );
  using alice = await joinChat(server.port(LABELS.chat), "alice");
  using bob = await joinChat(server.port(LABELS.chat), "bob");
  await alice.send(`  auth ${secret}\nafter it\n`);
  equal(await alice.readLine(), "* bob joined");
  equal(
    await alice.readLine(),
    "! That AUTH line was not sent to anyone or kept (this server has no token)",
  );
  match((await bob.readLine())!, /\] alice: after it$/);
  using files = await LineClient.connect(server.port(LABELS.files));
  match((await files.request(`AUTH ${secret}`))!, /^ERR /);
  await server.waitFor(/Received from .*: hello$/);
  await server.stop();
  const log = server.lines.join("\n");
  ok(!log.includes(secret), log);
  match(log, /Received from 127\.0\.0\.1:\d+: AUTH \.\.\. \(an AUTH line; not logged\)/);
});
