/** The chat hub, its rooms and the outboxes, in process: no sockets, a writer per member. */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { Logger } from "../../lib/base/logger.ts";
import { Outbox } from "../../lib/chat/server/outbox.ts";
import type { MessageEvent } from "../../lib/chat/events.ts";
import { Hub, STUCK_REASON } from "../../lib/chat/server/hub.ts";
import type { Member, Room } from "../../lib/chat/server/room.ts";

const decoder = new TextDecoder();

/** A member whose socket is an array of written text; `stalled` never completes a write. */
class FakeMember implements Member {
  name = "";
  joinedAt = 0;
  room: Room | null = null;
  json = false;
  echo = false;
  operator = false;
  readonly peer = "127.0.0.1:1";
  readonly outbox: Outbox;
  written: string[] = [];
  disconnected = false;
  finished: string | null = null;

  constructor(limit = 64 * 1024, stalled = false) {
    this.outbox = new Outbox(
      {
        write: (bytes) => {
          if (stalled) return new Promise(() => {});
          this.written.push(decoder.decode(bytes));
          return Promise.resolve(bytes.length);
        },
      },
      limit,
      () => (this.disconnected = true),
    );
  }

  disconnect(): void {
    this.disconnected = true;
  }

  finish(line: string): void {
    this.finished = line;
    this.disconnected = true;
  }

  /** Every line written so far, once the outbox has drained. */
  async lines(): Promise<string[]> {
    await this.outbox.flushed();
    return this.written.join("").split("\n").filter((line) => line !== "");
  }
}

function hub(options: Partial<ConstructorParameters<typeof Hub>[0]> = {}): Hub {
  return new Hub({
    history: 2,
    maxMembers: 3,
    maxRooms: 2,
    buffer: 64 * 1024,
    greeting: ["! hello"],
    log: new Logger({ quiet: true, sink: { write: (bytes) => Promise.resolve(bytes.length) } }),
    ...options,
  });
}

Deno.test("hub: join, say, leave; history is the newest lines; names are unique in any case", async () => {
  const chat = hub();
  const alice = new FakeMember();
  const bob = new FakeMember();
  equal(chat.join(alice, "alice"), null);
  chat.say(alice, "one");
  chat.say(alice, "two");
  chat.say(alice, "waves", true);
  equal(chat.join(bob, "ALICE"), "taken");
  equal(chat.join(bob, "bob"), null);
  const bobs = await bob.lines();
  equal(bobs[0], "! Joined as bob. 2 here: alice, bob");
  equal(bobs[1], "! hello");
  equal(bobs[2], "! The last 2 messages:");
  ok(bobs[3]!.endsWith("] alice: two"), bobs[3]);
  ok(bobs[4]!.endsWith("] * alice waves"), bobs[4]);
  deepStrictEqual((await alice.lines()).slice(-1), ["* bob joined"]);
  equal(chat.messages, 3);
  chat.leave(bob, "bye");
  chat.leave(bob, "twice"); // idempotent
  deepStrictEqual((await alice.lines()).slice(-1), ["* bob left (bye)"]);
  deepStrictEqual(chat.roster().map((member) => member.name), ["alice"]);
});

Deno.test("hub: full, rename (kept in history) and the same name", async () => {
  const chat = hub({ maxMembers: 2 });
  const alice = new FakeMember();
  equal(chat.join(alice, "alice"), null);
  equal(chat.join(new FakeMember(), "bob"), null);
  equal(chat.join(new FakeMember(), "carol"), "full");
  equal(chat.rename(alice, "alice"), "same");
  equal(chat.rename(alice, "bob"), "taken");
  equal(chat.rename(alice, "dave"), null);
  deepStrictEqual(chat.names(alice.room), ["bob", "dave"]);
  deepStrictEqual(chat.findRoom("#LOBBY")!.history().map((event) => event.type), ["rename"]);
  ok((await alice.lines()).includes("! You are now known as dave"));
});

