/**
 * The house rules of lib/, checked on every test run: imports only point down
 * the layers below, never across from one service folder to another, and no
 * file reaches itself through its imports. Type-only imports count too: a
 * type that lives in the wrong layer is the first step of a circle.
 */
import { deepStrictEqual } from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** From the top down; a file may import only what stands lower (or in its own folder). */
const LAYERS: [rank: number, paths: string[]][] = [
  [8, ["main.ts"]],
  [7, ["lib/serve.ts", "lib/connect.ts", "lib/help.ts"]],
  [6, ["lib/menu.ts", "lib/web/"]],
  [5, ["lib/message/", "lib/chat/", "lib/info/", "lib/files/"]],
  [4, ["lib/service.ts"]],
  [3, ["lib/security/"]],
  [2, ["lib/net/"]],
  [1, ["lib/base/"]],
];

function placeOf(path: string): { rank: number; room: string } | null {
  for (const [rank, paths] of LAYERS) {
    for (const place of paths) {
      if (place.endsWith("/") ? path.startsWith(place) : path === place) {
        return { rank, room: place };
      }
    }
  }
  return null;
}

async function sources(): Promise<string[]> {
  const found = ["main.ts"];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(join(ROOT, dir))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts")) found.push(path);
    }
  }
  await walk("lib");
  return found.sort();
}

// Static imports and exports with a module specifier, and import("...") calls.
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^;"']*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

async function importsOf(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(join(ROOT, path));
  const targets: string[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const spec = match[1] ?? match[2]!;
    if (!spec.startsWith(".")) continue; // node:, npm:, jsr: are not rooms of the house
    targets.push(relative(ROOT, normalize(join(ROOT, dirname(path), spec))));
  }
  return targets;
}

Deno.test("layers: every lib file has a layer, and imports only point down or stay in their folder", async () => {
  const problems: string[] = [];
  for (const path of await sources()) {
    const from = placeOf(path);
    if (from === null) {
      problems.push(`${path}: in no layer (add it to LAYERS in tests/unit/layers_test.ts)`);
      continue;
    }
    for (const target of await importsOf(path)) {
      if (target.endsWith(".json")) continue; // deno.json, data
      const to = placeOf(target);
      if (to === null) continue; // reported as its own file
      if (to.room === from.room) continue;
      if (to.rank >= from.rank) problems.push(`${path} -> ${target}: runs up or across`);
    }
  }
  deepStrictEqual(problems, []);
});

Deno.test("layers: no file reaches itself through its imports", async () => {
  const graph = new Map<string, string[]>();
  for (const path of await sources()) {
    graph.set(path, (await importsOf(path)).filter((target) => target.endsWith(".ts")));
  }
  const circles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (path: string): void => {
    state.set(path, "open");
    stack.push(path);
    for (const next of graph.get(path) ?? []) {
      if (state.get(next) === "open") {
        circles.push([...stack.slice(stack.indexOf(next)), next].join(" -> "));
      } else if (!state.has(next)) {
        visit(next);
      }
    }
    stack.pop();
    state.set(path, "done");
  };
  for (const path of graph.keys()) if (!state.has(path)) visit(path);
  deepStrictEqual(circles, []);
});

/**
 * Inside a service folder: its top-level files are the wire protocol, config
 * and status both ends share; `client/` and `server/` build on them and never
 * on each other; the server may use its cluster layer, which uses neither.
 * Each subfolder names the sibling subfolders it may import.
 */
const SUBFOLDERS: Record<string, Record<string, string[]>> = {
  "lib/chat/": { "client/": [], "server/": ["cluster/"], "cluster/": [] },
  "lib/files/": { "client/": [], "server/": [] },
};

/** The subfolder of a service folder a path is in ("" for its top level), or null outside one. */
function subfolderOf(path: string): { service: string; sub: string } | null {
  for (const service of Object.keys(SUBFOLDERS)) {
    if (!path.startsWith(service)) continue;
    const rest = path.slice(service.length);
    const slash = rest.indexOf("/");
    return { service, sub: slash < 0 ? "" : rest.slice(0, slash + 1) };
  }
  return null;
}

Deno.test("layers: inside a service folder, client and server share only the top level", async () => {
  const problems: string[] = [];
  for (const path of await sources()) {
    const from = subfolderOf(path);
    if (from === null) continue;
    const allowed = SUBFOLDERS[from.service]!;
    if (from.sub !== "" && !(from.sub in allowed)) {
      problems.push(`${path}: subfolder ${from.sub} has no rule (add it to SUBFOLDERS)`);
      continue;
    }
    for (const target of await importsOf(path)) {
      const to = subfolderOf(target);
      if (to === null || to.service !== from.service) continue;
      if (to.sub === from.sub || to.sub === "") continue;
      if (from.sub !== "" && allowed[from.sub]!.includes(to.sub)) continue;
      problems.push(`${path} -> ${target}: ${from.sub || "the top level"} may not use ${to.sub}`);
    }
  }
  deepStrictEqual(problems, []);
});
