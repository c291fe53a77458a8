/**
 * The chat across several `socketkit serve` processes joined through a real
 * redis-server (docs/cluster.md). Skipped, saying why, without redis-server.
 * The failures waited out in real seconds (a SIGKILLed instance, a SIGSTOPped
 * Redis) are in tests/slow/cluster_failures_test.ts; the same logic on short
 * intervals is in cluster_failures_test.ts.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./_helpers.ts";
import { CHAT, FAST_WAITS, info, instance, Member, spawnInstance, TIME } from "./_cluster.ts";
import { freePort, REDIS_MISSING, RedisServer } from "./_redis.ts";
import { join as joinChat, until } from "./_chat.ts";
import { TOKEN, writeSecretFile } from "./_security.ts";

const ignore = REDIS_MISSING !== null;

Deno.test({
  name:
    "cluster: three instances share one chat: lines, notices, unique names, history, rooms, /msg, USERS, STATUS",
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    await using a = await instance(redis.url);
    await using b = await instance(redis.url);
    await a.waitFor(
      /^\[Chat Server\] cluster: joined "socketkit" at redis:\/\/127\.0\.0\.1:\d+ as /,
    );
    using alice = await Member.join(a, "alice");
    using bob = await Member.join(b, "bob");
    equal(await alice.next(), "* bob joined");
    await bob.send("hello from B");
    match((await alice.next())!, new RegExp(`^${TIME} bob: hello from B$`));

    // An instance started later gives its newcomers the cluster's history.
    await using c = await instance(redis.url);
    using carol = await Member.join(c, "carol");
    equal(await carol.next(), "! The last 1 message:");
    match((await carol.next())!, new RegExp(`^${TIME} bob: hello from B$`));
    await alice.until(/^\* carol joined$/);

    // One name, claimed on three instances at once: exactly one gets it.
    const claims = await Promise.all([a, b, c].map((server) => Member.connect(server, "Zed")));
    try {
      const replies = claims.map(([, reply]) => reply);
      equal(
        replies.filter((reply) => reply.startsWith("! Joined as Zed.")).length,
        1,
        `${replies}`,
      );
      equal(
        replies.filter((reply) => reply === '! The name "Zed" is taken. Enter your name:').length,
        2,
      );
      // The winner's join notice reaches #lobby on every instance (A's from Redis, maybe late).
      await alice.until(/^\* Zed joined$/);
      // Any case, on any instance.
      const [late, reply] = await Member.connect(b, "zED");
      late[Symbol.dispose]();
      equal(reply, '! The name "zED" is taken. Enter your name:');

      // /msg reaches a member of another instance, and nobody else.
      await alice.send("/msg CAROL psst");
      match(
        (await carol.until(/\(private\)/)).line,
        new RegExp(`^${TIME} \\(private\\) alice -> carol: psst$`),
      );
      match((await alice.until(/\(private\)/)).line, /alice -> carol: psst$/);
      await alice.send("/msg nobody hi");
      equal((await alice.next())!, '! Nobody here is called "nobody"; /users lists your room');

      // Rooms span instances: membership, notices, lines, and the spelling of the room.
      await bob.send("/join #Games");
      await alice.until(/^\* bob left \(moved to #Games\)$/);
      // The notice comes after the presence it follows from: A already lists bob in #Games.
      await alice.send("/rooms");
      equal((await alice.until(/^! \d+ rooms?:/)).line, "! 2 rooms: #Games (1), #lobby (3)");
      await alice.send("/join #games");
      equal((await alice.until(/^! Joined #/)).line, "! Joined #Games. 2 here: alice, bob");
      // Join notices of #lobby may still reach bob before his move (B reads Redis on its own
      // time): his own "! Joined #Games" line comes after them.
      await bob.until(/^! Joined #Games\. /);
      await bob.until(/^\* alice joined$/);
      await alice.send("in games");
      match((await bob.next())!, new RegExp(`^${TIME} alice: in games$`));
      // Carol's instance shows the notice only after it knows where alice went.
      await carol.until(/^\* alice left \(moved to #Games\)$/);
      await carol.send("/users");
      equal((await carol.until(/^! \d+ here/)).line, "! 2 here: carol, Zed");
      await carol.send("/rooms");
      equal((await carol.until(/^! \d+ rooms?:/)).line, "! 2 rooms: #Games (2), #lobby (2)");

      // USERS on any instance lists every instance's members; STATUS shows the cluster.
      const text = (await info(c, "USERS")).split("\n");
      equal(text[0], "users: 4");
      deepStrictEqual(text.slice(1).map((line) => line.replace(/ \(here .*\)$/, "")), [
        "alice in #Games",
        "bob in #Games",
        "carol in #lobby",
        "Zed in #lobby",
      ]);
      // JSON entries also name each member's instance; within the 512-byte bound of a
      // USERS reply (an amplifier otherwise) the rest are counted in "more".
      const users = JSON.parse(await info(c, "USERS JSON"));
      equal(users.count, 4);
      equal(users.users.length + users.more, 4);
      ok(users.users.length >= 2, `only ${users.users.length} listed`);
      deepStrictEqual(
        users.users.map((user: { name: string; room: string }) => `${user.name} ${user.room}`),
        ["alice #Games", "bob #Games", "carol #lobby", "Zed #lobby"].slice(0, users.users.length),
      );
      ok(users.users.every((user: { instance?: string }) => typeof user.instance === "string"));
      const status = await info(a, "STATUS");
      match(
        status,
        /^cluster: socketkit, this instance \S+ joined; 3 of 3 instances alive, 4 members, 0 queued, 0 missed$/m,
      );
      match(status, /^chat: [12] members?, \d+ messages?, 2 rooms$/m); // alice, and Zed if A won
      equal(status.match(/^instance: /gm)?.length, 3);
      match(status, /^instance: \S+@127\.0\.0\.1:\d+ \([12] members?, this one\)$/m);
      const json = JSON.parse(await info(b, "STATUS JSON")).cluster;
      equal(json.state, "joined");
      equal(json.alive, 3);
      equal(json.members, 4);

      await bob.send("/quit");
      equal((await alice.until(/^\* bob/)).line, "* bob left");
    } finally {
      for (const [member] of claims) member[Symbol.dispose]();
    }
  },
});

Deno.test({
  name: "cluster: an operator's /kick removes a member of another instance",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const tokenFile = await writeSecretFile(dir, "token", TOKEN);
      await using redis = await RedisServer.start();
      await using a = await instance(redis.url, ["--token-file", tokenFile]);
      await using b = await instance(redis.url, ["--token-file", tokenFile]);
      using op = await joinChat(a.port(CHAT), "op", TOKEN);
      using bob = await joinChat(b.port(CHAT), "bob", TOKEN);
      await until(op, /^\* bob joined$/);
      await op.send("/kick BOB flooding\n");
      await until(bob, /^! You were kicked by op: flooding$/);
      equal(await bob.readLine(), null, "B closes the kicked member's connection");
      await b.waitFor(
        /^\[Chat Server\] bob \(127\.0\.0\.1:\d+\) kicked by op \(on another server\): flooding$/,
      );
      await a.waitFor(/^\[Chat Server\] op \(127\.0\.0\.1:\d+\) kicks bob on another server$/);
      const seen = await until(op, /^\* bob left \(kicked by op: flooding\)$/);
      ok(seen.includes("! Kicked bob (on another server of the cluster)"), seen.join("\n"));
      // The name is free again, cluster-wide.
      await op.send("/users\n");
      await until(op, /^! 1 here: op$/);
      using _again = await joinChat(b.port(CHAT), "bob", TOKEN);
      await until(op, /^\* bob joined$/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "cluster: Redis killed and restarted: degraded once, local talk goes on, nobody dropped, rejoined without a restart",
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    await using a = await instance(redis.url, [], FAST_WAITS);
    await using b = await instance(redis.url, [], FAST_WAITS);
    using alice = await Member.join(a, "alice");
    using anne = await Member.join(a, "anne");
    using bob = await Member.join(b, "bob");
    await alice.until(/^\* anne joined$/);
    await alice.until(/^\* bob joined$/);
    await anne.until(/^\* bob joined$/);

    await redis.kill();
    for (const server of [a, b]) {
      await server.waitFor(
        /^\[Chat Server\] cluster: degraded \(Redis at redis:\/\/127\.0\.0\.1:\d+ unavailable/,
      );
    }
    await alice.send("said while Redis is away");
    match((await anne.next())!, new RegExp(`^${TIME} alice: said while Redis is away$`));
    await bob.send("bob, also away");
    // A newcomer meanwhile: names are decided locally.
    using dave = await Member.join(b, "dave");

    await redis.restart();
    for (const server of [a, b]) {
      await server.waitFor(
        /^\[Chat Server\] cluster: Redis is back; rejoined with \d member\(s\)/,
        20_000,
      );
    }
    // What was queued crosses once Redis is back, and nobody was dropped.
    match(
      (await alice.until(/bob, also away/, 20_000)).line,
      new RegExp(`^${TIME} bob: bob, also away$`),
    );
    match((await bob.until(/alice:/, 20_000)).line, /alice: said while Redis is away$/);
    await alice.send("after");
    match((await dave.until(/alice: after/, 20_000)).line, new RegExp(`^${TIME} alice: after$`));
    await alice.send("/users");
    equal((await alice.until(/^! \d+ here/)).line, "! 4 here: alice, anne, bob, dave");
    for (const server of [a, b]) {
      equal(server.lines.filter((line) => line.includes("cluster: degraded")).length, 1);
      ok(!server.lines.some((line) => / left/.test(line)), server.lines.join("\n"));
    }
  },
});

Deno.test({
  name:
    "cluster: Redis down at start is exit 1 with one clear line; --redis-optional runs local-only and joins when it comes",
  ignore,
  async fn() {
    const port = freePort();
    const url = `redis://127.0.0.1:${port}`;
    const refused = await runCli([
      "serve",
      "--services",
      "chat",
      "--chat-port",
      "0",
      "--redis",
      url,
    ]);
    equal(refused.code, 1);
    match(
      refused.stderr,
      new RegExp(
        `^error: Cannot join the chat cluster: cannot connect to Redis at redis://127\\.0\\.0\\.1:${port}: .*; start Redis, fix --redis, or add --redis-optional to run local-only\\n$`,
      ),
    );
    equal(refused.stdout, "");

    await using a = await instance(url, ["--redis-optional"], FAST_WAITS);
    await a.waitFor(
      /^\[Chat Server\] cluster: cannot connect to Redis at .*; running local-only \(--redis-optional\), retrying in the background$/,
    );
    using alice = await Member.join(a, "alice");
    using _anne = await Member.join(a, "anne");
    await alice.until(/^\* anne joined$/);
    match(await info(a, "STATUS"), /this instance \S+ local-only; /);

    // Redis comes up on that port: the instance joins with its members, no restart.
    const redis = await RedisServer.start({ port });
    try {
      await a.waitFor(/^\[Chat Server\] cluster: joined "socketkit"/, 40_000);
      await using b = await instance(url);
      using bob = await Member.join(b, "bob");
      await bob.send("/users");
      equal((await bob.until(/^! \d+ here/)).line, "! 3 here: alice, anne, bob");
      const [taken, reply] = await Member.connect(b, "ALICE");
      taken[Symbol.dispose]();
      equal(reply, '! The name "ALICE" is taken. Enter your name:');
      await bob.send("hi from B");
      match((await alice.until(/hi from B/)).line, /bob: hi from B$/);
    } finally {
      // The instance stops first: one left while Redis is away waits out its
      // Redis client's reconnect delay, a timer that outlives the test.
      await a[Symbol.asyncDispose]();
      await redis.kill();
    }
  },
});

Deno.test("cluster: flag mistakes exit 2 naming the flag, before anything starts", async () => {
  const cases: [string[], RegExp][] = [
    [["--redis", "http://127.0.0.1:6379"], /--redis: expected redis:\/\/ or rediss:\/\//],
    [["--redis", "redis:///"], /--redis: the URL names no host/],
    [
      ["--cluster-name", "a b"],
      /--cluster-name needs --redis URL \(or SOCKETKIT_REDIS, read with --allow-env=SOCKETKIT_REDIS\)/,
    ],
    [["--redis", "redis://h", "--cluster-name", "a b"], /Invalid value "a b" for --cluster-name/],
    [["--redis-optional"], /--redis-optional needs --redis URL/],
    [
      ["--redis", "redis://h", "--services", "info"],
      /--redis joins a chat cluster: --services must include chat/,
    ],
  ];
  for (const [args, pattern] of cases) {
    const result = await runCli(["serve", ...args]);
    equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    match(result.stderr, pattern);
    match(result.stderr, /^error: /);
  }
});

Deno.test({
  name:
    "cluster: the Redis password comes from SOCKETKIT_REDIS or --redis-password-file, never argv, and never shows",
  ignore,
  async fn() {
    const password = "s3cret:p@ss/word";
    await using redis = await RedisServer.start({ password });
    const withPassword = redis.urlWithPassword;

    const argv = await runCli(["serve", "--services", "chat", "--redis", withPassword]);
    equal(argv.code, 2);
    match(argv.stderr, /--redis must not hold a password .*SOCKETKIT_REDIS.*--redis-password-file/);
    ok(!argv.stderr.includes("s3cret"));

    const env = {
      env: { SOCKETKIT_REDIS: withPassword },
      denoArgs: ["--allow-env=SOCKETKIT_REDIS"],
    };
    // A process of its own: the URL comes from its environment.
    await using a = await spawnInstance("", [], env);
    const joined = await a.waitFor(/cluster: joined/);
    match(joined, /at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? as /);

    const dir = await Deno.makeTempDir({ prefix: "socketkit-redis-pw-" });
    try {
      const file = join(dir, "password");
      await Deno.writeTextFile(file, password + "\n");
      await using b = await instance(redis.url, ["--redis-password-file", file]);
      using alice = await Member.join(a, "alice");
      using _bob = await Member.join(b, "bob");
      equal(await alice.next(), "* bob joined");

      // --cluster-name keeps another cluster apart on the same Redis.
      await using other = await instance(redis.url, [
        "--redis-password-file",
        file,
        "--cluster-name",
        "other",
      ]);
      match(await info(other, "USERS"), /^users: 0$/);
      using alice2 = await Member.join(other, "alice");
      alice2.client.close();

      await Deno.writeTextFile(file, "wrong\n");
      const wrong = await runCli([
        "serve",
        "--services",
        "chat",
        "--chat-port",
        "0",
        "--redis",
        redis.url,
        "--redis-password-file",
        file,
      ]);
      equal(wrong.code, 1);
      match(
        wrong.stderr,
        /^error: Cannot join the chat cluster: .*(WRONGPASS|invalid username-password)/,
      );
      for (const output of [wrong.stderr, ...a.lines, ...b.lines, ...other.lines]) {
        ok(!output.includes("s3cret"), output);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cluster: the rate limit and the slow-member rule still hold per member across instances",
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    await using a = await instance(redis.url, ["--chat-rate", "0"]);
    await using b = await instance(redis.url, [
      "--chat-rate",
      "1",
      "--chat-burst",
      "3",
      "--chat-max-line",
      "1024",
      "--chat-buffer",
      "64KiB",
    ]);
    using writer = await Member.join(a, "writer");
    using reader = await Member.join(b, "reader");
    using flood = await Member.join(b, "flood");
    using _stuck = await Member.join(b, "stuck"); // never reads from here on
    await writer.until(/^\* stuck joined$/);

    // Ten lines at once from a member of B: three pass, the rest is refused on B.
    await flood.send(Array.from({ length: 10 }, (_, i) => `line ${i}`).join("\n"));
    match((await flood.until(/^! Slow down/)).line, /over 1 lines per second \(bursts of 3\)/);
    const floodLines = (lines: string[]) =>
      lines.filter((line) => / flood: /.test(line)).map((line) => line.replace(/^\S+ /, ""));
    await reader.send("mark");
    const onA = await writer.until(/reader: mark$/);
    deepStrictEqual(floodLines(onA.before), ["flood: line 0", "flood: line 1", "flood: line 2"]);
    flood.client.close(); // it would not read what comes next either
    await writer.until(/^\* flood left$/);

    // Lines from A fill the queue of a member of B that never reads: B drops it. A chunk
    // (about 33 KB) stays well under the 64 KiB buffer: B may read a whole chunk from Redis
    // in one batch, and a reader that reads must never look stuck.
    const payload = "z".repeat(1000);
    let dropped = false;
    for (let chunk = 0; chunk < 400 && !dropped; chunk++) {
      await writer.send(
        Array.from({ length: 32 }, (_, i) => `${chunk}.${i} ${payload}`).join("\n"),
      );
      const { before, line } = await reader.until(new RegExp(`writer: ${chunk}\\.31 z+$`), 15_000);
      dropped = [...before, line].includes("* stuck left (disconnected: not reading)");
    }
    ok(dropped, "the stuck member was not dropped");
    await b.waitFor(/^\[Chat Server\] Dropping stuck \(127\.0\.0\.1:\d+\): \d+ bytes queued/);
    match(
      (await writer.until(/^\* stuck left/, 15_000)).line,
      /^\* stuck left \(disconnected: not reading\)$/,
    );
    await reader.send("/users");
    equal((await reader.until(/^! \d+ here/)).line, "! 2 here: reader, writer");
  },
});