Deno.test("hub: rooms are separate; /join creates up to the cap; an empty room goes away", async () => {
  const chat = hub({ maxRooms: 2 });
  const alice = new FakeMember();
  const bob = new FakeMember();
  const carol = new FakeMember();
  chat.join(alice, "alice");
  chat.join(bob, "bob");
  chat.join(carol, "carol");
  equal(chat.move(bob, "#games"), null);
  equal(chat.move(bob, "#GAMES"), "same");
  equal(chat.move(carol, "#other"), "rooms", "the cap counts #lobby");
  deepStrictEqual(chat.rooms(), [{ room: "#games", members: 1 }, { room: "#lobby", members: 2 }]);
  chat.say(bob, "in games");
  chat.say(alice, "in lobby");
  const bobs = await bob.lines();
  ok(bobs.includes("! Joined #games. 1 here: bob"), bobs.join("\n"));
  ok(!bobs.some((line) => line.includes("in lobby")));
  const carols = await carol.lines();
  ok(carols.includes("* bob left (moved to #games)"));
  ok(!carols.some((line) => line.includes("in games")));
  deepStrictEqual(chat.roster().map(({ name, room }) => `${name} ${room}`), [
    "bob #games",
    "alice #lobby",
    "carol #lobby",
  ]);
  chat.leave(bob);
  deepStrictEqual(chat.rooms(), [{ room: "#lobby", members: 2 }]);
  equal(chat.move(carol, "#other"), null, "a room freed is a room to create");
});

Deno.test("hub: a private message reaches its two ends only; JSON members get objects", async () => {
  const chat = hub();
  const alice = new FakeMember();
  const bob = new FakeMember();
  const carol = new FakeMember();
  chat.join(alice, "alice");
  chat.join(bob, "bob");
  chat.join(carol, "carol");
  bob.json = true;
  ok(chat.whisper(alice, "BOB", "psst"));
  equal(chat.whisper(alice, "nobody", "x"), false);
  chat.say(alice, "public");
  const private_ = /\] \(private\) alice -> bob: psst$/;
  ok((await alice.lines()).some((line) => private_.test(line)));
  ok(!(await carol.lines()).some((line) => line.includes("psst")));
  const objects = (await bob.lines()).filter((line) => line.startsWith("{")).map((line) =>
    JSON.parse(line)
  );
  deepStrictEqual(objects.map((o) => [o.type, o.from, o.text]), [
    ["private", "alice", "psst"],
    ["message", "alice", "public"],
  ]);
  equal(objects[1].room, "#lobby");
  ok(!Number.isNaN(Date.parse(objects[1].ts)));
  deepStrictEqual(chat.findRoom("#lobby")!.history().map((e) => e.type), ["message"]);
});

Deno.test("hub: kick removes the member with a last line and tells its room", async () => {
  const chat = hub();
  const alice = new FakeMember();
  const bob = new FakeMember();
  chat.join(alice, "alice");
  chat.join(bob, "bob");
  chat.kick(alice, bob, "spam");
  equal(bob.finished, "! You were kicked by alice: spam");
  ok((await alice.lines()).includes("* bob left (kicked by alice: spam)"));
  equal(chat.size, 1);
});

Deno.test("hub: a member that stops reading is dropped after the broadcast, and the room told", async () => {
  const chat = hub();
  const reader = new FakeMember();
  const stuck = new FakeMember(2048, true);
  equal(chat.join(reader, "reader"), null);
  equal(chat.join(stuck, "stuck"), null);
  for (let i = 0; i < 100 && chat.size === 2; i++) chat.say(reader, "x".repeat(100));
  equal(chat.size, 1, "the stuck member is gone");
  ok(stuck.disconnected);
  ok((await reader.lines()).includes(`* stuck left (${STUCK_REASON})`));
});

Deno.test("outbox: a push past the limit is refused; one line always fits an empty queue", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const written: number[] = [];
  const outbox = new Outbox(
    {
      write: async (bytes) => {
        await gate;
        written.push(bytes.length);
        return bytes.length;
      },
    },
    10,
    () => {},
  );
  ok(outbox.push(new Uint8Array(50)), "an empty queue takes one long line");
  ok(!outbox.push(new Uint8Array(1)), "then nothing more");
  release();
  await outbox.flushed();
  deepStrictEqual(written, [50]);
  equal(outbox.pending, 0);
  ok(outbox.push(new Uint8Array(4)) && outbox.push(new Uint8Array(4)));
  await outbox.flushed();
  deepStrictEqual(written, [50, 8], "lines queued in one turn go out in one write");
});

