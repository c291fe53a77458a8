/** The chat client's display filter, without sockets: what it shows, hides and escapes. */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import {
  ChatDisplay,
  type DisplayOptions,
  mentions,
  type Reading,
  safeJson,
} from "../../lib/chat/client/display.ts";
import { type ChatEvent, eventJson, eventText, systemEvent } from "../../lib/chat/events.ts";
import {
  ECHO_ON_LINE,
  GOODBYE_LINE,
  historyLine,
  IDLE_LINE,
  invalidRoomLine,
  joinedRoomLine,
  JSON_ON_LINE,
  SHUTDOWN_NOTICE,
  youAreNowLine,
  youWereKickedLine,
} from "../../lib/chat/protocol.ts";

const TS = "2026-01-02T03:04:05.000Z";

function said(from: string, text: string, ts = TS): ChatEvent {
  return { type: "message", room: "#lobby", from, text, ts };
}

/** A display with a clock the test moves, named `me`. */
function display(options: Partial<DisplayOptions> = {}) {
  let now = 10_000;
  const shown = new ChatDisplay({
    json: false,
    bell: true,
    fancy: true,
    now: () => now,
    ...options,
  });
  shown.name = "me";
  return { shown, advance: (ms: number) => (now += ms) };
}

/** The printed lines (or JSON, or notices) of each line taken, "-" for a hidden one. */
function outputs(shown: ChatDisplay, lines: string[]): string[] {
  return lines.map((line) => {
    const output = shown.take(line).output;
    if (output === null) return "-";
    return output.kind === "line"
      ? (output.before === undefined ? "" : `${output.before}\n`) + output.line
      : output.kind === "json"
      ? output.json
      : `-- ${output.text}`;
  });
}

Deno.test("chat display: a room line is shown escaped; a mention from someone else is highlighted with a bell at most once a second", () => {
  const { shown, advance } = display();
  const plain = eventText(said("bob", "hello\x1b[2J"));
  deepStrictEqual(shown.take(plain).output, {
    kind: "line",
    line: plain.replace("\x1b", "\\x1b"),
    highlight: false,
    bell: false,
  });
  const mention = eventText(said("bob", "hi @ME"));
  deepStrictEqual(shown.take(mention).output, {
    kind: "line",
    line: mention,
    highlight: true,
    bell: true,
  });
  advance(500);
  deepStrictEqual(shown.take(mention).output, {
    kind: "line",
    line: mention,
    highlight: true,
    bell: false,
  });
  advance(600);
  equal(
    (shown.take(mention).output as { bell: boolean }).bell,
    true,
    "a second later it rings again",
  );
  const own = eventText(said("me", "I am me"));
  deepStrictEqual(shown.take(own).output, {
    kind: "line",
    line: own,
    highlight: false,
    bell: false,
  });
  const notice = "* me joined";
  deepStrictEqual(shown.take(notice).output, {
    kind: "line",
    line: notice,
    highlight: false,
    bell: false,
  });
});

Deno.test("chat display: without the raw UI, or with --no-bell, there is no highlight or no bell", () => {
  const mention = eventText(said("bob", "me?"));
  const plain = display({ fancy: false }).shown.take(mention).output;
  deepStrictEqual(plain, { kind: "line", line: mention, highlight: false, bell: false });
  const quiet = display({ bell: false }).shown.take(mention).output;
  deepStrictEqual(quiet, { kind: "line", line: mention, highlight: true, bell: false });
});

Deno.test("chat display: the setup's replies and the lobby's history before a /join are hidden", () => {
  const { shown } = display();
  deepStrictEqual(shown.setup("#games", true), ["/echo on", "/join #games"]);
  const joined = joinedRoomLine("#games", ["bob", "me"]);
  deepStrictEqual(
    outputs(shown, [
      historyLine(1),
      eventText(said("bob", "in the lobby")),
      ECHO_ON_LINE,
      joined,
      eventText(said("bob", "in games")),
    ]),
    ["-", "-", "-", joined, eventText(said("bob", "in games"))],
  );
  equal(shown.take(joined).room, "#games", "the move is reported");
  deepStrictEqual(display().shown.setup("#lobby", false), [], "nothing to do in the lobby");
});

