/**
 * The bytes of small stored files, kept in memory between requests (as
 * nginx's open_file_cache keeps descriptors): a 4 KB GET then costs one
 * lstat, not the store's name checks, digest record, open, stat and read.
 * Only files the store served (so names it checked) are kept, and an entry
 * is used only while the file at that path is the same inode with the same
 * size, modification and change times: an upload, a replace, a rename or a
 * delete all change that. Files without a known digest are never kept.
 */
import type { FileEntry } from "../files/protocol.ts";

/** Files up to this size are kept. */
export const SMALL_FILE_MAX = 64 * 1024;
/** Bytes kept at most; the least recently used go first. */
const CACHE_BYTES = 32 * 1024 * 1024;

/** One kept file: what the store said of it, its bytes and the inode they came from. */
export interface KeptFile {
  entry: FileEntry;
  bytes: Uint8Array<ArrayBuffer>;
}

interface Kept extends KeptFile {
  path: string;
  dev: number;
  ino: number | null;
  ctimeMs: number;
}

/** A bounded, least-recently-used map from a stored name to its bytes. */
export class SmallFiles {
  #entries = new Map<string, Kept>();
  #bytes = 0;

  /** The kept file `name`, if the file at its path is still the one kept; else null. */
  get(name: string): KeptFile | null {
    const kept = this.#entries.get(name);
    if (kept === undefined) return null;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(kept.path);
    } catch {
      this.#drop(name, kept);
      return null;
    }
    if (!same(kept, info)) {
      this.#drop(name, kept);
      return null;
    }
    // Most recently used last.
    this.#entries.delete(name);
    this.#entries.set(name, kept);
    return kept;
  }

  /**
   * Keeps `bytes`, read from the file at `path` whose fstat is `opened`,
   * as the store described it (`entry`). Only small files with a digest.
   */
  put(path: string, entry: FileEntry, bytes: Uint8Array<ArrayBuffer>, opened: Deno.FileInfo): void {
    if (entry.sha256 === null || bytes.length > SMALL_FILE_MAX || !opened.isFile) return;
    const old = this.#entries.get(entry.name);
    if (old !== undefined) this.#drop(entry.name, old);
    this.#entries.set(entry.name, {
      entry,
      bytes,
      path,
      dev: opened.dev,
      ino: opened.ino,
      ctimeMs: opened.ctime?.getTime() ?? NaN,
    });
    this.#bytes += bytes.length;
    for (const [name, kept] of this.#entries) {
      if (this.#bytes <= CACHE_BYTES) break;
      this.#drop(name, kept);
    }
  }

  #drop(name: string, kept: Kept): void {
    this.#entries.delete(name);
    this.#bytes -= kept.bytes.length;
  }
}

function same(kept: Kept, info: Deno.FileInfo): boolean {
  return info.isFile && !info.isSymlink && info.dev === kept.dev && info.ino === kept.ino &&
    info.size === kept.entry.size && (info.mtime?.getTime() ?? 0) === kept.entry.mtimeMs &&
    (info.ctime?.getTime() ?? NaN) === kept.ctimeMs;
}
