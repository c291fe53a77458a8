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
