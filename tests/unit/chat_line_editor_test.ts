/** The chat client's line editor and display width, without a terminal. */
import { deepStrictEqual, equal } from "node:assert/strict";
import { encode } from "../../lib/base/text.ts";
import { LineEditor } from "../../lib/chat/client/line_editor.ts";
import { displayWidth } from "../../lib/chat/client/width.ts";

Deno.test("chat line editor: typing, editing keys, escape sequences, submit and quit", () => {
  const editor = new LineEditor();
  deepStrictEqual(editor.feed(encode("hel")), []);
  deepStrictEqual(editor.feed(encode("lo\x1b[A\x1bOPx\x7f wor")), []);
  equal(editor.text, "hello wor");
  equal(editor.render("me> ", 10), "\r\x1b[2Kme> o wor");
  deepStrictEqual(editor.feed(encode("ld\r")), [{ kind: "submit", text: "hello world" }]);
  equal(editor.text, "");
  deepStrictEqual(editor.feed(encode("\r\n")), []); // empty lines are not sent
  editor.feed(encode("one two\x17"));
  equal(editor.text, "one ");
  editor.feed(encode("\x15h\u00e9"));
  equal(editor.text, "hé");
  deepStrictEqual(editor.feed(encode("\x04")), []); // Ctrl-D quits only on an empty line
  deepStrictEqual(editor.feed(encode("\x03")), [{ kind: "quit" }]);
});

Deno.test("chat client parts: display width, and the editor's wide characters and clusters", () => {
  equal(displayWidth("日本"), 4);
  equal(displayWidth("e\u0301"), 1);
  equal(displayWidth("👍🏽👨‍👩‍👧"), 4);
  const editor = new LineEditor();
  editor.feed(encode("ab日本語"));
  // 10 columns less the prompt and the cursor leave 7: "b" and three wide characters.
  equal(editor.render("> ", 10), "\r\x1b[2K> b日本語");
  editor.feed(encode("e\u0301\x7f")); // Backspace takes the whole "é"
  equal(editor.text, "ab日本語");
});

/** Feeds `keys` and returns the text with a "|" where the cursor is. */
function typed(editor: LineEditor, keys: string): string {
  editor.feed(encode(keys));
  const chars = [...editor.text];
  chars.splice(editor.cursor, 0, "|");
  return chars.join("");
}

const LEFT = "\x1b[D";
const RIGHT = "\x1b[C";
const UP = "\x1b[A";
const DOWN = "\x1b[B";

Deno.test("chat line editor: the cursor moves by characters and words, and edits where it is", () => {
  const editor = new LineEditor();
  equal(typed(editor, "helo"), "helo|");
  equal(typed(editor, `${LEFT}l`), "hell|o");
  equal(typed(editor, "\x1b[H"), "|hello"); // Home
  equal(typed(editor, `${RIGHT}\x1bOC`), "he|llo"); // Right, and its SS3 form
  equal(typed(editor, "\x1b[F world"), "hello world|"); // End
  equal(typed(editor, "\x01"), "|hello world"); // Ctrl-A
  equal(typed(editor, "\x05"), "hello world|"); // Ctrl-E
  equal(typed(editor, "\x1b[1;5D"), "hello |world"); // Ctrl-Left: a word
  equal(typed(editor, "\x1bb"), "|hello world"); // Alt-B
  equal(typed(editor, "\x1bf"), "hello| world"); // Alt-F
  equal(typed(editor, "\x1b[1;5C"), "hello world|"); // Ctrl-Right
  equal(typed(editor, "\x1b[1~\x1b[3~"), "|ello world"); // Home (VT), Delete
  equal(typed(editor, "\x1b[4~\x02\x02\x04"), "ello wor|d"); // End, Ctrl-B twice, Ctrl-D
  equal(typed(editor, "\x06\x7f"), "ello wor|"); // Ctrl-F past the end stays, Backspace
  equal(typed(editor, "\x1b[1;5D\x0b"), "ello |"); // Ctrl-Left, Ctrl-K
  equal(typed(editor, "x\x1b[D\x15"), "|x"); // Ctrl-U: up to the cursor
});

Deno.test("chat line editor: Ctrl-W deletes up to a space, Alt-Backspace up to punctuation", () => {
  const editor = new LineEditor();
  equal(typed(editor, "see http://a.example/x  \x17"), "see |");
  equal(typed(editor, "http://a.example/path\x1b\x7f"), "see http://a.example/|");
  equal(typed(editor, "\x1b\x7f\x1b\x7f"), "see http://|");
  equal(typed(editor, "b c\x1b[D\x1b[D\x17"), "see | c"); // at the cursor, not the end
});

Deno.test("chat line editor: Up and Down go through the lines sent, keeping the line being typed", () => {
  const editor = new LineEditor();
  editor.feed(encode("first\rsecond\rsecond\r"));
  equal(typed(editor, "draft"), "draft|");
  equal(typed(editor, UP), "second|"); // a repeat is kept once
  equal(typed(editor, UP), "first|");
  equal(typed(editor, UP), "first|"); // the oldest
  equal(typed(editor, DOWN), "second|");
  equal(typed(editor, DOWN), "draft|");
  equal(typed(editor, DOWN), "draft|");
  // A line taken from the history is edited and sent as a new one.
  editor.feed(encode("\x15"));
  deepStrictEqual(editor.feed(encode(`${UP}${UP}!\r`)), [{ kind: "submit", text: "first!" }]);
  equal(typed(editor, UP), "first!|");
});

Deno.test("chat line editor: the row scrolls to keep the cursor in view, and the cursor is put back", () => {
  const editor = new LineEditor();
  editor.feed(encode("abcdefghij"));
  // "> " and one spare column leave 7 for text: its end, the cursor after it.
  equal(editor.render("> ", 10), "\r\x1b[2K> defghij");
  editor.feed(encode("\x1b[H"));
  // Home: the start of the text, the cursor moved back over the 7 columns drawn.
  equal(editor.render("> ", 10), "\r\x1b[2K> abcdefg\x1b[7D");
  editor.feed(encode(`${RIGHT}${RIGHT}`));
  equal(editor.render("> ", 10), "\r\x1b[2K> abcdefg\x1b[5D");
  editor.feed(encode("\x0b")); // Ctrl-K: "ab" is all there is
  equal(editor.render("> ", 10), "\r\x1b[2K> ab");
});

Deno.test("chat line editor: after a resize the rows the old line wrapped onto are cleared too", () => {
  const editor = new LineEditor();
  editor.feed(encode("x".repeat(70)));
  editor.render("me> ", 80); // 74 columns to the cursor
  // Narrowed to 30: a reflowing terminal now holds the row on 3 rows, the cursor on the last.
  equal(editor.afterResize("me> ", 30), "\x1b[2A\r\x1b[J" + "\r\x1b[2Kme> " + "x".repeat(25));
  // Widened again: the row fits on one, nothing to go up for.
  equal(editor.afterResize("me> ", 80), "\r\x1b[J\r\x1b[2Kme> " + "x".repeat(70));
});
