/**
 * The chat client's line editing on a real pseudo-terminal, through
 * `socketkit connect chat`: cursor keys, history, word deletes, and the
 * redraw after a resize. The keys themselves are unit-tested in
 * tests/unit/chat_line_editor_test.ts.
 */
import { equal, ok } from "node:assert/strict";
import { hasCommand, PTY_RESIZE, runInPtySteps } from "./_helpers.ts";
import { join, LABEL, startChat, TIME, until } from "./_chat.ts";

const HAS_PYTHON = await hasCommand("python3");

Deno.test({
  name: "connect chat on a terminal: arrows, Home/End, history and word deletes edit what is sent",
  ignore: !HAS_PYTHON,
  async fn() {
    await using server = await startChat();
    const port = server.port(LABEL);
    using alice = await join(port, "alice");
    const run = runInPtySteps(
      ["connect", "chat", "--name", "tty", "--chat-port", String(port)],
      [
        // "hllo", Home, Right, "e", End, "!": hello!
        ["tty> $", "hllo\x1b[H\x1b[Ce\x1b[F!\r"],
        // Up brings it back; Enter sends it again.
        ["tty: hello!", "\x1b[A\r"],
        ["tty: hello!", "one two\x17three\r"], // Ctrl-W
        ["tty: one three", "see a.example/x\x1b\x7fy\r"], // Alt-Backspace
        ["tty: see a\\.example/y", "\x03"],
      ],
    );
    await until(alice, /^\* tty joined$/);
    for (const line of ["hello!", "hello!", "one three", "see a.example/y"]) {
      await until(alice, new RegExp(`^${TIME} tty: ${line.replaceAll(".", "\\.")}$`));
    }
    const result = (await run)!;
    equal(result.code, 0, result.output);
  },
});

Deno.test({
  name: "connect chat on a terminal: after the terminal narrows, the old input row is cleared",
  ignore: !HAS_PYTHON,
  async fn() {
    await using server = await startChat();
    const port = server.port(LABEL);
    const typed = "x".repeat(70);
    const result = await runInPtySteps(
      ["connect", "chat", "--name", "tty", "--chat-port", String(port)],
      [
        ["tty> $", typed],
        [`${typed}$`, `${PTY_RESIZE}30`],
        ["\\x1b\\[J", "\x03"],
      ],
    );
    ok(result !== null);
    equal(result.code, 0, result.output);
    // 80 columns (a pseudo-terminal of no size) held "tty> " and the 70 x's; at 30 a
    // reflowing terminal wraps them onto 3 rows: up 2, clear below, redraw what fits.
    const redraw = "\x1b[2A\r\x1b[J\r\x1b[2Ktty> " + "x".repeat(24);
    ok(result.output.includes(redraw) && !result.output.includes(redraw + "x"), result.output);
  },
});
