/** base/path.ts's join and base/local_path.ts give what node:path does for their inputs. */
import { equal } from "node:assert/strict";
import {
  basename as nodeBasename,
  dirname as nodeDirname,
  join as nodeJoin,
  normalize as nodeNormalize,
  resolve as nodeResolve,
} from "node:path";
import { join } from "../../lib/base/path.ts";
import {
  basename,
  dirname,
  joinPath,
  normalizePath,
  resolvePath,
} from "../../lib/base/local_path.ts";

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

Deno.test({
  name: "local_path: join, resolve, basename and dirname are node:path's for user paths",
  ignore: Deno.build.os === "windows",
  fn() {
    const paths = [
      "",
      ".",
      "..",
      "/",
      "//",
      "a",
      "a/",
      "a//b",
      "./a",
      "../a",
      "a/../..",
      "/a/../..",
      "a/./b/../c",
      "/srv/files/",
      "dir/sub/file.txt",
      "../../x y/ç.txt",
      ".hidden",
      "a/..",
    ];
    for (const path of paths) {
      equal(basename(path), nodeBasename(path), `basename ${JSON.stringify(path)}`);
      // node keeps repeated separators ("a//b" gives "a/"); the same folder either way.
      equal(
        normalizePath(dirname(path)),
        normalizePath(nodeDirname(path)),
        `dirname ${JSON.stringify(path)}`,
      );
      equal(resolvePath(path), nodeResolve(path), `resolve ${JSON.stringify(path)}`);
      equal(normalizePath(path), nodeNormalize(path).replace(/(.)\/$/, "$1"), `normalize ${path}`);
      for (const other of ["b", "../c", "/d", "", "e/"]) {
        equal(
          joinPath(path, other),
          nodeJoin(path, other).replace(/(.)\/$/, "$1"),
          `join ${JSON.stringify(path)} ${JSON.stringify(other)}`,
        );
      }
    }
  },
});
