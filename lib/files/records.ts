/**
 * The small metadata calls of the store and of the client's downloads
 * (lstat, the JSON records, link, unlink, rename, mkdir), made synchronously. Each is one system call on the
 * store's own directory and takes microseconds; the async form costs two
 * thread hand-offs, measured at 50-200 µs each on a busy machine, which was
 * most of the time of a small upload (12 of them per file). File contents,
 * fsync and directory listings stay asynchronous.
 */

import { getAttribute, setAttribute } from "../base/fs_libc.ts";

/** The extended attribute that holds a stored file's digest record, where the file system has them. */
const DIGEST_ATTRIBUTE = "user.socketkit.sha256";

/** A digest record as kept on the file itself: valid while size and mtime match. */
export interface AttributeRecord {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/**
 * Keeps `record` on the file at `path` itself (an extended attribute: no
 * file is created for it, and it moves with the file). False when that
 * cannot be done here (no FFI, no user attributes): keep it as a file.
 */
export function writeAttributeRecord(path: string, record: AttributeRecord): boolean {
  const { size, mtimeMs, sha256 } = record;
  return setAttribute(path, DIGEST_ATTRIBUTE, JSON.stringify({ size, mtimeMs, sha256 }));
}

/** The digest record kept on the file at `path`, or null (none, torn, or unreadable here). */
export function readAttributeRecord(path: string): AttributeRecord | null {
  const text = getAttribute(path, DIGEST_ATTRIBUTE);
  if (text === null) return null;
  try {
    return JSON.parse(text) as AttributeRecord;
  } catch {
    return null;
  }
}

/** lstat (symlinks not followed), or null when nothing is at `path`. */
export function lstatNow(path: string): Deno.FileInfo | null {
  return nullWhenMissing(() => Deno.lstatSync(path));
}

/** stat (symlinks followed), or null when nothing is at `path`. */
export function statNow(path: string): Deno.FileInfo | null {
  return nullWhenMissing(() => Deno.statSync(path));
}

function nullWhenMissing(stat: () => Deno.FileInfo): Deno.FileInfo | null {
  try {
    return stat();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw error;
  }
}

/** A file's modification time in milliseconds (0 where the system keeps none). */
export function mtimeOf(info: Deno.FileInfo): number {
  return info.mtime?.getTime() ?? 0;
}

/** Removes a file or an empty folder; one already gone is not an error. */
export function removeNow(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** A JSON record's value, or null when it is missing or torn (taken as unknown). */
export function readRecord<T>(path: string): T | null {
  try {
    return JSON.parse(Deno.readTextFileSync(path)) as T;
  } catch {
    return null;
  }
}

/**
 * Writes a small JSON record in one call. Not atomic, and need not be: a
 * record cut short (a crash, a reader at the wrong moment) is never valid
 * JSON, and readRecord takes it as unknown (no digest, a part to sweep).
 */
export function writeRecord(path: string, value: unknown): void {
  Deno.writeTextFileSync(path, JSON.stringify(value));
}
