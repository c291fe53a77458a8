import { equal } from "node:assert/strict";
import { describeFsError, fsReason } from "../../lib/base/fs_error.ts";

Deno.test("fs errors: Deno's message becomes what failed, where, and why in words", () => {
  const cases: [string, string][] = [
    [
      "Read-only file system (os error 30): writefile 'dl/.x.socketkit-part.json'",
      'Cannot write "dl/.x.socketkit-part.json": the file system is read-only',
    ],
    [
      "No space left on device (os error 28): open 'x'",
      'Cannot open "x": no space left on the device',
    ],
    [
      "File exists (os error 17): mkdir 'out/photos'",
      'Cannot create the folder "out/photos": a file of that name is in the way',
    ],
    [
      "No such file or directory (os error 2): rename 'a' -> 'b'",
      'Cannot rename "a" to "b": no such file or folder',
    ],
    ["Something odd (os error 999): stat 'q'", 'Cannot read "q": something odd'],
    [
      "Permission denied (os error 13): open 'a\u001bb'",
      'Cannot open "a\\x1bb": permission denied',
    ],
  ];
  for (const [message, expected] of cases) equal(describeFsError(new Error(message)), expected);
  equal(describeFsError(new Error("not from the file system")), null);
  equal(
    fsReason(new Error("No space left on device (os error 28)")),
    "no space left on the device",
  );
  const long = "n".repeat(300);
  equal(
    describeFsError(new Error(`File name too long (os error 36): stat '${long}'`)),
    `Cannot read "${"n".repeat(60)}...${"n".repeat(30)}": the name is too long for the file system`,
  );
});