/** A cluster relay that records what the hub hands it; `others` are another instance's members. */
class FakeRelay {
  readonly instance = "me@test";
  published: string[] = [];
  moves: string[] = [];
  releases: string[] = [];
  others_: { name: string; room: string; joinedAt: number; instance: string }[] = [];
  claim = () => Promise.resolve("ok" as const);
  rename = () => Promise.resolve("ok" as const);
  history = () => Promise.resolve([]);
  publish(event: { type: string }): void {
    this.published.push(JSON.stringify(event));
  }
  moved(name: string, room: string): void {
    this.moves.push(`${name} ${room}`);
  }
  released(name: string): void {
    this.releases.push(name);
  }
  others() {
    return this.others_;
  }
}

Deno.test("hub with a cluster relay: local events go out, delivered ones never do; names, rooms and roster span instances", async () => {
  const chat = hub({ maxMembers: 5 });
  const relay = new FakeRelay();
  relay.others_ = [{ name: "Bob", room: "#Games", joinedAt: 1, instance: "b@test" }];
  chat.attach(relay);
  const alice = new FakeMember();
  equal(chat.join(alice, "alice"), null);
  chat.say(alice, "hi");
  deepStrictEqual(relay.published.map((json) => JSON.parse(json).type), ["join", "message"]);

  // An event of another instance reaches local members of that room, and is not relayed again.
  const ts = new Date().toISOString();
  chat.deliver({ type: "message", room: "#LOBBY", from: "bob", text: "from B", ts });
  chat.deliver({ type: "private", from: "bob", to: "ALICE", text: "psst", ts });
  equal(relay.published.length, 2);
  const lines = await alice.lines();
  ok(lines.some((line) => line.endsWith("bob: from B")), `${lines}`);
  ok(lines.some((line) => line.endsWith("(private) bob -> alice: psst")), `${lines}`);

  // /msg to a member of another instance goes through the relay; the sender sees its copy.
  ok(chat.whisper(alice, "bob", "hello B"));
  equal(JSON.parse(relay.published.at(-1)!).to, "Bob");
  equal(chat.whisper(alice, "nobody", "x"), false);

  // A room another instance has keeps its spelling, and starts with the history given.
  const past = [{ type: "message" as const, room: "#Games", from: "Bob", text: "earlier", ts }];
  equal(chat.move(alice, "#games", past), null);
  equal(alice.room?.name, "#Games");
  deepStrictEqual(relay.moves, ["alice #Games"]);
  deepStrictEqual(chat.names(alice.room), ["alice", "Bob"]);
  deepStrictEqual(chat.rooms(), [{ room: "#Games", members: 2 }, { room: "#lobby", members: 0 }]);
  deepStrictEqual(chat.roster().map((m) => `${m.name}@${m.instance}`), [
    "alice@me@test",
    "Bob@b@test",
  ]);
  ok((await alice.lines()).some((line) => line.endsWith("Bob: earlier")));
  equal(chat.total, 2);

  chat.leave(alice);
  deepStrictEqual(relay.releases, ["alice"]);
  equal(JSON.parse(relay.published.at(-1)!).type, "leave");
});

Deno.test("hub with a cluster: a room new here gets its past and what was said while it was read, each line once", async () => {
  const chat = hub({ history: 5, maxRooms: 3 });
  const bob = new FakeMember();
  chat.join(bob, "bob");
  const said = (room: string, text: string, ms: number): MessageEvent => ({
    type: "message",
    room,
    from: "zed",
    text,
    ts: new Date(ms).toISOString(),
  });
  const before = said("#games", "before", 1000);
  const during = said("#games", "during", 2000);
  const release = chat.expectRoom("#Games");
  chat.deliver(before); // in the past read from Redis as well
  chat.deliver(during); // said after the read: only here
  chat.deliver(said("#other", "elsewhere", 2500)); // nobody here is about to create #other
  equal(chat.move(bob, "#games", [before]), null);
  release();
  chat.deliver(before); // a reader that lags delivers the past again
  chat.deliver(said("#games", "after", 3000));
  const zeds = (await bob.lines()).filter((line) => line.includes("zed:"));
  deepStrictEqual(zeds.map((line) => line.replace(/^\S+ /, "")), [
    "zed: before",
    "zed: during",
    "zed: after",
  ]);
  deepStrictEqual(
    chat.findRoom("#games")!.history().map((event) => event.type === "message" && event.text),
    [
      "before",
      "during",
      "after",
    ],
  );

  // Released: nothing is kept for a room nobody here is creating.
  chat.deliver(said("#other", "unseen", 4000));
  const carol = new FakeMember();
  chat.join(carol, "carol");
  equal(chat.move(carol, "#other", []), null);
  ok(!(await carol.lines()).some((line) => line.includes("zed:")));
});
