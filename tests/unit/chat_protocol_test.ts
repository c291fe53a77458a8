/** The chat protocol's parsers read exactly what its builders write: one source for both ends. */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import {
  type ChatEvent,
  eventJson,
  eventText,
  parseEventJson,
  parseSpokenLine,
  systemEvent,
} from "../../lib/chat/events.ts";
import {
  asksForName,
  clock,
  historyLine,
  invalidNameLine,
  invalidRoomLine,
  isRoomRefusal,
  isShutdownNotice,
  joinedLine,
  joinedRoomLine,
  limitsLine,
  parseHistoryHeader,
  parseJoined,
  parseJoinedRoom,
  parseKicked,
  parseLimits,
  parseRenamed,
  parseTakenName,
  SHUTDOWN_NOTICE,
  systemText,
  takenNameLine,
  tooManyRoomsLine,
  welcomeLine,
  youAreNowLine,
  youWereKickedLine,
} from "../../lib/chat/protocol.ts";

const TS = "2026-01-02T03:04:05.000Z";
const TIME = clock(new Date(TS));

Deno.test("chat protocol: message, action and private lines are taken apart as eventText writes them", () => {
  const message: ChatEvent = { type: "message", room: "#lobby", from: "bob", text: "a: b", ts: TS };
  deepStrictEqual(parseSpokenLine(eventText(message)), {
    type: "message",
    time: TIME,
    from: "bob",
    text: "a: b",
  });
  deepStrictEqual(parseSpokenLine(eventText({ ...message, action: true, text: "waves" })), {
    type: "action",
    time: TIME,
    from: "bob",
    text: "waves",
  });
  const direct: ChatEvent = { type: "private", from: "a.b", to: "c-d", text: "hi", ts: TS };
  deepStrictEqual(parseSpokenLine(eventText(direct)), {
    type: "private",
    time: TIME,
    from: "a.b",
    to: "c-d",
    text: "hi",
  });
  equal(parseSpokenLine(eventText({ type: "join", room: "#lobby", name: "bob", ts: TS })), null);
  equal(parseSpokenLine(eventText(systemEvent("! [12:00:00] x: y"))), null);
});

Deno.test("chat protocol: the handshake and reply lines a client recognises", () => {
  ok(asksForName(welcomeLine(2)) && asksForName(invalidNameLine("x y")));
  ok(asksForName(takenNameLine("bob")) && !asksForName(takenNameLine("bob", false)));
  equal(parseTakenName(takenNameLine("bob")), "bob");
  equal(parseTakenName(invalidNameLine("bob")), null);
  equal(parseJoined(joinedLine("bob", ["alice", "bob"])), "bob");
  equal(parseJoined(joinedRoomLine("#games", ["bob"])), null);
  equal(parseJoinedRoom(joinedRoomLine("#games", ["bob"])), "#games");
  equal(parseRenamed(youAreNowLine("bob2")), "bob2");
  equal(parseKicked(youWereKickedLine("kicked by op: bye")), "kicked by op: bye");
  deepStrictEqual(parseLimits(limitsLine(4096, 5, 10)), { rate: 5, burst: 10 });
  deepStrictEqual(parseLimits(limitsLine(4096, 0, 0)), { rate: 0, burst: 0 });
  equal(parseLimits(historyLine(1)), null);
  equal(parseHistoryHeader(historyLine(1)), 1);
  equal(parseHistoryHeader(historyLine(20)), 20);
  ok(isRoomRefusal(tooManyRoomsLine("#x", 3)) && isRoomRefusal(invalidRoomLine("x y")));
  ok(!isRoomRefusal(joinedRoomLine("#x", ["bob"])));
  ok(isShutdownNotice(SHUTDOWN_NOTICE));
  equal(systemText(youAreNowLine("bob")), "You are now known as bob");
  equal(systemText(SHUTDOWN_NOTICE), null);
});

Deno.test("chat protocol: a JSON line is read back as the object eventJson wrote; anything else is null", () => {
  const event: ChatEvent = { type: "users", room: "#lobby", users: ["a", "b"] };
  deepStrictEqual(parseEventJson(eventJson(event)), event);
  deepStrictEqual(parseEventJson(eventJson(event, true)), { ...event, history: true });
  equal(parseEventJson("{not json"), null);
  equal(parseEventJson("! Goodbye"), null);
  equal(parseEventJson("[1]"), null);
});
