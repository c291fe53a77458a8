/**
 * Attacks found by independent scripts (issue 15), each against a real
 * server over loopback, the ones whose proof takes time (the slow tier): resets
 * before accept (the witness's latency), the failure budget spent in parallel
 * (judged per elapsed second), trickled lines, descriptor exhaustion and the
 * UDP message service as an amplifier (replies per elapsed second). The rest
 * are in ../fault_attacks_test.ts. Each test fails on a server without the
 * defence. SOCKETKIT_FUZZ_LONG=1 runs the long form (longer attacks, more of
 * them).
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { TIMED_OUT, within } from "../../lib/base/deadline.ts";
import { encode } from "../../lib/base/text.ts";
import {
  closeQuiet,
  joinChat,
  LABELS,
  pool,
  report,
  scale,
  sleep,
  startTarget,
  tally,
  tryConnect,
} from "../_fault.ts";
import { hasCommand, LineClient, padded, ServerProcess, UdpFrom } from "../_helpers.ts";
import { PADDED_REQUEST } from "../../lib/info/protocol.ts";
import { RawClient, TOKEN, writeSecretFile } from "../_security.ts";
import { ENGINE_RUNS } from "../_udp_engines.ts";

const tools = {
  python3: await hasCommand("python3"),
  prlimit: await hasCommand("prlimit"),
};
const RESETS = fileURLToPath(new URL("../attacks/resets_before_accept.py", import.meta.url));
const ACK_TCP = "[TCP Server] Your message was received!";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

/** Lines of a stopped server matching `pattern`. */
function count(lines: string[], pattern: RegExp): number {
  return lines.filter((line) => pattern.test(line)).length;
}

