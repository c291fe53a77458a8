/** base/path.ts's join gives what node:path's does for the file store's inputs. */
import { equal } from "node:assert/strict";
import { join as nodeJoin } from "node:path";
import { join } from "../../lib/base/path.ts";

Deno.test("path: join is node:path's join for a normalized directory and plain names", () => {
  const dirs = Deno.build.os === "windows"
    ? ["C:\\", "C:\\srv\\files", "\\\\?\\C:\\srv"]
    : ["/", "/srv", "/srv/files", "/tmp/socketkit-files x"];
  const names = [[], ["a"], [".socketkit", "parts"], ["a b", "ç.txt", "0123abcd.json"]];
  for (const dir of dirs) {
    for (const parts of names) {
      equal(join(dir, ...parts), nodeJoin(dir, ...parts), `${dir} ${parts}`);
    }
  }
});
