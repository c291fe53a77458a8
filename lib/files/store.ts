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
 * The store also keeps the bytes it holds (stored files plus part files) for
 * --max-dir-size, charged as each chunk is written, and the bytes kept in
 * interrupted uploads for --max-partial: past it the oldest go, and a full
 * disk or store evicts them before it refuses an upload.
 */
import { join } from "../base/path.ts";
import type { Hash } from "node:crypto";
import { RuntimeError } from "../base/errors.ts";
import { closeQuietly, type Writer } from "../base/io.ts";
import { formatBytes } from "../base/progress.ts";
import { sha256, sha256Hex } from "./hashing.ts";
import { MAX_DEPTH, nameRefusal, quoteName } from "./names.ts";
import type { ErrorCode, FileEntry } from "./protocol.ts";
import { lstatNow, readRecord, removeNow, writeRecord } from "./records.ts";

/** A refusal or failure the server reports to the client as `ERR <code> <message>`. */
export class StoreError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
    this.code = code;
  }
}

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

interface FileMeta {
  name: string;
  size: number;
  mtimeMs: number;
  sha256: string;
}

interface PartMeta {
  name: string;
  /** null: a streamed upload, never resumed. */
  size: number | null;
}

/** An interrupted upload's part file, for eviction. */
interface KeptPart {
  path: string;
  meta: string;
  size: number;
  mtimeMs: number;
}

const STATE_DIR = ".socketkit";

/** Files a listing describes between two turns of the event loop (each takes two system calls). */
const LIST_YIELD_EVERY = 256;

/** The directory of stored files, with the uploads in progress. */
export class FileStore {
  /** Absolute path of --files-dir, symlinks resolved once at start. */
  readonly dir: string;
  readonly options: FileStoreOptions;
  #parts: string;
  #meta: string;
  /** Names being uploaded, moved or replaced: one operation per name at a time. */
  #busy = new Set<string>();
  /** Keys of the part files of uploads running now: never swept or evicted. */
  #activeParts = new Set<string>();
  #count = 0;
  /** Bytes of the files listed. */
  #storedBytes = 0;
  /** Bytes of every part file (active and interrupted). */
  #partBytes = 0;

