/** Rooms, private messages, operators and JSON mode, over real sockets as netcat would use them. */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join as joinPath } from "node:path";
import { hasCommand, ROOT } from "./_helpers.ts";
import { join, LABEL, startChat, TIME, until } from "./_chat.ts";
import { TOKEN, writeSecretFile } from "./_security.ts";

Deno.test("chat rooms: /join, /rooms, /users; broadcasts, notices and history stay in their room", async () => {
  await using server = await startChat(["--chat-max-rooms", "2"]);
  const port = server.port(LABEL);
  using alice = await join(port, "alice");
  using bob = await join(port, "bob");
  equal(await alice.readLine(), "* bob joined");
  await alice.send("lobby history\n");
  match((await bob.readLine())!, /alice: lobby history$/);

  equal(await bob.request("/join games"), "! Joined #games. 1 here: bob");
  equal(await alice.readLine(), "* bob left (moved to #games)");
  await bob.send("in games\n");
  equal(await bob.request("/rooms"), "! 2 rooms: #games (1), #lobby (1)");
  equal(await bob.request("/users"), "! 1 here: bob");
  equal(
    await bob.request("/join #LOBBY-2"),
    "! Cannot create #LOBBY-2: the server has 2 rooms, its limit; /rooms lists them",
  );
  equal(
    await bob.request("/join #no way"),
    '! Invalid room "#no way": use # and 1-32 letters, digits, _ - or .',
  );
  await alice.send("only the lobby\n");
  equal(await alice.request("/users"), "! 1 here: alice");

  using carol = await join(port, "carol");
  // The newcomer gets the lobby's history, not #games's.
  equal(await carol.readLine(), "! The last 2 messages:");
  match((await carol.readLine())!, new RegExp(`^${TIME} alice: lobby history$`));
  match((await carol.readLine())!, new RegExp(`^${TIME} alice: only the lobby$`));
  equal(await carol.request("/join #games"), "! Joined #games. 2 here: bob, carol");
  equal(await carol.readLine(), "! The last 1 message:");
  match((await carol.readLine())!, new RegExp(`^${TIME} bob: in games$`));
  equal(await bob.readLine(), "* carol joined", "bob heard nothing from the lobby");
  await server.waitFor(/^\[Chat Server\] carol moved to #games$/);
});

Deno.test("chat /msg: reaches one member only, echoed to the sender, never in history, rate-limited", async () => {
  await using server = await startChat(["--chat-rate", "0.01", "--chat-burst", "4"]);
  const port = server.port(LABEL);
  using alice = await join(port, "alice");
  using bob = await join(port, "bob");
  using carol = await join(port, "carol");
  await until(alice, /^\* carol joined$/);
  await until(bob, /^\* carol joined$/);
  await bob.request("/join #elsewhere"); // private messages cross rooms
  await alice.send("/msg BOB meet at 5\n");
  const line = new RegExp(`^${TIME} \\(private\\) alice -> bob: meet at 5$`);
  await until(alice, line);
  await until(bob, line);
  equal(
    await alice.request("/msg nobody hi"),
    '! Nobody here is called "nobody"; /users lists your room',
  );
  // carol's next line after the notices is alice's public one: the private one never came.
  await alice.send("public\n");
  const seen = await until(carol, /alice: public$/);
  ok(seen.every((text) => !text.includes("meet at 5")), seen.join("\n"));
  // The fifth line of alice's burst of 4 is refused, /msg or not.
  await alice.send("/msg bob four\n/msg bob five\n");
  const before = await until(alice, /^! Slow down: over 0\.01 lines per second \(bursts of 4\)/);
  ok(before.some((text) => text.endsWith("alice -> bob: four")), before.join("\n"));
  await until(bob, /alice -> bob: four$/);
  using dave = await join(port, "dave");
  equal(await dave.readLine(), "! The last 1 message:", "private messages are not history");
  match((await dave.readLine())!, /alice: public$/);
  await server.waitFor(/^\[Chat Server\] private message from alice to bob$/);
  ok(!server.lines.some((text) => text.includes("meet at 5")), "the log never shows the text");
});

Deno.test("chat /kick: an operator (authenticated with the token) may; others are refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tokenFile = await writeSecretFile(dir, "token", TOKEN);
    await using plain = await startChat();
    using nobody = await join(plain.port(LABEL), "nobody");
    using _other = await join(plain.port(LABEL), "other");
    equal(await nobody.readLine(), "* other joined");
    equal(
      await nobody.request("/kick other"),
      "! Only an operator (a member authenticated with the server's token) may /kick",
    );

    await using server = await startChat(["--token-file", tokenFile]);
    const port = server.port(LABEL);
    using op = await join(port, "op", TOKEN);
    using bob = await join(port, "bob", TOKEN);
    equal(await op.readLine(), "* bob joined");
    equal(
      await op.request(`AUTH ${TOKEN}`),
      "! That AUTH line was not sent to anyone or kept (you are already authenticated)",
    );
    equal(await op.request("/kick BOB flooding"), "* bob left (kicked by op: flooding)");
    equal(await op.readLine(), "! Kicked bob");
    equal(await until(bob, /^! You were kicked by op: flooding$/).then(() => bob.readLine()), null);
    equal(await op.request("/kick bob"), '! Nobody here is called "bob"; /users lists your room');
    await server.waitFor(/^\[Chat Server\] bob \(127\.0\.0\.1:\d+\) kicked by op: flooding$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("chat /json: one object per line (users, history, messages, private, system); /json off", async () => {
  await using server = await startChat();
  const port = server.port(LABEL);
  using alice = await join(port, "alice");
  await alice.send("before\n/name alice2\n");
  equal(await alice.readLine(), "! You are now known as alice2");
  using bot = await join(port, "bot");
  equal(await bot.readLine(), "! The last 2 messages:"); // renames are history too
  match((await bot.readLine())!, /alice: before$/);
  equal(await bot.readLine(), "* alice is now known as alice2");
  equal(
    await bot.request("/json"),
    JSON.stringify({
      type: "system",
      text: "JSON mode on: one JSON object per line from now on; /json off for text",
    }),
  );
  const next = async () => JSON.parse((await bot.readLine())!);
  deepStrictEqual(await next(), { type: "users", room: "#lobby", users: ["alice2", "bot"] });
  const history = await next();
  equal(history.type, "message");
  equal(history.history, true);
  equal(history.text, "before");
  deepStrictEqual(
    { ...(await next()), ts: "" },
    { type: "rename", room: "#lobby", from: "alice", to: "alice2", ts: "", history: true },
  );
  const sent = Date.now();
  await alice.send("hi \x1b[31mbot\n/msg bot psst\n/me waves\n");
  const live = await next();
  const received = Date.now();
  deepStrictEqual({ ...live, ts: "" }, {
    type: "message",
    room: "#lobby",
    from: "alice2",
    text: "hi \\x1b[31mbot",
    ts: "",
  });
  // Stamped by the server's clock (this machine's) between the send and the receipt.
  const stamped = Date.parse(live.ts);
  ok(sent <= stamped && stamped <= received, live.ts);
  deepStrictEqual([(await next()).type, (await next()).action], ["private", true]);
  deepStrictEqual(await bot.request("/nope").then((l) => JSON.parse(l!)), {
    type: "system",
    text: 'Unknown command "/nope"; type /help for the commands',
  });
  await alice.send("/quit\n");
  deepStrictEqual({ ...(await next()), ts: "" }, {
    type: "leave",
    room: "#lobby",
    name: "alice2",
    ts: "",
  });
  equal(await bot.request("/json off"), "! JSON mode off");
  equal(await bot.request("/users"), "! 1 here: bot");
  using late = await join(port, "late");
  equal(await late.readLine(), "! The last 4 messages:", "the private one is not among them");
  await until(late, /alice2 waves$/);
  equal(
    await late.request("/json nohistory"),
    JSON.stringify({
      type: "system",
      text: "JSON mode on: one JSON object per line from now on; /json off for text",
    }),
  );
  equal(JSON.parse((await late.readLine())!).type, "users", "and no history after it");
  await late.send("/rooms\n");
  deepStrictEqual(JSON.parse((await late.readLine())!), {
    type: "rooms",
    rooms: [{ room: "#lobby", members: 2 }],
  });
});

/** The bot of docs/chat.md, as printed there. */
async function docsBot(): Promise<string> {
  const doc = await Deno.readTextFile(joinPath(ROOT, "docs", "chat.md"));
  const code = doc.match(/<!-- not run: [^>]*bot example -->\s*```python\n([\s\S]*?)```/)?.[1];
  if (!code) throw new Error("docs/chat.md has no bot example block");
  return code;
}

Deno.test({
  name: "chat JSON mode: the bot from docs/chat.md counts messages against a real server",
  ignore: !(await hasCommand("python3")),
  async fn() {
    const code = await docsBot();
    ok(code.split("\n").length <= 25, "about 20 lines");
    await using server = await startChat();
    const port = server.port(LABEL);
    using alice = await join(port, "alice");
    const bot = new Deno.Command("python3", {
      args: ["-c", code, "127.0.0.1", String(port)],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      equal(await alice.readLine(10_000), "* countbot joined");
      await alice.send("one\ntwo\n/me counts along\n");
      await alice.send("/msg countbot not a room message\n");
      match((await alice.readLine())!, /\(private\) alice -> countbot/);
      await alice.send("!count\n");
      match((await alice.readLine(10_000))!, new RegExp(`^${TIME} countbot: counted 3 messages$`));
    } finally {
      bot.kill("SIGKILL");
      await bot.status;
      await bot.stderr.cancel();
    }
  },
});
