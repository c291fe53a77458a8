/**
 * `deno compile` follows only imports it can read; modules loaded through
 * importLazily (lib/base/lazy_import.ts) and workers' main modules must be
 * in tools/compile.ts's INCLUDES, or the binary fails when it reaches them.
 */
import { deepStrictEqual } from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { INCLUDES } from "../../tools/compile.ts";
import { ROOT } from "../_helpers.ts";

/** Every .ts file under `dir`, relative to the checkout. */
function sources(dir: string): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync(join(ROOT, dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) found.push(...sources(path));
    else if (entry.name.endsWith(".ts")) found.push(path);
  }
  return found;
}

// A module named by URL: importLazily<...>(new URL("./x.ts", import.meta.url)), a Worker's.
const LOADED = /new URL\(\s*"(\.{1,2}\/[^"]+\.ts)",\s*import\.meta\.url/g;

Deno.test("compile: every module loaded lazily or as a worker is in INCLUDES", () => {
  const wanted = new Set<string>();
  for (const file of ["main.ts", ...sources("lib")]) {
    const text = Deno.readTextFileSync(join(ROOT, file));
    for (const match of text.matchAll(LOADED)) {
      wanted.add(relative(ROOT, normalize(join(ROOT, dirname(file), match[1]!))));
    }
  }
  const missing = [...wanted].filter((path) => !INCLUDES.includes(path)).sort();
  deepStrictEqual(missing, [], "add these to INCLUDES in tools/compile.ts");
  const stale = INCLUDES.filter((path) => !wanted.has(path)).sort();
  deepStrictEqual(stale, [], "nothing loads these any more: remove them from INCLUDES");
});
