/**
 * Paths the user gives (a PATH to upload, an --output), handled lexically as
 * node:path does: joined, normalized ("." and ".." folded, repeated
 * separators merged), split into folder and last name. Importing node:path
 * instead loads Node's compatibility layer, about 15 ms of every upload and
 * download. On Windows both separators are read and "\" is written, with a
 * drive ("C:\") or a UNC share ("\\host\share\") as the root.
 */

const WINDOWS = Deno.build.os === "windows";
const SEP = WINDOWS ? "\\" : "/";
const SEPARATORS = WINDOWS ? /[\\/]+/ : /\/+/;

/** The root of `path` as written ("/", "C:\", "\\host\share\"), or "" for a relative path. */
function rootOf(path: string): string {
  if (!WINDOWS) return path.startsWith("/") ? "/" : "";
  const unc = /^[\\/]{2}[^\\/]+[\\/]+[^\\/]+[\\/]*/.exec(path);
  if (unc !== null) return unc[0].replace(/[\\/]+/g, SEP).replace(/\\?$/, SEP);
  const drive = /^[A-Za-z]:[\\/]*/.exec(path);
  if (drive !== null) return drive[0].length > 2 ? drive[0].slice(0, 2) + SEP : drive[0];
  return /^[\\/]/.test(path) ? SEP : "";
}

/** `path` with "." and ".." folded and separators merged; "." for an empty relative path. */
export function normalizePath(path: string): string {
  const root = rootOf(path);
  const parts: string[] = [];
  for (const part of path.slice(root.length).split(SEPARATORS)) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length > 0 && parts[parts.length - 1] !== "..") parts.pop();
      else if (root === "") parts.push(".."); // above the root stays the root
      continue;
    }
    parts.push(part);
  }
  const joined = parts.join(SEP);
  if (root === "") return joined === "" ? "." : joined;
  return root + joined;
}

/** The paths joined with the separator, then normalized (as node:path's join). */
export function joinPath(...paths: string[]): string {
  const given = paths.filter((path) => path !== "");
  return given.length === 0 ? "." : normalizePath(given.join(SEP));
}

/** `path` made absolute against the current directory, normalized (as node:path's resolve). */
export function resolvePath(path: string): string {
  return normalizePath(rootOf(path) === "" ? Deno.cwd() + SEP + path : path);
}

/** The last name in `path`, trailing separators ignored ("" for a root). */
export function basename(path: string): string {
  const rest = path.slice(rootOf(path).length).split(SEPARATORS).filter((part) => part !== "");
  return rest[rest.length - 1] ?? "";
}

/** The folder part of `path` (as node:path's dirname): "." when it has none, the root for a root. */
export function dirname(path: string): string {
  const root = rootOf(path);
  const rest = path.slice(root.length).replace(WINDOWS ? /[\\/]+$/ : /\/+$/, "");
  const cut = Math.max(rest.lastIndexOf("/"), WINDOWS ? rest.lastIndexOf("\\") : -1);
  if (cut === -1) return root === "" ? "." : root;
  const folder = rest.slice(0, cut).replace(WINDOWS ? /[\\/]+$/ : /\/+$/, "");
  return folder === "" ? (root === "" ? SEP : root) : root + folder;
}