Deno.test({
  name: "attack: resets before accept do not stall a TCP service, and are summarised, not logged",
  ignore: !tools.python3,
  async fn() {
    const seconds = scale(3, 30);
    const rate = 200;
    await using server = await startTarget(
      ["--services", "message,chat"],
      [LABELS.tcp, LABELS.udp, LABELS.chat],
      { quiet: false },
    );
    const attacker = new Deno.Command("python3", {
      args: [RESETS, String(server.port(LABELS.tcp)), String(rate), String(seconds)],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // The witness: the original client's pattern, connect, one line, the reply, close.
    const latencies: number[] = [];
    const until = Date.now() + seconds * 1000;
    while (Date.now() < until) {
      const started = performance.now();
      using client = await LineClient.connect(server.port(LABELS.tcp));
      equal(await client.request("witness"), ACK_TCP);
      latencies.push(performance.now() - started);
      await sleep(20);
    }
    const attack = await attacker.output();
    equal(attack.code, 0, new TextDecoder().decode(attack.stderr));
    const resets = Number(new TextDecoder().decode(attack.stdout).trim());
    // Chat, on the same TcpService code, still answers at once.
    using member = await joinChat(server.port(LABELS.chat), "after");
    member.close();
    await server.stop();
    const lines = server.lines;
    const seen = tally(
      lines,
      /A connection was reset before it was accepted/,
      /(\d+) more connections were reset before they were accepted/,
    );
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 0.5);
    const p99 = percentile(latencies, 0.99);
    report({
      name: "resets before accept",
      faults: resets,
      witnessed: latencies.length,
      lost: 0,
      ms: seconds * 1000,
      note: `${seen} seen by the server before accept; witness connect-to-reply p50 ${
        p50.toFixed(1)
      } ms, p99 ${p99.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms (noisy machine)`,
    });
    ok(seen > 0, "the attack reached the accept queue");
    equal(count(lines, /Accept failed/), 0);
    ok(count(lines, /reset before/) <= 2, "the first reset and one summary at most");
    // Was a median of 512 ms at 30 resets/s (a 100 ms sleep per reset). The
    // p99 goal (20 ms) is measured on a quiet machine, not asserted here.
    ok(p50 < 100, `witness p50 ${p50} ms`);
  },
});

Deno.test("attack: parallel connections cannot spend more than --max-auth-failures guesses", async () => {
  const budget = 5;
  const connections = scale(300, 1000);
  const dir = await Deno.makeTempDir({ prefix: "socketkit-guess-" });
  try {
    const tokenFile = await writeSecretFile(dir, "token", TOKEN);
    await using server = await startTarget(
      [
        "--token-file",
        tokenFile,
        "--max-auth-failures",
        String(budget),
        "--max-conns",
        String(connections + 10),
        "--services",
        "message,info",
      ],
      [LABELS.tcp, LABELS.udp, LABELS.info],
      { quiet: false },
    );
    const started = performance.now();
    // All open first, so every one of them passes accept with a full budget.
    const conns = (await Promise.all(
      Array.from({ length: connections }, () => tryConnect(server.port(LABELS.tcp))),
    )).filter((conn) => conn !== null);
    const verdicts = await Promise.all(conns.map(async (conn, i) => {
      const client = new RawClient(conn);
      try {
        await client.send(`AUTH guess-${i}-${"x".repeat(20)}\n`);
        return (await client.drain(10_000)).find((line) => line.startsWith("AUTH FAILED"));
      } finally {
        client.close();
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    const wrong = verdicts.filter((line) => line === "AUTH FAILED: wrong token").length;
    const cooling = verdicts.filter((line) => line?.includes("cooling down")).length;
    // And the right token from the same address is no help while it cools down.
    using right = await RawClient.tcp(server.port(LABELS.tcp));
    const late = (await right.drain(10_000).catch(() => [])).concat();
    right.close();
    report({
      name: "failed-authentication budget, parallel guesses",
      connections: conns.length,
      ms: seconds * 1000,
      note: `${wrong} guesses judged (budget ${budget}), ${cooling} refused at the verdict, ` +
        `${conns.length - wrong - cooling} closed at accept`,
    });
    equal(conns.length, connections);
    // One try regained every 6 s while the attack runs.
    ok(wrong <= budget + Math.ceil(seconds / 6), `${wrong} guesses judged`);
    ok(wrong >= 1);
    equal(wrong + cooling + verdicts.filter((line) => line === undefined).length, conns.length);
    ok(!late.includes("AUTH OK"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("attack: a message line trickled a byte at a time is cut off at --line-timeout", async () => {
  await using server = await startTarget(
    ["--line-timeout", "2s", "--services", "message"],
    [LABELS.tcp, LABELS.udp],
    { quiet: false },
  );
  const port = server.port(LABELS.tcp);
  const started = performance.now();
  const trickle = async () => {
    // A first line makes it a line connection; then one byte every 200 ms,
    // under --flush-delay, and the line never ends.
    using client = await LineClient.connect(port);
    await client.send("first line\n");
    const replies: string[] = [];
    let closed = false;
    const reading = (async () => {
      try {
        for (let line = await client.readLine(10_000); line !== null;) {
          replies.push(line);
          line = await client.readLine(10_000);
        }
      } catch {
        // a reset counts as the close
      } finally {
        closed = true;
      }
    })();
    for (let i = 0; i < 50 && !closed; i++) {
      await client.send("x").catch(() => {});
      await sleep(200);
    }
    await reading;
    return { replies, ms: performance.now() - started };
  };
  const original = async () => {
    // The original client: a message without newline on a connection of its
    // own, answered at once (raw framing), then another much later.
    const ask = async (message: string) => {
      using client = await LineClient.connect(port);
      await client.send(message);
      return await client.readLine(); // the reply, then the server's close
    };
    const first = await ask("Hello");
    await sleep(2500);
    return [first, await ask("World")];
  };
  const lines = async () => {
    // Whole lines at the same pace: never cut.
    using client = await LineClient.connect(port);
    const replies: (string | null)[] = [];
    for (let i = 0; i < 15; i++) {
      replies.push(await client.request(`line ${i}`));
      await sleep(200);
    }
    return replies;
  };
  const [cut, kept, whole] = await Promise.all([trickle(), original(), lines()]);
  report({
    name: "trickled message line",
    connections: 3,
    ms: cut.ms,
    note: `cut after ${(cut.ms / 1000).toFixed(1)} s with ${cut.replies.length - 1} acks`,
  });
  equal(cut.replies.at(-1), "[TCP Server] Error: no end of line within 2s; closing");
  ok(cut.ms < 6000, `cut after ${cut.ms} ms`);
  deepStrictEqual(kept, [ACK_TCP, ACK_TCP]);
  deepStrictEqual(whole, Array(15).fill(ACK_TCP));
});

Deno.test({
  name: "attack: serve raises its open-file limit and sizes --max-conns to it; idle connections " +
    "to one service do not starve the others",
  ignore: !tools.prlimit,
  async fn(t) {
    const ffi = { denoArgs: ["--allow-ffi"] };
    await t.step(
      "a soft limit below the hard one is raised, and caps are judged by it",
      async () => {
        // (Deno itself raises the soft limit when it starts; serve makes sure.)
        await using server = await ServerProcess.start(
          ["--max-conns", "2000"],
          undefined,
          { ...ffi, wrap: ["prlimit", "--nofile=256:4096", "--"] },
        );
        const { stderr } = await server.stop();
        match(
          stderr,
          /warning: --max-conns 2000 for 3 TCP services needs up to 6256 open files, but the limit is 4096/,
        );
      },
    );

    await t.step("without --allow-ffi the limit is assumed, and serve says so", async () => {
      await using server = await ServerProcess.start(["--services", "message"]);
      match(
        server.lines.join("\n"),
        /Open-file limit not known \(--allow-ffi not granted\): caps assume 1024/,
      );
    });

    await t.step("--max-conns that cannot fit draws a warning", async () => {
      await using server = await ServerProcess.start(
        ["--max-conns", "1024"],
        undefined,
        { ...ffi, wrap: ["prlimit", "--nofile=512:512", "--"] },
      );
      const { stderr } = await server.stop();
      match(
        stderr,
        /warning: --max-conns 1024 for 3 TCP services needs up to 3328 open files, but the limit is 512/,
      );
    });

    await t.step("600 idle message connections under a limit of 512", async () => {
      const idle = scale(600, 2000);
      await using server = await startTarget([], undefined, {
        process: { ...ffi, wrap: ["prlimit", "--nofile=512:512", "--"] },
      });
      // (512 - 64 - 5 services x 32 - 2 x 16 transfers) / 3 TCP services
      ok(
        server.lines.includes(
          "[Server] --max-conns 85 per TCP service: what an open-file limit of 512 allows",
        ),
        server.lines.join("\n"),
      );
      const held: Deno.TcpConn[] = [];
      let busy = 0;
      try {
        await pool(idle, 50, async () => {
          const conn = await tryConnect(server.port(LABELS.tcp));
          if (conn === null) return;
          // A refused connection gets the busy line and a close; a taken one, nothing.
          const n = await within(conn.read(new Uint8Array(256)).catch(() => null), 300);
          if (n === TIMED_OUT) held.push(conn);
          else {
            busy++;
            closeQuiet(conn);
          }
        });
        // Every other service still takes new clients and answers.
        using member = await joinChat(server.port(LABELS.chat), "still-here");
        using files = await LineClient.connect(server.port(LABELS.files));
        match((await files.request("LIST"))!, /^OK 0/);
        using peer = new UdpFrom("127.0.0.2");
        ok((await peer.request(server.port(LABELS.info), padded("TIME"))) !== null);
        report({
          name: "idle connections under a low open-file limit",
          connections: idle,
          held: held.length,
          note: `${busy} refused as busy at --max-conns 85; chat, files and info unaffected`,
        });
        equal(held.length, 85);
        equal(busy, idle - 85);
        member.close();
      } finally {
        for (const conn of held) closeQuiet(conn);
      }
      // Once the server has seen the closes, the service takes clients again.
      let after: string | null = null;
      for (let i = 0; i < 100 && after !== ACK_TCP; i++) {
        if (i > 0) await sleep(50);
        using again = await LineClient.connect(server.port(LABELS.tcp));
        after = await again.request("after");
      }
      equal(after, ACK_TCP);
      equal(count(server.lines, /Too many open files|Accept failed/), 0);
    });
  },
});

for (const { engine, args, options, skip } of ENGINE_RUNS) {
  Deno.test({
    name:
      `attack (${engine} engine): the UDP message service is rate limited per source, and USERS is not an amplifier (3x)`,
    ignore: skip !== null,
    async fn() {
      const burst = 40; // --udp-rate 20: bursts of twice that
      await using server = await startTarget(args, undefined, { process: options });
      using flooder = new UdpFrom();
      const started = performance.now();
      const sent = scale(200, 2000);
      for (let i = 0; i < sent; i++) await flooder.send(server.port(LABELS.udp), new Uint8Array(0));
      let replies = 0;
      let replyBytes = 0;
      for (
        let reply = await flooder.receive(500);
        reply !== null;
        reply = await flooder.receive(500)
      ) {
        replies++;
        replyBytes = encode(reply).length;
      }
      const seconds = (performance.now() - started) / 1000;
      // Someone else is still answered.
      using witness = new UdpFrom("127.0.0.2");
      equal(
        await witness.request(server.port(LABELS.udp), "hi"),
        "[UDP Server] Your message was received!",
      );

      // USERS with 60 members of long names: bounded below STATUS's size.
      const members = await Promise.all(
        Array.from(
          { length: 60 },
          (_, i) => joinChat(server.port(LABELS.chat), `m${i}-${"n".repeat(28)}`),
        ),
      );
      try {
        const users = (await witness.request(server.port(LABELS.info), padded("USERS")))!;
        const short = (await witness.request(server.port(LABELS.info), "USERS"))!;
        const status = JSON.parse(
          (await witness.request(server.port(LABELS.info), padded("STATUS JSON")))!,
        );
        const usersBytes = encode(users).length;
        const wire = (payload: number) => payload + 28; // IPv4 + UDP headers
        report({
          name: "UDP amplification",
          datagrams: sent,
          note: `${replies} of ${sent} empty datagrams answered (${replyBytes} bytes each, ` +
            `${(wire(replyBytes) / wire(0)).toFixed(1)}x on the wire); USERS with 60 members ` +
            `${usersBytes} bytes to a padded request, ${
              (wire(usersBytes) / wire(PADDED_REQUEST)).toFixed(1)
            }x; to a bare USERS ${encode(short).length} bytes, ${
              (wire(encode(short).length) / wire(5)).toFixed(1)
            }x`,
        });
        ok(replies <= burst + Math.ceil(seconds * 20) + 2, `${replies} replies in ${seconds} s`);
        // (The kernel may drop some of a burst before the server reads them.)
        ok(status.messages.udpDropped > 0, JSON.stringify(status.messages));
        ok(status.messages.udp <= replies + 1, JSON.stringify(status.messages)); // the witness's
        ok(usersBytes <= 512, `${usersBytes} bytes`);
        match(users, /^users: 60\n/);
        match(users, /\n\.\.\. and \d+ more$/);
        ok(wire(encode(short).length) <= 3 * wire(5), short);
      } finally {
        for (const member of members) member.close();
      }
    },
  });
}