  private constructor(dir: string, options: FileStoreOptions) {
    this.dir = dir;
    this.options = options;
    this.#parts = join(dir, STATE_DIR, "parts");
    this.#meta = join(dir, STATE_DIR, "meta");
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
      await store.sweep(); // also counts what is there
      return store;
    } catch (error) {
      throw new RuntimeError(`Cannot use files directory "${dir}": ${explainDirError(error)}`, {
        cause: error,
      });
    }
  }

  /**
   * Regular files under valid names, sorted by name, with digests where
   * known: every file, or those in folder `prefix` (and below). Throws
   * StoreError not-found when `prefix` is not a folder.
   */
  async list(prefix: string | null = null): Promise<FileEntry[]> {
    let start = this.dir;
    if (prefix !== null) {
      checkName(prefix);
      const info = await this.#lstatInside(prefix);
      if (info === null || !info.isDirectory || info.isSymlink) {
        throw new StoreError("not-found", `No folder ${quoteName(prefix)} on the server`);
      }
      start = this.#path(prefix);
    }
    const entries: FileEntry[] = [];
    // Depth-first with an explicit stack; names over the limits are never
    // entered, so the walk is bounded by MAX_DEPTH.
    const stack: string[] = [prefix ?? ""];
    while (stack.length > 0) {
      const folder = stack.pop()!;
      const path = folder === "" ? start : this.#path(folder);
      let items: Deno.DirEntry[];
      try {
        items = await Array.fromAsync(Deno.readDir(path));
      } catch (error) {
        if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
          continue; // removed meanwhile
        }
        throw error;
      }
      for (const item of items) {
        const name = folder === "" ? item.name : `${folder}/${item.name}`;
        if (nameRefusal(name) !== null) continue; // hidden, .socketkit, not NFC, ...
        if (item.isDirectory && !item.isSymlink) {
          if (name.split("/").length < MAX_DEPTH) stack.push(name);
          continue;
        }
        if (!item.isFile) continue;
        const info = lstatNow(this.#path(name)); // null: removed meanwhile
        if (info?.isFile) entries.push(this.#describe(name, info));
        // The calls above are synchronous: let other connections in now and then.
        if (entries.length % LIST_YIELD_EVERY === 0) await yieldToOthers();
      }
    }
    if (prefix === null) this.#count = entries.length;
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * How many files a listing shows: counted at open, by every full listing
   * and every sweep, and kept up to date by uploads, deletes and moves.
   */
  get count(): number {
    return this.#count;
  }

  /** Bytes held: stored files and part files (what --max-dir-size limits). */
  get usedBytes(): number {
    return this.#storedBytes + this.#partBytes;
  }

  /** Describes one stored file. Throws StoreError (bad-name, not-found, not-regular). */
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
        throw new StoreError("not-regular", `${quoteName(name)} changed while being opened`);
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
   * name runs at a time: a second gets StoreError busy. Throws StoreError
   * for a refused name, an over-size upload, an existing name without
   * force, or no room (disk or --max-dir-size).
   */
  async beginUpload(name: string, size: number | null, force: boolean): Promise<Upload> {
    checkName(name);
    const { maxFileSize } = this.options;
    if (size !== null && size > maxFileSize) {
      throw new StoreError(
        "too-large",
        `${
          quoteName(name)
        } is ${size} bytes, over the server's limit of ${maxFileSize} bytes (--max-file-size)`,
      );
    }
    this.#lock(name);
    try {
      const existing = this.#lstatInside(name, "upload");
      if (existing && !existing.isFile) {
        const what = existing.isDirectory ? "a folder" : "not a regular file";
        throw new StoreError("not-regular", `${quoteName(name)} exists and is ${what}`);
      }
      if (existing && !force) {
        throw new StoreError("exists", `${quoteName(name)} already exists on the server`);
      }
      const key = sha256Hex(name);
      const path = join(this.#parts, key);
      const partMeta = path + ".json";
      this.#activeParts.add(key); // from here on never evicted, not even to make room below
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
          throw new StoreError(
            "busy",
            `${quoteName(name)} is being uploaded by another client; try again when it is done`,
          );
        }
        const part = lstatNow(path); // after the lock: what another server left is settled
        before = part?.size ?? 0;
        offset = size === null || part === null
          ? 0
          : this.#resumableOffset(partMeta, name, size, part);
        if (size !== null) await this.#makeRoom(name, size - offset, before - offset);
        if (offset === 0) {
          // The owner record before any byte, so a sweep never finds data without one.
          await this.#withSpace(name, () => writeRecord(partMeta, { name, size }));
        }
        file.truncateSync(offset);
      } catch (error) {
        if (locked && !existed) removeNow(path); // a refused new upload leaves nothing behind
        closeQuietly(file);
        throw error;
      }
      this.#partBytes += offset - before;
      const ledger: Ledger = {
        charge: (bytes) => this.#charge(name, bytes),
        refund: (bytes) => (this.#partBytes -= bytes),
        freeSpace: () => this.#evictParts(0),
        trim: () => this.#trimParts(),
        mkdirs: () => this.#folders(name, true),
      };
      const state = { name, size, force, offset, path, partMeta, file, target: this.#path(name) };
      return new Upload(this, state, ledger, (outcome, stored) => {
        this.#busy.delete(name);
        this.#activeParts.delete(key);
        if (outcome.kind === "committed") {
          this.#partBytes -= stored;
          this.#storedBytes += stored - outcome.replaced;
          if (!outcome.existed) this.#count++;
        } else if (outcome.kind === "discarded") {
          this.#partBytes -= stored;
        }
      });
    } catch (error) {
      this.#busy.delete(name);
      this.#activeParts.delete(sha256Hex(name));
      throw error instanceof StoreError ? error : diskError(name, error);
    }
  }

  /**
   * Deletes a stored file; readers that have it open finish with its old
   * bytes. Empty folders it leaves are removed. A name being uploaded or
   * moved is busy. Throws StoreError.
   */
  remove(name: string): FileEntry {
    checkName(name);
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
      this.#storedBytes -= info.size;
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
   * that have it open are not disturbed. Throws StoreError.
   */
  async move(from: string, to: string): Promise<FileEntry> {
    checkName(from);
    checkName(to);
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
        throw new StoreError("exists", `${quoteName(to)} already exists on the server`);
      }
      this.#folders(to, true);
      const moved = { ...entry, name: to };
      if (entry.sha256 !== null) {
        await this.#withSpace(to, () => this.writeMeta({ ...moved, sha256: entry.sha256! }));
      }
      try {
        // link() fails if the name appeared meanwhile: nothing is clobbered.
        Deno.linkSync(this.#path(from), this.#path(to));
      } catch (error) {
        removeNow(this.#metaPath(to));
        if (error instanceof Deno.errors.AlreadyExists) {
          throw new StoreError("exists", `${quoteName(to)} already exists on the server`);
        }
        throw error instanceof StoreError ? error : diskError(to, error);
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
    const now = Date.now();
    const { keepPartial } = this.options;
    let partBytes = 0;
    for await (const item of Deno.readDir(this.#parts)) {
      const path = join(this.#parts, item.name);
      if (item.name.endsWith(".tmp")) {
        removeIfOlder(path, now - 60_000); // a temporary file left by a crash
        continue;
      }
      const key = item.name.replace(/\.json$/, "");
      const info = lstatNow(join(this.#parts, key));
      if (this.#activeParts.has(key)) {
        if (item.name === key) partBytes += info?.size ?? 0;
        continue;
      }
      const owner = readRecord<PartMeta>(join(this.#parts, key + ".json"));
      // A streamed upload never resumes: its part is stale once it is not running.
      const stale = owner === null || owner.size === null || info === null || !info.isFile ||
        (keepPartial > 0 && now - mtimeOf(info) > keepPartial);
      // A part another server (sharing this directory) is writing is locked.
      if (stale && !(await lockedElsewhere(join(this.#parts, key)))) removeNow(path);
      else if (item.name === key) partBytes += info?.size ?? 0;
    }
    for await (const item of Deno.readDir(this.#meta)) {
      const path = join(this.#meta, item.name);
      if (item.name.endsWith(".tmp")) {
        removeIfOlder(path, now - 60_000);
        continue;
      }
      const meta = readRecord<FileMeta>(path);
      const file = meta && nameRefusal(meta.name) === null ? lstatNow(this.#path(meta.name)) : null;
      if (file === null) removeNow(path);
    }
    const stored = await this.list();
    this.#storedBytes = stored.reduce((sum, entry) => sum + entry.size, 0);
    this.#partBytes = partBytes;
    await this.#trimParts();
  }

  /** Applies --max-partial to the interrupted uploads kept. */
  async #trimParts(): Promise<number> {
    const max = this.options.maxPartial ?? 0;
    return max > 0 ? await this.#evictParts(max) : 0;
  }

  /** Where the digest of `name` is kept. */
  #metaPath(name: string): string {
    return join(this.#meta, sha256Hex(name) + ".json");
  }

  /** Persists a stored file's digest (a torn record reads as "digest unknown"). */
  writeMeta(meta: FileMeta): void {
    writeRecord(this.#metaPath(meta.name), meta);
  }

  #path(name: string): string {
    return join(this.dir, ...name.split("/"));
  }

  #lock(name: string): void {
    if (this.#busy.has(name)) {
      throw new StoreError(
        "busy",
        `${
          quoteName(name)
        } is being uploaded or moved by another client; try again when it is done`,
      );
    }
    this.#busy.add(name);
  }

  #describe(name: string, info: Deno.FileInfo): FileEntry {
    const mtimeMs = mtimeOf(info);
    const meta = readRecord<FileMeta>(this.#metaPath(name));
    const known = meta !== null && meta.name === name && meta.size === info.size &&
      meta.mtimeMs === mtimeMs && /^[0-9a-f]{64}$/.test(meta.sha256);
    return { name, size: info.size, mtimeMs, sha256: known ? meta.sha256 : null };
  }

  #lstatRegular(name: string): Deno.FileInfo {
    checkName(name);
    const info = this.#lstatInside(name);
    if (info === null) throw notFound(name);
    if (info.isSymlink) {
      throw new StoreError("not-regular", `${quoteName(name)} is a symlink; symlinks are refused`);
    }
    if (info.isDirectory) {
      throw new StoreError("not-regular", `${quoteName(name)} is a folder, not a file`);
    }
    if (!info.isFile) throw new StoreError("not-regular", `${quoteName(name)} is not a file`);
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
   * refused with StoreError not-regular when `create` or `strict`, else false.
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
        throw new StoreError(
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
    const owner = readRecord<PartMeta>(partMeta);
    if (!owner || owner.name !== name || owner.size !== size || !part.isFile) return 0;
    return part.size <= size ? part.size : 0;
  }

  /**
   * Before an upload of `need` more bytes: under --max-dir-size, interrupted
   * uploads are evicted to make room; if there still is none, StoreError
   * no-space. `freed` is what the upload's own part gives back.
   */
  async #makeRoom(name: string, need: number, freed: number): Promise<void> {
    const max = this.options.maxDirSize ?? 0;
    if (max <= 0) return;
    const room = () => max - (this.usedBytes - freed);
    if (need <= room()) return;
    await this.#evictParts(0);
    if (need > room()) throw this.#full(name, need);
  }

  /** Counts `bytes` about to be written to an upload's part against --max-dir-size. */
  #charge(name: string, bytes: number): void {
    const max = this.options.maxDirSize ?? 0;
    if (max > 0 && this.usedBytes + bytes > max) throw this.#full(name, bytes);
    this.#partBytes += bytes;
  }

  #full(name: string, need: number): StoreError {
    const max = this.options.maxDirSize ?? 0;
    return new StoreError(
      "no-space",
      `No room for ${quoteName(name)}: the store holds ${formatBytes(this.usedBytes)} of its ${
        formatBytes(max)
      } limit and needs ${formatBytes(need)} more (--max-dir-size)`,
    );
  }

  /**
   * Runs a small write (a record); on a full disk, evicts interrupted
   * uploads and tries once more. Throws StoreError no-space (or io).
   */
  async #withSpace(name: string, write: () => void): Promise<void> {
    try {
      write();
    } catch (error) {
      if (!isNoSpace(error) || (await this.#evictParts(0)) === 0) {
        throw diskError(name, error);
      }
      try {
        write();
      } catch (again) {
        throw diskError(name, again);
      }
    }
  }

  /**
   * Deletes interrupted uploads (never running ones), oldest first, until
   * they hold at most `keepAtMost` bytes (0: delete them all). Returns the
   * bytes freed.
   */
  async #evictParts(keepAtMost: number): Promise<number> {
    const kept: KeptPart[] = [];
    for await (const item of Deno.readDir(this.#parts)) {
      if (item.name.includes(".")) continue; // records and temporaries
      if (this.#activeParts.has(item.name)) continue;
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
}

interface UploadState {
  name: string;
  /** null: streamed, length unknown until the end. */
  size: number | null;
  force: boolean;
  /** Bytes already on disk from an interrupted upload. */
  offset: number;
  path: string;
  partMeta: string;
  file: Deno.FsFile;
  /** Where the file goes once committed. */
  target: string;
}

/** How an upload reaches the store's accounting. */
interface Ledger {
  /** Before writing `bytes` more; throws StoreError no-space past --max-dir-size. */
  charge(bytes: number): void;
  /** Bytes charged but not written. */
  refund(bytes: number): void;
  /** On a full disk: evicts interrupted uploads; resolves to the bytes freed. */
  freeSpace(): Promise<number>;
  /** After an upload was interrupted and kept: applies --max-partial. */
  trim(): Promise<number>;
  /** Makes the folders of the name (at commit); throws StoreError. */
  mkdirs(): boolean;
}

/** How an upload ended, for the store's counters. */
type Outcome =
  | { kind: "committed"; replaced: number; existed: boolean }
  | { kind: "discarded" }
  | { kind: "kept" };

/** One upload in progress: the temporary file, its lock on the name, and how it ends. */
export class Upload {
  readonly name: string;
  /** null: a streamed upload. */
  readonly size: number | null;
  readonly offset: number;
  readonly hash: Hash = sha256();
  #store: FileStore;
  #state: UploadState;
  #ledger: Ledger;
  #release: (outcome: Outcome, stored: number) => void;
  /** Bytes in the part file. */
  #onDisk: number;
  #done = false;

  /** @param release called once when the upload ends, with how and its bytes on disk */
  constructor(
    store: FileStore,
    state: UploadState,
    ledger: Ledger,
    release: (outcome: Outcome, stored: number) => void,
  ) {
    this.#store = store;
    this.#state = state;
    this.#ledger = ledger;
    this.#release = release;
    this.name = state.name;
    this.size = state.size;
    this.offset = state.offset;
    this.#onDisk = state.offset;
  }

  /** The temporary file: read the prefix from it. Write through {@link writer}. */
  get file(): Deno.FsFile {
    return this.#state.file;
  }

  /** Bytes of the upload on disk so far. */
  get received(): number {
    return this.#onDisk;
  }

  /**
   * Writes to the temporary file, counting every byte against --max-dir-size
   * (and, for a streamed upload, --max-file-size); on a full disk evicts
   * interrupted uploads and tries once more. Throws StoreError.
   */
  readonly writer: Writer = {
    write: async (bytes) => {
      const { maxFileSize } = this.#store.options;
      if (this.size === null && this.#onDisk + bytes.length > maxFileSize) {
        throw new StoreError(
          "too-large",
          `${
            quoteName(this.name)
          } passed the server's limit of ${maxFileSize} bytes (--max-file-size); nothing was kept`,
        );
      }
      this.#ledger.charge(bytes.length);
      let written = 0;
      try {
        written = await this.#state.file.write(bytes);
      } catch (error) {
        if (!isNoSpace(error) || (await this.#ledger.freeSpace()) === 0) throw error;
        written = await this.#state.file.write(bytes);
      } finally {
        this.#ledger.refund(bytes.length - written);
        this.#onDisk += written;
      }
      return written;
    },
  };

  /**
   * Makes the upload visible under its name if `expected` (the client's
   * digest) matches what was received; otherwise discards it. Returns the
   * stored entry and whether the name is new. Throws StoreError.
   */
  async commit(expected: string): Promise<{ entry: FileEntry; created: boolean }> {
    const { file, path, name, force, partMeta, target } = this.#state;
    const actual = this.hash.digest("hex");
    if (actual !== expected) {
      this.discard();
      throw new StoreError(
        "verify-failed",
        `SHA-256 mismatch for ${
          quoteName(name)
        }: received ${actual}, client sent ${expected}; nothing was kept`,
      );
    }
    try {
      await file.syncData();
    } catch (error) {
      this.discard();
      throw diskError(name, error);
    }
    const info = file.statSync();
    const entry: FileEntry = { name, size: info.size, mtimeMs: mtimeOf(info), sha256: actual };
    try {
      // The digest first: until the rename it describes no file (size and mtime must match).
      this.#store.writeMeta({ ...entry, sha256: actual });
    } catch (error) {
      if (!isNoSpace(error) || (await this.#ledger.freeSpace()) === 0) {
        this.discard();
        throw diskError(name, error);
      }
      this.#store.writeMeta({ ...entry, sha256: actual });
    }
    let replaced = 0;
    let existed = false;
    // A folder emptied by a delete at the wrong moment disappears under us: make it again.
    for (let attempt = 1;; attempt++) {
      try {
        this.#ledger.mkdirs();
        if (force) {
          const old = lstatNow(target);
          existed = old !== null;
          replaced = old?.isFile ? old.size : 0;
          Deno.renameSync(path, target);
        } else {
          // link() fails if the name exists: no window in which another file is clobbered.
          Deno.linkSync(path, target);
          Deno.removeSync(path);
        }
        break;
      } catch (error) {
        if (error instanceof Deno.errors.NotFound && attempt < 3) continue;
        this.discard();
        if (error instanceof Deno.errors.AlreadyExists) {
          throw new StoreError("exists", `${quoteName(name)} already exists on the server`);
        }
        throw error instanceof StoreError ? error : diskError(name, error);
      }
    }
    // The part stayed open (and locked) until it had its name, so no other
    // server sharing the directory could take it over in between.
    closeQuietly(file);
    removeNow(partMeta);
    this.#finish({ kind: "committed", replaced, existed });
    return { entry, created: !existed };
  }

  /** Deletes the temporary file: nothing of this upload is kept. */
  discard(): void {
    // Removed while still locked, so no other server's new upload of the name is hit.
    removeNow(this.#state.path);
    closeQuietly(this.#state.file);
    removeNow(this.#state.partMeta);
    this.#finish({ kind: "discarded" });
  }

  /**
   * Ends without committing: the temporary file stays for a later resume
   * (a streamed upload cannot resume: its part is deleted), unless keeping
   * it passes --max-partial, which deletes the oldest interrupted uploads.
   */
  async release(): Promise<void> {
    if (this.#done) return;
    if (this.size === null) return this.discard();
    closeQuietly(this.#state.file);
    this.#finish({ kind: "kept" });
    await this.#ledger.trim();
  }

  #finish(outcome: Outcome): void {
    if (this.#done) return;
    this.#done = true;
    this.#release(outcome, this.#onDisk);
  }
}

/** A write error as the client should see it: a full disk named as such. */
export function diskError(name: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  if (isNoSpace(error)) {
    return new StoreError(
      "no-space",
      `The server's disk is full; ${quoteName(name)} was not stored`,
      { cause: error },
    );
  }
  return new StoreError("io", `Cannot write ${quoteName(name)} on the server: ${detail}`, {
    cause: error,
  });
}

/** ENOSPC or EDQUOT. */
function isNoSpace(error: unknown): boolean {
  const detail = error instanceof Error ? error.message : String(error);
  return /os error (28|122)\b|no space|quota/i.test(detail);
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

function yieldToOthers(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function checkName(name: string): void {
  const refusal = nameRefusal(name);
  if (refusal !== null) {
    throw new StoreError("bad-name", `Name ${quoteName(name)} refused: ${refusal}`);
  }
}

function notFound(name: string): StoreError {
  return new StoreError("not-found", `File ${quoteName(name)} not found`);
}

function mtimeOf(info: Deno.FileInfo): number {
  return info.mtime?.getTime() ?? 0;
}

function removeIfOlder(path: string, cutoff: number): void {
  const info = lstatNow(path);
  if (info && mtimeOf(info) < cutoff) removeNow(path);
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
