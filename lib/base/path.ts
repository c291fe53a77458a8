/**
 * Joining a directory and names into a path, as node:path's join does for
 * the inputs the file store has: a normalized directory (from realPath) and
 * plain names (no separator, no "." or ".." among them). Importing node:path
 * instead would load Node's compatibility layer, 20-50 ms of every server's
 * start-up.
 */

const SEPARATOR = Deno.build.os === "windows" ? "\\" : "/";

/**
 * `dir` and `names` joined with the system's separator: "/srv/files" and
 * "a", "b" give "/srv/files/a/b"; a root ("/", "C:\") gets no second
 * separator. Only for a normalized `dir` and plain names (see the module).
 */
export function join(dir: string, ...names: string[]): string {
  if (names.length === 0) return dir;
  const base = dir.endsWith(SEPARATOR) || dir.endsWith("/") ? dir.slice(0, -1) : dir;
  return [base, ...names].join(SEPARATOR);
}
