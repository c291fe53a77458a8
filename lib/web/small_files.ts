/**
 * The bytes of small stored files, kept in memory between requests (as
 * nginx's open_file_cache keeps descriptors): a 4 KB GET then costs a stat
 * of the name, not an open, a stat and a read through Deno's thread pool.
 * An entry is used only while the store describes the file with the same
 * size, modification time and SHA-256 (every upload, replace or rename
 * changes them); files without a known digest are never kept.
 */
import type { FileEntry } from "../files/protocol.ts";

/** Files up to this size are kept. */
export const SMALL_FILE_MAX = 64 * 1024;
/** Bytes kept at most; the least recently used go first. */
const CACHE_BYTES = 32 * 1024 * 1024;

/** A bounded, least-recently-used map from a file's identity to its bytes. */
export class SmallFiles {
  #entries = new Map<string, Uint8Array<ArrayBuffer>>();
  #bytes = 0;

  /** The bytes of `entry` if kept and still the same file, else null. */
  get(entry: FileEntry): Uint8Array<ArrayBuffer> | null {
    const key = keyOf(entry);
    if (key === null) return null;
    const bytes = this.#entries.get(key);
    if (bytes === undefined) return null;
    // Most recently used last.
    this.#entries.delete(key);
    this.#entries.set(key, bytes);
    return bytes;
  }

  /** Keeps the bytes of `entry` (small files with a known digest only). */
  put(entry: FileEntry, bytes: Uint8Array<ArrayBuffer>): void {
    const key = keyOf(entry);
    if (key === null || bytes.length > SMALL_FILE_MAX || this.#entries.has(key)) return;
    this.#entries.set(key, bytes);
    this.#bytes += bytes.length;
    for (const [old, kept] of this.#entries) {
      if (this.#bytes <= CACHE_BYTES) break;
      this.#entries.delete(old);
      this.#bytes -= kept.length;
    }
  }
}

function keyOf(entry: FileEntry): string | null {
  if (entry.sha256 === null) return null;
  return `${entry.sha256}\u0000${entry.size}\u0000${entry.mtimeMs}\u0000${entry.name}`;
}
