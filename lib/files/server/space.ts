/**
 * The bytes the file store holds, and making room. Stored files and part
 * files count against --max-dir-size as each chunk is written; the part
 * files of interrupted uploads are kept within --max-partial and for
 * --keep-partial, and evicted, oldest first, to make room for an upload or
 * on a full disk. Part files of running uploads (here or in another server
 * sharing the directory, which holds their lock) are never touched.
 */
import { join } from "../../base/path.ts";
import { closeQuietly } from "../../base/io.ts";
import { formatBytes } from "../../base/progress.ts";
import { quoteName } from "../names.ts";
import { lstatNow, mtimeOf, readRecord, removeNow } from "../records.ts";
import { diskError, FileRefusal, isNoSpace } from "./refusals.ts";
import type { Outcome, PartRecord } from "./upload.ts";

/** The limits of {@link StoreSpace}; 0 is no limit. */
export interface SpaceLimits {
  /** Bytes the store may hold, stored files and part files together. */
  maxDirSize: number;
  /** Bytes kept in interrupted uploads; past it the oldest are deleted. */
  maxPartial: number;
  /** Milliseconds an interrupted upload is kept for resuming. */
  keepPartial: number;
}

/** An interrupted upload's part file, for eviction. */
interface KeptPart {
  path: string;
  meta: string;
  size: number;
  mtimeMs: number;
}

/** The store's byte counts and its folder of part files (`.socketkit/parts`). */
export class StoreSpace {
  /** Keys of the part files of uploads running now: never swept or evicted. */
  readonly running = new Set<string>();
  #parts: string;
  #limits: SpaceLimits;
  /** Bytes of the files listed. */
  #storedBytes = 0;
  /** Bytes of every part file (running and interrupted). */
  #partBytes = 0;

  constructor(parts: string, limits: SpaceLimits) {
    this.#parts = parts;
    this.#limits = limits;
  }

  /** Bytes held: stored files and part files (what --max-dir-size limits). */
  get usedBytes(): number {
    return this.#storedBytes + this.#partBytes;
  }

  /** A stored file of `bytes` was removed. */
  removed(bytes: number): void {
    this.#storedBytes -= bytes;
  }

  /** An upload's part file changed size by `bytes` outside a write (truncated to resume). */
  resized(bytes: number): void {
    this.#partBytes += bytes;
  }

  /** Bytes charged but not written. */
  refund(bytes: number): void {
    this.#partBytes -= bytes;
  }

  /** An upload ended with `onDisk` bytes in its part: they became a file, or went, or stay. */
  settle(outcome: Outcome, onDisk: number): void {
    if (outcome.kind === "committed") {
      this.#partBytes -= onDisk;
      this.#storedBytes += onDisk - outcome.replaced;
    } else if (outcome.kind === "discarded") {
      this.#partBytes -= onDisk;
    }
  }

  /**
   * Before an upload of `need` more bytes: under --max-dir-size, interrupted
   * uploads are evicted to make room; if there still is none, FileRefusal
   * no-space. `freed` is what the upload's own part gives back.
   */
  async makeRoom(name: string, need: number, freed: number): Promise<void> {
    const max = this.#limits.maxDirSize;
    if (max <= 0) return;
    const room = () => max - (this.usedBytes - freed);
    if (need <= room()) return;
    await this.evict(0);
    if (need > room()) throw this.#full(name, need);
  }

  /**
   * Counts `bytes` about to be written to an upload's part against
   * --max-dir-size. Throws FileRefusal no-space.
   */
  charge(name: string, bytes: number): void {
    const max = this.#limits.maxDirSize;
    if (max > 0 && this.usedBytes + bytes > max) throw this.#full(name, bytes);
    this.#partBytes += bytes;
  }

  #full(name: string, need: number): FileRefusal {
    const max = this.#limits.maxDirSize;
    return new FileRefusal(
      "no-space",
      `No room for ${quoteName(name)}: the store holds ${formatBytes(this.usedBytes)} of its ${
        formatBytes(max)
      } limit and needs ${formatBytes(need)} more (--max-dir-size)`,
    );
  }

  /**
   * Runs a small write (a record); on a full disk, evicts interrupted
   * uploads and tries once more. Throws FileRefusal no-space (or io).
   */
  async withSpace(name: string, write: () => void): Promise<void> {
    try {
      write();
    } catch (error) {
      if (!isNoSpace(error) || (await this.evict(0)) === 0) {
        throw diskError(name, error);
      }
      try {
        write();
      } catch (again) {
        throw diskError(name, again);
      }
    }
  }

  /** Applies --max-partial to the interrupted uploads kept; returns the bytes freed. */
  async trim(): Promise<number> {
    const max = this.#limits.maxPartial;
    return max > 0 ? await this.evict(max) : 0;
  }

  /**
   * Deletes interrupted uploads (never running ones), oldest first, until
   * they hold at most `keepAtMost` bytes (0: delete them all). Returns the
   * bytes freed.
   */
  async evict(keepAtMost: number): Promise<number> {
    const kept: KeptPart[] = [];
    for await (const item of Deno.readDir(this.#parts)) {
      if (item.name.includes(".")) continue; // the records
      if (this.running.has(item.name)) continue;
      const path = join(this.#parts, item.name);
      if (await lockedElsewhere(path)) continue; // another server sharing the directory is writing it
      const meta = path + ".json";
      const info = lstatNow(path);
      if (info?.isFile) kept.push({ path, meta, size: info.size, mtimeMs: mtimeOf(info) });
    }
    let total = kept.reduce((sum, part) => sum + part.size, 0);
    let freed = 0;
    kept.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const part of kept) {
      if (total <= keepAtMost) break;
      removeNow(part.path);
      removeNow(part.meta);
      total -= part.size;
      freed += part.size;
      this.#partBytes -= part.size;
    }
    return freed;
  }

  /**
   * Removes the part files of interrupted uploads older than --keep-partial
   * (and of streams, which never resume, and parts without an owner record);
   * returns the bytes of the part files that stay, for {@link recount}.
   */
  async sweepParts(now: number): Promise<number> {
    const { keepPartial } = this.#limits;
    let partBytes = 0;
    for await (const item of Deno.readDir(this.#parts)) {
      const path = join(this.#parts, item.name);
      const key = item.name.replace(/\.json$/, "");
      const info = lstatNow(join(this.#parts, key));
      if (this.running.has(key)) {
        if (item.name === key) partBytes += info?.size ?? 0;
        continue;
      }
      const owner = readRecord<PartRecord>(join(this.#parts, key + ".json"));
      // A streamed upload never resumes: its part is stale once it is not running.
      const stale = owner === null || owner.size === null || info === null || !info.isFile ||
        (keepPartial > 0 && now - mtimeOf(info) > keepPartial);
      // A part another server (sharing this directory) is writing is locked.
      if (stale && !(await lockedElsewhere(join(this.#parts, key)))) removeNow(path);
      else if (item.name === key) partBytes += info?.size ?? 0;
    }
    return partBytes;
  }

  /** Sets the counts from what a sweep found on disk (files copied in by hand count from here on). */
  recount(storedBytes: number, partBytes: number): void {
    this.#storedBytes = storedBytes;
    this.#partBytes = partBytes;
  }
}

/** True when another process holds the lock on the part at `path` (it is uploading it). */
async function lockedElsewhere(path: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return false; // gone, or not a file we can open: nothing to protect
  }
  try {
    return !(await file.tryLock(true));
  } finally {
    closeQuietly(file);
  }
}
