/**
 * The server's file directory. Real names hold only complete, verified files;
 * everything else lives under `.socketkit/` (never listed, never a valid name):
 *
 *   .socketkit/parts/<key>       an upload in progress or interrupted (resumable)
 *   .socketkit/parts/<key>.json  {name, size} of that upload (size null: streamed)
 *   .socketkit/meta/<key>.json   {name, size, mtimeMs, sha256} of a stored file
 *
 * where <key> is the hex SHA-256 of the name, so any name fits. A name may
 * hold folders (`a/b/c.txt`); folders are made when a file is stored in them
 * and removed when their last file goes. Nothing here follows a symlink:
 * every folder on the way and the file itself are checked with lstat, and a
 * file opened for reading must be the same inode lstat saw.
 *
 * The bytes held and making room (--max-dir-size, --max-partial, eviction)
 * are space.ts; one upload and how it ends is upload.ts; what is refused
 * and how it is worded, refusals.ts.
 */
import { join } from "../../base/path.ts";
import { pathExists } from "../../base/fs_libc.ts";
import { RuntimeError } from "../../base/errors.ts";
import { closeQuietly } from "../../base/io.ts";
import { loadHashing } from "../hashing.ts";
import { sha256Hex } from "../sha256_hex.ts";
import { checkName, nameRefusal, quoteName } from "../names.ts";
import type { FileEntry } from "../protocol.ts";
import {
  lstatNow,
  mtimeOf,
  readRecord,
  removeNow,
  writeAttributeRecord,
  writeRecord,
} from "../records.ts";
import { describeStored, metaPathOf } from "./digests.ts";
import { type FileSnapshot, LoopShare, takeSnapshot } from "./listing.ts";
import { alreadyExists, badName, diskError, FileRefusal, isNoSpace, notFound } from "./refusals.ts";
import { StoreSpace } from "./space.ts";
import { type FileRecord, type Ledger, type PartRecord, Upload } from "./upload.ts";
import { type GroupAccess, UploadGroup } from "./group.ts";

/** Options of {@link FileStore.open}. */
export interface FileStoreOptions {
  /** Largest upload in bytes. */
  maxFileSize: number;
  /** Milliseconds an interrupted upload is kept for resuming; 0 keeps them forever. */
  keepPartial: number;
  /** Bytes the store may hold, stored files and part files together; 0: no limit. Default 0. */
  maxDirSize?: number;
  /** Bytes kept in interrupted uploads; past it the oldest are deleted; 0: no limit. Default 0. */
  maxPartial?: number;
}

const STATE_DIR = ".socketkit";

/**
 * The slices of the sweep at open: few pauses (each costs a 4 ms timer),
 * as nothing of this service is served yet.
 */
const STARTING_SLICE_MS = 100;

/** The directory of stored files, with the uploads in progress. */
export class FileStore {
  /** Absolute path of --files-dir, symlinks resolved once at start. */
  readonly dir: string;
  readonly options: FileStoreOptions;
  #parts: string;
  #meta: string;
  /** Names being uploaded, moved or replaced: one operation per name at a time. */
  #busy = new Set<string>();
  /** Bytes held and making room; the part files of running uploads. */
  #space: StoreSpace;
  #count = 0;

