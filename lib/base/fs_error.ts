/**
 * Local file-system failures in words: a read-only disk, a full one, no
 * permission, a file where a folder should be, a name too long. Deno's own
 * message ("Read-only file system (os error 30): writefile 'x'") is for
 * developers; a user gets `Cannot write "x": the file system is read-only`.
 */

import { printable } from "./text.ts";

// errno -> what it means for the user (Linux numbers; macOS's differ only in ones not listed).
const REASONS: Record<number, string> = {
  1: "not permitted (is the file or its folder immutable, or owned by someone else?)",
  2: "no such file or folder",
  5: "an input/output error on the device",
  13: "permission denied",
  17: "it already exists",
  20: "a file is in the way where a folder should be",
  21: "it is a folder, not a file",
  23: "too many open files on the system",
  24: "too many open files",
  27: "the file would be too large for this file system",
  28: "no space left on the device",
  30: "the file system is read-only",
  31: "too many links",
  36: "the name is too long for the file system",
  39: "the folder is not empty",
  40: "too many levels of symbolic links",
  122: "the disk quota is exceeded",
};

// Deno's operation names -> the verb a user reads.
const VERBS: Record<string, string> = {
  open: "open",
  writefile: "write",
  readfile: "read",
  stat: "read",
  lstat: "read",
  realpath: "read",
  readdir: "list",
  mkdir: "create the folder",
  rename: "rename",
  remove: "remove",
  link: "link",
  symlink: "link",
  chmod: "change the mode of",
  truncate: "truncate",
  copy: "copy",
  utime: "set the time of",
  fsync: "save",
  fdatasync: "save",
};

/** The errno in a Deno error's message ("... (os error 30) ..."), or null. */
export function osErrno(error: unknown): number | null {
  if (!(error instanceof Error)) return null;
  const found = error.message.match(/\(os error (\d+)\)/)?.[1];
  return found === undefined ? null : Number(found);
}

/**
 * What a file-system error means, in a few words ("no space left on the
 * device"), or null when `error` is not one with an errno.
 */
export function fsReason(error: unknown): string | null {
  const errno = osErrno(error);
  if (errno === null) return null;
  return REASONS[errno] ??
    (error as Error).message.replace(/ \(os error \d+\).*$/, "").toLowerCase();
}

/**
 * One line for a file-system error Deno threw with its operation and path
 * (`Cannot write "dir/x": the file system is read-only`), or null when
 * `error` does not name them. main.ts uses it so no such failure, wherever
 * it comes from, ends in a stack trace.
 */
export function describeFsError(error: unknown): string | null {
  const reason = fsReason(error);
  if (reason === null) return null;
  const match = (error as Error).message.match(/\(os error \d+\): (\w+) '(.*?)'(?: -> '(.*)')?$/s);
  if (match === null) return `A file-system operation failed: ${reason}`;
  const [, op, path, target] = match;
  const verb = VERBS[op!] ?? op!;
  // mkdir's EEXIST: something that is not a folder holds the name.
  const why = op === "mkdir" && osErrno(error) === 17
    ? "a file of that name is in the way"
    : reason;
  // A path of hundreds of characters is cut in the middle: its ends say where.
  const quoted = (text: string) =>
    `"${printable(text.length > 100 ? `${text.slice(0, 60)}...${text.slice(-30)}` : text)}"`;
  const where = target === undefined ? quoted(path!) : `${quoted(path!)} to ${quoted(target)}`;
  return `Cannot ${verb} ${where}: ${why}`;
}
