import { equal } from "node:assert/strict";
import { printable } from "../../lib/base/text.ts";

Deno.test("printable: controls, invisible and format characters are shown escaped", () => {
  equal(printable("a\x1b[2Jb\x00\x7f\x9b"), "a\\x1b[2Jb\\x00\\x7f\\x9b");
  equal(printable("tab\tstays"), "tab\tstays");
  // Zero-width space, joiner and non-joiner, soft hyphen, BOM, word joiner.
  equal(
    printable("al\u200bi\u200dc\u200ce\u00ad\ufeff\u2060"),
    "al\\u200bi\\u200dc\\u200ce\\u00ad\\ufeff\\u2060",
  );
  // Tag characters (a hidden "AB"), Hangul filler, variation selector after a letter.
  equal(printable("x\u{e0041}\u{e0042}\u3164a\ufe0f"), "x\\u{e0041}\\u{e0042}\\u3164a\\ufe0f");
  // Bidi overrides and isolates, line and paragraph separators.
  equal(printable("\u202egnp.exe\u2066\u2028\u2029"), "\\u202egnp.exe\\u2066\\u2028\\u2029");
});

Deno.test("printable: emoji sequences and the joiners of Arabic and Indic words are left whole", () => {
  for (const text of ["❤️", "👩‍💻", "👍🏽", "1️⃣", "🏳️‍🌈", "می‌خواهم", "क्‍ष", "é", "日本語 ok"]) {
    equal(printable(text), text);
  }
});