Deno.test("chat display: a refused /join ends the hiding; in JSON mode it becomes a notice", () => {
  const text = display();
  text.shown.setup("#x", false);
  const refusal = invalidRoomLine("x y");
  deepStrictEqual(outputs(text.shown, [refusal]), [refusal]);
  const json = display({ json: true });
  deepStrictEqual(json.shown.setup("#x", false), ["/join #x", "/json"]);
  deepStrictEqual(outputs(json.shown, [refusal, JSON_ON_LINE]), [`-- ${refusal.slice(2)}`, "-"]);
});

Deno.test("chat display: a history replay after a reconnect shows only what is new", () => {
  const { shown } = display();
  const old = eventText(said("bob", "old"));
  const fresh = eventText(said("bob", "fresh", "2026-01-02T03:04:06.000Z"));
  deepStrictEqual(outputs(shown, [old]), [old]);
  shown.setup("#lobby", false);
  deepStrictEqual(outputs(shown, [historyLine(2), old, fresh, old]), [
    "-",
    "-",
    `${historyLine(2)}\n${fresh}`,
    old,
  ]);
});

Deno.test("chat display: a replay of lines all shown before prints no history header", () => {
  const { shown } = display();
  const old = eventText(said("bob", "old"));
  const after = eventText(said("bob", "after", "2026-01-02T03:04:07.000Z"));
  deepStrictEqual(outputs(shown, [historyLine(1), old]), ["-", `${historyLine(1)}\n${old}`]);
  shown.setup("#lobby", false);
  deepStrictEqual(outputs(shown, [historyLine(1), old, after]), ["-", "-", after]);
});

Deno.test("chat display --json: text before JSON mode is hidden; objects are re-serialised with controls and bidi escaped", () => {
  const { shown } = display({ json: true });
  deepStrictEqual(shown.setup("#lobby", false), ["/json"]);
  const replayed = eventJson(said("bob", "seen"), true);
  deepStrictEqual(outputs(shown, [eventText(said("bob", "text mode")), JSON_ON_LINE]), ["-", "-"]);
  deepStrictEqual(outputs(shown, [eventJson(said("bob", "a\u202eb\u0085")), replayed, replayed]), [
    eventJson(said("bob", "a\u202eb\u0085")).replace("\u202e", "\\u202e").replace(
      "\u0085",
      "\\u0085",
    ),
    replayed,
    "-",
  ]);
  deepStrictEqual(outputs(shown, ["not json"]), [eventJson(systemEvent("not json"))]);
});

Deno.test("chat display: what a line says about us (rename, kick, shutdown, idle, goodbye), in text and JSON", () => {
  const about = (reading: Reading) => {
    const { output: _, ...rest } = reading;
    return rest;
  };
  for (const json of [false, true]) {
    const { shown } = display({ json });
    const line = (text: string) => json ? eventJson(systemEvent(text)) : text;
    deepStrictEqual(about(shown.take(line(youAreNowLine("me2")))), { renamed: "me2" });
    equal(shown.name, "me2", "mentions follow the new name");
    deepStrictEqual(about(shown.take(line(youWereKickedLine("kicked by op: bye")))), {
      refused: "You were kicked by op: bye",
    });
    deepStrictEqual(about(shown.take(line(SHUTDOWN_NOTICE))), { shutdown: true });
    ok(about(shown.take(line(IDLE_LINE))).refused?.includes("idle for too long"));
    deepStrictEqual(about(shown.take(line(GOODBYE_LINE))), { goodbye: true });
  }
});

Deno.test("chat client parts: mentions, safe JSON", () => {
  const line = (text: string) => `[12:00:00] ${text}`;
  ok(mentions(line("bob: hi alice!"), "Alice"));
  ok(mentions(line("* bob pokes @alice"), "alice"));
  ok(mentions(line("(private) bob -> alice: alice?"), "alice"));
  ok(!mentions(line("alice: I am alice"), "alice"), "not our own lines");
  ok(!mentions(line("bob: malice aforethought"), "alice"));
  ok(!mentions("* alice joined", "alice"), "not notices");
  ok(mentions(line("bob: a.b, hi"), "a.b") && !mentions(line("bob: axb"), "a.b"));
  equal(safeJson({ text: "\x1b[2J\u009b\u202e" }), '{"text":"\\u001b[2J\\u009b\\u202e"}');
});
