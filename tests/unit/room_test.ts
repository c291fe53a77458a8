/** The chat room and its outboxes, in process: no sockets, a writer per member. */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { Logger } from "../../lib/base/logger.ts";
import { Outbox } from "../../lib/chat/outbox.ts";
import { type Member, Room, STUCK_REASON } from "../../lib/chat/room.ts";

const decoder = new TextDecoder();

/** A member whose socket is an array of written text; `stalled` never completes a write. */
class FakeMember implements Member {
  name = "";
  joinedAt = 0;
  readonly peer = "127.0.0.1:1";
  readonly outbox: Outbox;
  written: string[] = [];
  disconnected = false;

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

  /** Every line written so far, once the outbox has drained. */
  async lines(): Promise<string[]> {
    await this.outbox.flushed();
    return this.written.join("").split("\n").filter((line) => line !== "");
  }
}

function room(options: Partial<ConstructorParameters<typeof Room>[0]> = {}): Room {
  return new Room({
    history: 2,
    maxMembers: 3,
    buffer: 64 * 1024,
    greeting: ["! hello"],
    log: new Logger({ quiet: true, sink: { write: (bytes) => Promise.resolve(bytes.length) } }),
    ...options,
  });
}

Deno.test("room: join, say, leave; history is the newest lines; names are unique in any case", async () => {
  const chat = room();
  const alice = new FakeMember();
  const bob = new FakeMember();
  equal(chat.join(alice, "alice"), null);
  chat.say(alice, "one");
  chat.say(alice, "two");
  chat.act(alice, "waves");
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

Deno.test("room: full, rename and the same name", () => {
  const chat = room({ maxMembers: 1 });
  const alice = new FakeMember();
  equal(chat.join(alice, "alice"), null);
  equal(chat.join(new FakeMember(), "bob"), "full");
  equal(chat.rename(alice, "alice"), "same");
  equal(chat.rename(alice, "carol"), null);
  deepStrictEqual(chat.names(), ["carol"]);
});

Deno.test("room: a member that stops reading is dropped after the broadcast, and the room told", async () => {
  const chat = room();
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
