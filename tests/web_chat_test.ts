/**
 * The chat over a WebSocket (GET /chat on the web port), with Deno's own
 * WebSocket client: the name handshake and its refusals, JSON objects from
 * the first frame, history, a TCP member and a WebSocket member talking, the
 * slow-member rule, the name deadline and shutdown.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { encode } from "../lib/base/text.ts";
import { join, until } from "./_chat.ts";
import { tempDirs } from "./_files.ts";
import { TOKEN, writeSecretFile } from "./_security.ts";
import { http } from "./_web.ts";
import { FAST_WAITS } from "./_cluster.ts";
import { REDIS_MISSING, RedisServer } from "./_redis.ts";
import { CHAT_LABEL, startWebChat, WEB_LABEL, WsMember } from "./_web_chat.ts";

Deno.test("web chat: the first frame is the name; refusals as over TCP; JSON objects from the start", async () => {
  await using server = await startWebChat();
  using bob = await join(server.port(CHAT_LABEL), "bob");
  await using ws = await WsMember.open(server.port(WEB_LABEL));
  const welcome = await ws.next(() => true);
  deepStrictEqual(welcome.type, "system");
  match(
    String(welcome.text),
    /^Welcome to socketkit chat \(1 member online\)\..*Enter your name:$/,
  );
  ws.send("not a name!");
  await ws.system(/^Invalid name "not a name!": use .* Enter your name:$/);
  ws.send("BOB"); // names are unique whatever the case, across transports
  await ws.system(/^The name "BOB" is taken\. Enter your name:$/);
  ws.send("alice");
  await ws.system(/^Joined as alice\. 2 here: alice, bob$/);
  await ws.system(/^Limits: lines up to 4096 bytes/);
  await until(bob, /^\* alice joined$/);
  await server.waitFor(/^\[Chat Server\] alice joined from 127\.0\.0\.1:\d+$/);
  ws.send("/json off");
  await ws.system(/^A WebSocket member gets JSON objects only$/);
  // Every frame so far was a JSON object (next() throws on any other).
  ok(ws.frames.every((o) => typeof o.type === "string"));
});

Deno.test("web chat: a WebSocket member and a TCP member exchange lines, /msg, /me, /users", async () => {
  await using server = await startWebChat();
  using bob = await join(server.port(CHAT_LABEL), "bob");
  await using alice = await WsMember.join(server.port(WEB_LABEL), "alice");
  alice.send("hello bob");
  await until(bob, /^\[\d\d:\d\d:\d\d\] alice: hello bob$/);
  // Text is text: markup from a TCP member reaches the page as a string, escaped nowhere.
  await bob.send("<script>alert(1)</script> & <b>bold</b>\n");
  const said = await alice.next((o) => o.type === "message");
  deepStrictEqual(
    { from: said.from, room: said.room, text: said.text },
    { from: "bob", room: "#lobby", text: "<script>alert(1)</script> & <b>bold</b>" },
  );
  match(String(said.ts), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  await bob.send("/msg alice psst\n");
  const whisper = await alice.next((o) => o.type === "private");
  deepStrictEqual([whisper.from, whisper.to, whisper.text], ["bob", "alice", "psst"]);
  alice.send("/msg bob back at you");
  await until(bob, /^\[\d\d:\d\d:\d\d\] \(private\) alice -> bob: back at you$/);
  alice.send("/me waves");
  await until(bob, /^\[\d\d:\d\d:\d\d\] \* alice waves$/);
  alice.send("/users");
  const users = await alice.next((o) => o.type === "users");
  deepStrictEqual(users.users, ["alice", "bob"]);
  alice.send("/join #games");
  await alice.system(/^Joined #games\. 1 here: alice$/);
  await until(bob, /^\* alice left \(moved to #games\)$/);
  alice.send("/rooms");
  const rooms = await alice.next((o) => o.type === "rooms");
  deepStrictEqual(rooms.rooms, [{ room: "#games", members: 1 }, { room: "#lobby", members: 1 }]);
  alice.send("/quit");
  await alice.system(/^Goodbye/);
  await alice.closed();
  await server.waitFor(/^\[Chat Server\] alice left$/);
});

Deno.test("web chat: a WebSocket member gets the room's history, marked as such", async () => {
  await using server = await startWebChat();
  using bob = await join(server.port(CHAT_LABEL), "bob");
  await bob.send("one\ntwo\n/me three\n");
  await server.waitFor(/\* bob three$/);
  await using alice = await WsMember.open(server.port(WEB_LABEL));
  alice.send("alice");
  await alice.system(/^The last 3 messages:$/);
  const past = [
    await alice.next((o) => o.type === "message"),
    await alice.next((o) => o.type === "message"),
    await alice.next((o) => o.type === "message"),
  ];
  deepStrictEqual(past.map((o) => [o.text, o.history, o.action]), [
    ["one", true, undefined],
    ["two", true, undefined],
    ["three", true, true],
  ]);
});

Deno.test("web chat: one frame is one line, a frame over --chat-max-line is refused", async () => {
  await using server = await startWebChat(["--chat-max-line", "64"]);
  using bob = await join(server.port(CHAT_LABEL), "bob");
  await using alice = await WsMember.join(server.port(WEB_LABEL), "alice");
  alice.send("x".repeat(65));
  await alice.system(/^Line too long/i);
  // A line break inside a frame does not make two lines: it shows as text.
  alice.send("a\nb");
  alice.send("done");
  const lines = await until(bob, /alice: done$/);
  const said = lines.filter((line) => / alice: /.test(line));
  equal(said.length, 1, JSON.stringify(lines));
  match(said[0]!, / alice: a.+b$/);
});

Deno.test("web chat: a WebSocket member that does not read is dropped (--chat-buffer), the room goes on", async () => {
  await using server = await startWebChat(["--chat-rate", "0", "--chat-buffer", "16KiB"]);
  using bob = await join(server.port(CHAT_LABEL), "bob");
  using carol = await join(server.port(CHAT_LABEL), "carol");
  // A WebSocket handshake by hand, then never a read: the server's send() does not block,
  // so only the bound on what it holds for this member can stop it.
  using stuck = await Deno.connect({ hostname: "127.0.0.1", port: server.port(WEB_LABEL) });
  await stuck.write(encode(
    "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  // The name goes in a masked client frame.
  await stuck.write(maskedText("stuck"));
  await until(bob, /^\* stuck joined$/);
  const line = "y".repeat(4000);
  let dropped = false;
  const left = until(carol, /^\* stuck left \(disconnected: not reading\)$/, 20_000)
    .then(() => dropped = true);
  // Bounded: 64 MiB of lines at most; the drop comes long before (kernel buffers + 16 KiB).
  for (let i = 0; i < 16_384 && !dropped; i++) {
    await bob.send(line + "\n");
    if (i % 64 === 63) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  await left;
  ok(dropped, "the stuck member was dropped");
  await server.waitFor(/Dropping stuck \(127\.0\.0\.1:\d+\): \d+ bytes queued and not reading/);
  await bob.send("still here\n");
  await until(carol, /bob: still here$/);
});

Deno.test("web chat: no name within --chat-name-timeout closes the WebSocket with a last line", async () => {
  await using server = await startWebChat(["--chat-name-timeout", "100ms"]);
  await using ws = await WsMember.open(server.port(WEB_LABEL));
  await ws.system(/^No name given in time; goodbye$/);
  await ws.closed();
});

Deno.test("web chat: on shutdown a WebSocket member gets the notice and the close", async () => {
  const server = await startWebChat();
  try {
    await using alice = await WsMember.join(server.port(WEB_LABEL), "alice");
    const stopped = server.stop();
    await alice.system(/^Server shutting down; goodbye$/);
    await alice.closed();
    await stopped;
  } finally {
    await server[Symbol.asyncDispose]();
  }
});

Deno.test("web chat: with a token the upgrade needs it; a member who gave it is an operator", async () => {
  await using dirs = await tempDirs();
  const tokenFile = await writeSecretFile(dirs.root, "token", TOKEN);
  await using server = await startWebChat(["--token-file", tokenFile]);
  const port = server.port(WEB_LABEL);
  const upgrade = {
    connection: "Upgrade",
    upgrade: "websocket",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  };
  equal((await http(`http://127.0.0.1:${port}/chat`, { headers: upgrade })).status, 401);
  const bearer = { authorization: `Bearer ${TOKEN}` };
  await using op = await WsMember.open(port, bearer);
  op.send("op");
  await op.system(/^Joined as op\./);
  // A TCP member must AUTH first; one that did is an operator too, and /kick works on it.
  using bob = await join(server.port(CHAT_LABEL), "bob", TOKEN);
  op.send("/kick bob flooding");
  await until(bob, /^! You were kicked by op: flooding$/);
});

Deno.test("web chat: without a token a WebSocket member is no operator", async () => {
  await using server = await startWebChat();
  using _bob = await join(server.port(CHAT_LABEL), "bob");
  await using alice = await WsMember.join(server.port(WEB_LABEL), "alice");
  alice.send("/kick bob");
  await alice.system(/operator/i);
});

Deno.test("web chat: /status lists the members with their rooms, WebSocket and TCP alike", async () => {
  await using server = await startWebChat();
  using bob = await join(server.port(CHAT_LABEL), "bob");
  await bob.send("/join #games\n");
  await until(bob, /^! Joined #games\./);
  await using _alice = await WsMember.join(server.port(WEB_LABEL), "alice");
  const status = JSON.parse(
    (await http(`http://127.0.0.1:${server.port(WEB_LABEL)}/status`)).text,
  );
  deepStrictEqual(
    status.members.map((m: { name: string; room: string }) => [m.name, m.room]),
    [["bob", "#games"], ["alice", "#lobby"]],
  );
});

Deno.test({
  name: "web chat: with --redis a WebSocket member's name is unique across instances; lines cross",
  ignore: REDIS_MISSING !== null,
  fn: async () => {
    await using redis = await RedisServer.start();
    await using a = await startWebChat(["--redis", redis.url], { clusterWaits: FAST_WAITS });
    await using b = await startWebChat(["--redis", redis.url], { clusterWaits: FAST_WAITS });
    using bob = await join(a.port(CHAT_LABEL), "bob");
    await using ws = await WsMember.open(b.port(WEB_LABEL));
    ws.send("Bob");
    await ws.system(/^The name "Bob" is taken\. Enter your name:$/);
    ws.send("alice");
    await ws.system(/^Joined as alice\./);
    ws.send("over the cluster");
    await until(bob, /alice: over the cluster$/);
    await bob.send("and back\n");
    const back = await ws.next((o) => o.type === "message" && o.text === "and back");
    equal(back.from, "bob");
  },
});

/** A client text frame (masked, as RFC 6455 requires of a client), payload under 126 bytes. */
function maskedText(text: string): Uint8Array {
  const payload = encode(text);
  const mask = [1, 2, 3, 4];
  const frame = new Uint8Array(6 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  frame.set(mask, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i % 4]!;
  return frame;
}