  private constructor(dir: string, options: FileStoreOptions) {
    this.dir = dir;
    this.options = options;
    this.#parts = join(dir, STATE_DIR, "parts");
    this.#meta = join(dir, STATE_DIR, "meta");
    this.#space = new StoreSpace(this.#parts, {
      maxDirSize: options.maxDirSize ?? 0,
      maxPartial: options.maxPartial ?? 0,
      keepPartial: options.keepPartial,
    });
  }

  /** Creates the directory if missing and sweeps stale uploads. Throws RuntimeError. */
  static async open(dir: string, options: FileStoreOptions): Promise<FileStore> {
    let real: string;
    try {
      await Deno.mkdir(dir, { recursive: true });
      real = await Deno.realPath(dir);
      const store = new FileStore(real, options);
      for (const sub of [join(real, STATE_DIR), store.#parts, store.#meta]) {
        await Deno.mkdir(sub, { recursive: true });
        const info = await Deno.lstat(sub);
        if (!info.isDirectory) throw new Error(`"${sub}" is not a directory`);
      }
      await store.#sweep(STARTING_SLICE_MS); // also counts what is there
      return store;
    } catch (error) {
      throw new RuntimeError(`Cannot use files directory "${dir}": ${explainDirError(error)}`, {
        cause: error,
      });
    }
  }

  /**
   * The folder a LIST of `prefix` walks: "" for every file, else `prefix`
   * once checked. Throws FileRefusal not-found when it is not a folder.
   */
  listingFolder(prefix: string | null): string {
    if (prefix === null) return "";
    checkName(prefix, badName);
    const info = this.#lstatInside(prefix);
    if (info === null || !info.isDirectory || info.isSymlink) {
      throw new FileRefusal("not-found", `No folder ${quoteName(prefix)} on the server`);
    }
    return prefix;
  }

  /**
   * The files in `prefix` and below (every file for null) as names, sizes
   * and times, walked on the event loop in slices (listing.ts); a LIST takes
   * its snapshot in a worker instead (listing_workers.ts). Throws FileRefusal
   * not-found when `prefix` is not a folder.
   */
  async snapshot(prefix: string | null = null): Promise<FileSnapshot> {
    const snapshot = await takeSnapshot(this.dir, this.listingFolder(prefix));
    if (prefix === null) this.#count = snapshot.count;
    return snapshot;
  }

  /**
   * Every file (or those in `prefix` and below), described, in one array:
   * for tests and small folders. LIST streams {@link snapshot} instead.
   */
  async list(prefix: string | null = null): Promise<FileEntry[]> {
    const snapshot = await this.snapshot(prefix);
    return snapshot.names.map((name, i) => this.entry(name, snapshot.size(i), snapshot.mtimeMs(i)));
  }

  /**
   * How many files a listing shows: counted at open and by every sweep, and
   * kept up to date by uploads, deletes and moves.
   */
  get count(): number {
    return this.#count;
  }

  /** Bytes held: stored files and part files (what --max-dir-size limits). */
  get usedBytes(): number {
    return this.#space.usedBytes;
  }

  /** Describes one stored file. Throws FileRefusal (bad-name, not-found, not-regular). */
  stat(name: string): FileEntry {
    return this.#describe(name, this.#lstatRegular(name));
  }

  /**
   * Opens a stored file for reading, refusing symlinks and anything but a
   * regular file. The caller closes the file.
   */
  async openRead(name: string): Promise<{ file: Deno.FsFile; entry: FileEntry }> {
    const seen = this.#lstatRegular(name);
    const file = await Deno.open(this.#path(name), { read: true });
    try {
      const opened = await file.stat();
      // Swapped for a symlink between lstat and open: refuse what open followed.
      if (!opened.isFile || opened.ino !== seen.ino || opened.dev !== seen.dev) {
        throw new FileRefusal("not-regular", `${quoteName(name)} changed while being opened`);
      }
      return { file, entry: this.#describe(name, opened) };
    } catch (error) {
      closeQuietly(file);
      throw error;
    }
  }

  /**
   * Records the digest of a stored file computed while sending it, if it is
   * unchanged. Best effort: on a full or read-only disk the digest is simply
   * computed again next time. Returns whether it was recorded.
   */
  recordDigest(entry: FileEntry, hex: string): boolean {
    try {
      const info = this.#lstatInside(entry.name);
      if (!info?.isFile || info.size !== entry.size || mtimeOf(info) !== entry.mtimeMs) {
        return false;
      }
      this.writeMeta({ ...entry, sha256: hex });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Starts (or resumes) an upload of `size` bytes under `name`; size null is
   * a streamed upload of unknown length (never resumed). Only one upload per
   * name runs at a time: a second gets FileRefusal busy. Throws FileRefusal
   * for a refused name, an over-size upload, an existing name without
   * force, or no room (disk or --max-dir-size).
   */
  async beginUpload(name: string, size: number | null, force: boolean): Promise<Upload> {
    checkName(name, badName);
    const { maxFileSize } = this.options;
    if (size !== null && size > maxFileSize) {
      throw new FileRefusal(
        "too-large",
        `${
          quoteName(name)
        } is ${size} bytes, over the server's limit of ${maxFileSize} bytes (--max-file-size)`,
      );
    }
    await loadHashing(); // the upload hashes what it receives; loaded once, after start-up
    this.#lock(name);
    try {
      const existing = this.#lstatInside(name, "upload");
      if (existing && !existing.isFile) {
        const what = existing.isDirectory ? "a folder" : "not a regular file";
        throw new FileRefusal("not-regular", `${quoteName(name)} exists and is ${what}`);
      }
      if (existing && !force) {
        throw alreadyExists(name);
      }
      const key = sha256Hex(name);
      const path = join(this.#parts, key);
      const partMeta = path + ".json";
      this.#space.running.add(key); // from here on never evicted, not even to make room below
      // Another server sharing this directory may be uploading the same name: an
      // exclusive lock on the part file (flock) is the name's lock across processes,
      // taken before anything is truncated and held until the upload has ended.
      const existed = lstatNow(path) !== null;
      // Metadata calls run synchronously, like lstatNow: through Deno's thread pool
      // each would cost a hop, which made up most of a small file's start.
      const file = Deno.openSync(path, { read: true, write: true, create: true });
      let locked = false;
      let before: number;
      let offset: number;
      try {
        locked = file.tryLockSync(true);
        if (!locked) {
          throw new FileRefusal(
            "busy",
            `${quoteName(name)} is being uploaded by another client; try again when it is done`,
          );
        }
        const part = lstatNow(path); // after the lock: what another server left is settled
        before = part?.size ?? 0;
        offset = size === null || part === null
          ? 0
          : this.#resumableOffset(partMeta, name, size, part);
        if (size !== null) await this.#space.makeRoom(name, size - offset, before - offset);
        if (offset === 0) {
          // The owner record before any byte, so a sweep never finds data without one.
          await this.#space.withSpace(name, () => writeRecord(partMeta, { name, size }));
        }
        file.truncateSync(offset);
      } catch (error) {
        if (locked && !existed) removeNow(path); // a refused new upload leaves nothing behind
        closeQuietly(file);
        throw error;
      }
      this.#space.resized(offset - before);
      const ledger: Ledger = {
        charge: (bytes) => this.#space.charge(name, bytes),
        refund: (bytes) => this.#space.refund(bytes),
        freeSpace: () => this.#space.evict(0),
        trim: () => this.#space.trim(),
        mkdirs: () => this.#folders(name, true),
        writeMeta: (record) => this.writeMeta(record),
      };
      const target = this.#path(name);
      const { maxFileSize } = this.options;
      const state = { name, size, force, offset, path, partMeta, file, target, maxFileSize };
      return new Upload(state, ledger, (outcome, onDisk) => {
        this.#busy.delete(name);
        this.#space.running.delete(key);
        this.#space.settle(outcome, onDisk);
        if (outcome.kind === "committed" && !outcome.existed) this.#count++;
      });
    } catch (error) {
      this.#busy.delete(name);
      this.#space.running.delete(sha256Hex(name));
      throw error instanceof FileRefusal ? error : diskError(name, error);
    }
  }

  /** A group of small uploads made durable together (`PUTS`; see group.ts). */
  uploadGroup(): UploadGroup {
    const access: GroupAccess = {
      root: this.dir,
      parts: this.#parts,
      maxFileSize: this.options.maxFileSize,
      take: (name, force) => {
        this.#lock(name);
        try {
          // Most names are new: asked without an exception (each costs tens of µs).
          const free = this.#folders(name, false, true) && pathExists(this.#path(name)) === false;
          const existing = free ? null : this.#lstatInside(name, "upload");
          if (existing && !existing.isFile) {
            const what = existing.isDirectory ? "a folder" : "not a regular file";
            throw new FileRefusal("not-regular", `${quoteName(name)} exists and is ${what}`);
          }
          if (existing && !force) throw alreadyExists(name);
        } catch (error) {
          this.#busy.delete(name);
          throw error;
        }
      },
      release: (name) => this.#busy.delete(name),
      target: (name) => this.#path(name),
      mkdirs: (name) => this.#folders(name, true),
      space: this.#space,
      writeMeta: (record, path) => {
        if (!writeAttributeRecord(path, record)) this.writeMeta(record);
        // A record file of an earlier file of the name would not match; it goes with the sweep.
      },
      added: () => this.#count++,
    };
    return new UploadGroup(access);
  }

  /**
   * A stored file of at most `max` bytes read whole, synchronously (the
   * small files of `GETS`); null when it is bigger (send it streamed).
   * Throws FileRefusal like openRead.
   */
  readSmall(name: string, max: number): { entry: FileEntry; bytes: Uint8Array } | null {
    const seen = this.#lstatRegular(name);
    if (seen.size > max) return null;
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(this.#path(name), { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw notFound(name);
      throw diskError(name, error);
    }
    try {
      const opened = file.statSync();
      if (!opened.isFile || opened.ino !== seen.ino || opened.dev !== seen.dev) {
        throw new FileRefusal("not-regular", `${quoteName(name)} changed while being opened`);
      }
      if (opened.size > max) return null;
      const bytes = new Uint8Array(opened.size);
      for (let done = 0; done < bytes.length;) {
        const n = file.readSync(bytes.subarray(done));
        if (n === null) throw new FileRefusal("io", `${quoteName(name)} shrank while being read`);
        done += n;
      }
      return { entry: this.#describe(name, opened), bytes };
    } finally {
      closeQuietly(file);
    }
  }

  /**
   * Deletes a stored file; readers that have it open finish with its old
   * bytes. Empty folders it leaves are removed. A name being uploaded or
   * moved is busy. Throws FileRefusal.
   */
  remove(name: string): FileEntry {
    checkName(name, badName);
    this.#lock(name);
    try {
      const info = this.#lstatRegular(name);
      const entry = this.#describe(name, info);
      try {
        Deno.removeSync(this.#path(name));
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) throw notFound(name);
        throw diskError(name, error);
      }
      removeNow(this.#metaPath(name));
      this.#space.removed(info.size);
      this.#count--;
      this.#prune(name);
      return entry;
    } finally {
      this.#busy.delete(name);
    }
  }

  /**
   * Renames a stored file to a name that does not exist yet (folders are
   * made as needed, emptied ones removed); its digest moves with it. Readers
   * that have it open are not disturbed. Throws FileRefusal.
   */
  async move(from: string, to: string): Promise<FileEntry> {
    checkName(from, badName);
    checkName(to, badName);
    this.#lock(from);
    try {
      this.#lock(to);
    } catch (error) {
      this.#busy.delete(from);
      throw error;
    }
    try {
      const entry = this.#describe(from, this.#lstatRegular(from));
      const existing = this.#lstatInside(to, "upload");
      if (existing !== null) {
        throw alreadyExists(to);
      }
      this.#folders(to, true);
      const moved = { ...entry, name: to };
      if (entry.sha256 !== null) {
        await this.#space.withSpace(to, () => this.writeMeta({ ...moved, sha256: entry.sha256! }));
      }
      try {
        // link() fails if the name appeared meanwhile: nothing is clobbered.
        Deno.linkSync(this.#path(from), this.#path(to));
      } catch (error) {
        removeNow(this.#metaPath(to));
        if (error instanceof Deno.errors.AlreadyExists) {
          throw alreadyExists(to);
        }
        throw error instanceof FileRefusal ? error : diskError(to, error);
      }
      Deno.removeSync(this.#path(from));
      removeNow(this.#metaPath(from));
      this.#prune(from);
      return moved;
    } finally {
      this.#busy.delete(from);
      this.#busy.delete(to);
    }
  }

  /**
   * Removes interrupted uploads older than keepPartial (and past
   * --max-partial), digests of vanished files, and recounts what the store
   * holds (files copied in by hand count from here on).
   */
  async sweep(): Promise<void> {
    await this.#sweep();
  }

  /** sweep(), sharing the loop every `sliceMs` (default: listing.ts's slices). */
  async #sweep(sliceMs?: number): Promise<void> {
    const partBytes = await this.#space.sweepParts(Date.now());
    // Two synchronous calls per stored file: share the loop with the other clients.
    const share = new LoopShare(sliceMs);
    for await (const item of Deno.readDir(this.#meta)) {
      const path = join(this.#meta, item.name);
      const meta = readRecord<FileRecord>(path);
      const file = meta && nameRefusal(meta.name) === null ? lstatNow(this.#path(meta.name)) : null;
      if (file === null) removeNow(path);
      if (share.due()) await share.next();
    }
    const stored = await takeSnapshot(this.dir, "", sliceMs);
    this.#count = stored.count;
    this.#space.recount(stored.totalBytes, partBytes);
    await this.#space.trim();
  }

  /** Where the digest of `name` is kept. */
  #metaPath(name: string): string {
    return metaPathOf(this.#meta, name);
  }

  /** Persists a stored file's digest (a torn record reads as "digest unknown"). */
  writeMeta(meta: FileRecord): void {
    writeRecord(this.#metaPath(meta.name), meta);
  }

  #path(name: string): string {
    return join(this.dir, ...name.split("/"));
  }

  #lock(name: string): void {
    if (this.#busy.has(name)) {
      throw new FileRefusal(
        "busy",
        `${
          quoteName(name)
        } is being uploaded or moved by another client; try again when it is done`,
      );
    }
    this.#busy.add(name);
  }

  #describe(name: string, info: Deno.FileInfo): FileEntry {
    return this.entry(name, info.size, mtimeOf(info));
  }

  /**
   * A stored file as LIST, STAT and GET describe it, from its size and time:
   * with its digest when its record matches both. One record read, no scan.
   */
  entry(name: string, size: number, mtimeMs: number): FileEntry {
    return describeStored(this.#meta, this.#path(name), name, size, mtimeMs);
  }

  /** Where the digest records are (digests.ts), for the listing worker. */
  get metaDir(): string {
    return this.#meta;
  }

  #lstatRegular(name: string): Deno.FileInfo {
    checkName(name, badName);
    const info = this.#lstatInside(name);
    if (info === null) throw notFound(name);
    if (info.isSymlink) {
      throw new FileRefusal("not-regular", `${quoteName(name)} is a symlink; symlinks are refused`);
    }
    if (info.isDirectory) {
      throw new FileRefusal("not-regular", `${quoteName(name)} is a folder, not a file`);
    }
    if (!info.isFile) throw new FileRefusal("not-regular", `${quoteName(name)} is not a file`);
    return info;
  }

  /**
   * lstat of `name` after checking that every folder on the way is a real
   * folder (no symlink); null when something on the way is missing. With
   * "upload", a file or symlink where a folder should be is refused (the
   * name could never be stored); otherwise it just means "not there".
   */
  #lstatInside(name: string, purpose?: "upload"): Deno.FileInfo | null {
    if (!this.#folders(name, false, purpose === "upload")) return null;
    return lstatNow(this.#path(name));
  }

  /**
   * Checks (and with `create`, makes) the folders of `name`. Returns false
   * when one is missing (and not made). A file or symlink on the way is
   * refused with FileRefusal not-regular when `create` or `strict`, else false.
   */
  #folders(name: string, create: boolean, strict = create): boolean {
    const segments = name.split("/");
    for (let depth = 1; depth < segments.length; depth++) {
      const folder = segments.slice(0, depth).join("/");
      const path = this.#path(folder);
      let info = lstatNow(path);
      if (info === null) {
        if (!create) return false;
        try {
          Deno.mkdirSync(path);
        } catch (error) {
          if (!(error instanceof Deno.errors.AlreadyExists)) throw diskError(name, error);
        }
        info = lstatNow(path);
        if (info === null) return false; // removed again at once: the caller retries
      }
      if (!info.isDirectory || info.isSymlink) {
        if (!strict) return false;
        const what = info.isSymlink ? "a symlink" : "a file";
        throw new FileRefusal(
          "not-regular",
          `${quoteName(folder)} is ${what}, so ${quoteName(name)} cannot be stored under it`,
        );
      }
    }
    return true;
  }

  /** Removes the folders of `name` that are now empty, deepest first. */
  #prune(name: string): void {
    const segments = name.split("/");
    for (let depth = segments.length - 1; depth >= 1; depth--) {
      try {
        Deno.removeSync(this.#path(segments.slice(0, depth).join("/")));
      } catch {
        return; // not empty (or already gone): the folders above are not empty either
      }
    }
  }

  #resumableOffset(partMeta: string, name: string, size: number, part: Deno.FileInfo): number {
    const owner = readRecord<PartRecord>(partMeta);
    if (!owner || owner.name !== name || owner.size !== size || !part.isFile) return 0;
    return part.size <= size ? part.size : 0;
  }
}

/** Why --files-dir cannot be used, as a sentence (not "File exists (os error 17): mkdir"). */
function explainDirError(error: unknown): string {
  if (error instanceof Deno.errors.AlreadyExists || error instanceof Deno.errors.NotADirectory) {
    return "it (or a folder on its path) is a file, not a directory";
  }
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    return "permission denied";
  }
  if (error instanceof Deno.errors.NotFound) return "a folder on its path does not exist";
  if (isNoSpace(error)) return "the disk is full";
  return error instanceof Error ? error.message : String(error);
}
