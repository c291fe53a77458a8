/**
 * The server's file directory. Real names hold only complete, verified files;
 * everything else lives under `.socketkit/` (never listed, never a valid name):
 *
 *   .socketkit/parts/<key>       an upload in progress or interrupted (resumable)
 *   .socketkit/parts/<key>.json  {name, size} of that upload
 *   .socketkit/meta/<key>.json   {name, size, mtimeMs, sha256} of a stored file
 *
 * where <key> is the hex SHA-256 of the name, so any 255-byte name fits.
 * Nothing here follows a symlink: names are checked with lstat, and a file
 * opened for reading must be the same inode lstat saw.
 */
import { join } from "node:path";
import type { Hash } from "node:crypto";
import { RuntimeError } from "../base/errors.ts";
import { closeQuietly } from "../base/io.ts";
import { sha256, sha256Hex } from "./hashing.ts";
import { nameRefusal, quoteName } from "./names.ts";
import type { ErrorCode, FileEntry } from "./protocol.ts";
import { lstatOrNull, readJson, removeIfExists, writeJsonAtomic } from "../base/fs.ts";

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
}

interface FileMeta {
  name: string;
  size: number;
  mtimeMs: number;
  sha256: string;
}

interface PartMeta {
  name: string;
  size: number;
}

const STATE_DIR = ".socketkit";

/** The directory of stored files, with the uploads in progress. */
export class FileStore {
  /** Absolute path of --files-dir, symlinks resolved once at start. */
  readonly dir: string;
  readonly options: FileStoreOptions;
  #parts: string;
  #meta: string;
  #uploading = new Set<string>();
  #count = 0;

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
      await store.sweep();
      await store.list(); // counts what is there
      return store;
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new RuntimeError(`Cannot use files directory "${dir}": ${detail}`, { cause: error });
    }
  }

  /** Regular files under valid names, sorted by name, with digests where known. */
  async list(): Promise<FileEntry[]> {
    const entries: FileEntry[] = [];
    for await (const item of Deno.readDir(this.dir)) {
      if (!item.isFile || nameRefusal(item.name) !== null) continue;
      try {
        const info = await Deno.lstat(join(this.dir, item.name));
        if (info.isFile) entries.push(await this.#describe(item.name, info));
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error; // removed meanwhile
      }
    }
    this.#count = entries.length;
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * How many files a listing shows: counted at open and by every listing,
   * and kept up to date by the uploads that add a name.
   */
  get count(): number {
    return this.#count;
  }

  /** Describes one stored file. Throws StoreError (bad-name, not-found, not-regular). */
  async stat(name: string): Promise<FileEntry> {
    return await this.#describe(name, await this.#lstatRegular(name));
  }

  /**
   * Opens a stored file for reading, refusing symlinks and anything but a
   * regular file. The caller closes the file.
   */
  async openRead(name: string): Promise<{ file: Deno.FsFile; entry: FileEntry }> {
    const seen = await this.#lstatRegular(name);
    const file = await Deno.open(join(this.dir, name), { read: true });
    try {
      const opened = await file.stat();
      // Swapped for a symlink between lstat and open: refuse what open followed.
      if (!opened.isFile || opened.ino !== seen.ino || opened.dev !== seen.dev) {
        throw new StoreError("not-regular", `${quoteName(name)} changed while being opened`);
      }
      return { file, entry: await this.#describe(name, opened) };
    } catch (error) {
      closeQuietly(file);
      throw error;
    }
  }

  /** Records the digest of a stored file computed while sending it, if it is unchanged. */
  async recordDigest(entry: FileEntry, hex: string): Promise<void> {
    try {
      const info = await Deno.lstat(join(this.dir, entry.name));
      if (!info.isFile || info.size !== entry.size || mtimeOf(info) !== entry.mtimeMs) return;
      await this.writeMeta({ ...entry, sha256: hex });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  /**
   * Starts (or resumes) an upload of `size` bytes under `name`. Only one upload
   * per name runs at a time: a second gets StoreError busy. Throws StoreError
   * for a refused name, an over-size upload or an existing name without force.
   */
  async beginUpload(name: string, size: number, force: boolean): Promise<Upload> {
    checkName(name);
    const { maxFileSize } = this.options;
    if (size > maxFileSize) {
      throw new StoreError(
        "too-large",
        `${
          quoteName(name)
        } is ${size} bytes, over the server's limit of ${maxFileSize} bytes (--max-file-size)`,
      );
    }
    if (this.#uploading.has(name)) {
      throw new StoreError(
        "busy",
        `${quoteName(name)} is being uploaded by another client; try again when it is done`,
      );
    }
    this.#uploading.add(name);
    try {
      const existing = await lstatOrNull(join(this.dir, name));
      if (existing && !existing.isFile) {
        throw new StoreError("not-regular", `${quoteName(name)} exists and is not a regular file`);
      }
      if (existing && !force) {
        throw new StoreError("exists", `${quoteName(name)} already exists on the server`);
      }
      const key = sha256Hex(name);
      const path = join(this.#parts, key);
      const partMeta = path + ".json";
      // Another server sharing this directory may be uploading the same name:
      // an exclusive lock on the part file (flock) is the name's lock across
      // processes, taken before anything is truncated and held until the
      // upload is committed or given up.
      const file = await Deno.open(path, { read: true, write: true, create: true });
      let locked = false;
      try {
        locked = await file.tryLock(true);
        if (!locked) {
          throw new StoreError(
            "busy",
            `${quoteName(name)} is being uploaded by another client; try again when it is done`,
          );
        }
        const offset = await this.#resumableOffset(path, partMeta, name, size);
        if (offset > 0) {
          await file.truncate(offset);
        } else {
          await writeJsonAtomic(partMeta, { name, size } satisfies PartMeta);
          await file.truncate(0);
        }
        return new Upload(this, { name, size, force, offset, path, partMeta, file }, (created) => {
          this.#uploading.delete(name);
          if (created) this.#count++;
        });
      } catch (error) {
        closeQuietly(file);
        throw error;
      }
    } catch (error) {
      this.#uploading.delete(name);
      throw error;
    }
  }

  /** Removes interrupted uploads older than keepPartial, and digests of vanished files. */
  async sweep(): Promise<void> {
    const now = Date.now();
    const { keepPartial } = this.options;
    for await (const item of Deno.readDir(this.#parts)) {
      const path = join(this.#parts, item.name);
      if (item.name.endsWith(".tmp")) {
        await removeIfOlder(path, now - 60_000); // a torn writeJsonAtomic
        continue;
      }
      const key = item.name.replace(/\.json$/, "");
      const owner = await readJson<PartMeta>(join(this.#parts, key + ".json"));
      if (owner && this.#uploading.has(owner.name)) continue;
      const info = await lstatOrNull(join(this.#parts, key));
      const stale = owner === null || info === null || !info.isFile ||
        (keepPartial > 0 && now - mtimeOf(info) > keepPartial);
      // A part another server (sharing this directory) is writing is locked.
      if (stale && !(await lockedElsewhere(join(this.#parts, key)))) await removeIfExists(path);
    }
    for await (const item of Deno.readDir(this.#meta)) {
      const path = join(this.#meta, item.name);
      if (item.name.endsWith(".tmp")) {
        await removeIfOlder(path, now - 60_000);
        continue;
      }
      const meta = await readJson<FileMeta>(path);
      const file = meta && nameRefusal(meta.name) === null
        ? await lstatOrNull(join(this.dir, meta.name))
        : null;
      if (file === null) await removeIfExists(path);
    }
  }

  /** Where the digest of `name` is kept. */
  #metaPath(name: string): string {
    return join(this.#meta, sha256Hex(name) + ".json");
  }

  /** Persists a stored file's digest (atomically: a reader sees the old or the new). */
  async writeMeta(meta: FileMeta): Promise<void> {
    await writeJsonAtomic(this.#metaPath(meta.name), meta);
  }

  async #describe(name: string, info: Deno.FileInfo): Promise<FileEntry> {
    const mtimeMs = mtimeOf(info);
    const meta = await readJson<FileMeta>(this.#metaPath(name));
    const known = meta !== null && meta.name === name && meta.size === info.size &&
      meta.mtimeMs === mtimeMs && /^[0-9a-f]{64}$/.test(meta.sha256);
    return { name, size: info.size, mtimeMs, sha256: known ? meta.sha256 : null };
  }

  async #lstatRegular(name: string): Promise<Deno.FileInfo> {
    checkName(name);
    const info = await lstatOrNull(join(this.dir, name));
    if (info === null) throw new StoreError("not-found", `File ${quoteName(name)} not found`);
    if (info.isSymlink) {
      throw new StoreError("not-regular", `${quoteName(name)} is a symlink; symlinks are refused`);
    }
    if (!info.isFile) throw new StoreError("not-regular", `${quoteName(name)} is not a file`);
    return info;
  }

  async #resumableOffset(
    path: string,
    partMeta: string,
    name: string,
    size: number,
  ): Promise<number> {
    const owner = await readJson<PartMeta>(partMeta);
    const info = await lstatOrNull(path);
    if (!owner || owner.name !== name || owner.size !== size || !info?.isFile) return 0;
    return info.size <= size ? info.size : 0;
  }
}

interface UploadState {
  name: string;
  size: number;
  force: boolean;
  /** Bytes already on disk from an interrupted upload. */
  offset: number;
  path: string;
  partMeta: string;
  file: Deno.FsFile;
}

/** One upload in progress: the temporary file, its lock on the name, and how it ends. */
export class Upload {
  readonly name: string;
  readonly size: number;
  readonly offset: number;
  readonly hash: Hash = sha256();
  #store: FileStore;
  #state: UploadState;
  #release: (created: boolean) => void;
  #done = false;

  /** @param release called once when the upload ends, saying whether it added a name */
  constructor(store: FileStore, state: UploadState, release: (created: boolean) => void) {
    this.#store = store;
    this.#state = state;
    this.#release = release;
    this.name = state.name;
    this.size = state.size;
    this.offset = state.offset;
  }

  /** The temporary file: read the prefix from it, then write the rest. */
  get file(): Deno.FsFile {
    return this.#state.file;
  }

  /**
   * Makes the upload visible under its name if `expected` (the client's
   * digest) matches what was received; otherwise discards it. Returns the
   * stored entry and whether the name is new. Throws StoreError.
   */
  async commit(expected: string): Promise<{ entry: FileEntry; created: boolean }> {
    const { file, path, name, force, partMeta } = this.#state;
    const actual = this.hash.digest("hex");
    if (actual !== expected) {
      await this.discard();
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
      await this.discard();
      throw diskError(name, error);
    }
    const info = await file.stat();
    const entry: FileEntry = { name, size: info.size, mtimeMs: mtimeOf(info), sha256: actual };
    const target = join(this.#store.dir, name);
    // The digest first: until the rename it describes no file (size and mtime must match).
    await this.#store.writeMeta({ ...entry, sha256: actual });
    let created = true;
    // The part stays open (and locked) until it has its name, so no other
    // server sharing the directory can take it over in between.
    if (force) {
      created = (await lstatOrNull(target)) === null;
      await Deno.rename(path, target);
    } else {
      try {
        // link() fails if the name exists: no window in which another file is clobbered.
        await Deno.link(path, target);
        await Deno.remove(path);
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) {
          await this.discard();
          throw new StoreError("exists", `${quoteName(name)} already exists on the server`);
        }
        closeQuietly(file);
        throw error;
      }
    }
    closeQuietly(file);
    await removeIfExists(partMeta);
    this.#finish(created);
    return { entry, created };
  }

  /** Deletes the temporary file: nothing of this upload is kept. */
  async discard(): Promise<void> {
    // Removed while still locked, so no other server's new upload of the name is hit.
    await removeIfExists(this.#state.path).finally(() => closeQuietly(this.#state.file));
    await removeIfExists(this.#state.partMeta);
    this.#finish();
  }

  /** Ends without committing: the temporary file stays for a later resume. */
  release(): void {
    closeQuietly(this.#state.file);
    this.#finish();
  }

  #finish(created = false): void {
    if (this.#done) return;
    this.#done = true;
    this.#release(created);
  }
}

/** A write error as the client should see it: a full disk named as such. */
export function diskError(name: string, error: unknown): StoreError {
  const detail = error instanceof Error ? error.message : String(error);
  if (/os error (28|122)\b|no space|quota/i.test(detail)) {
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

function checkName(name: string): void {
  const refusal = nameRefusal(name);
  if (refusal !== null) {
    throw new StoreError("bad-name", `Name ${quoteName(name)} refused: ${refusal}`);
  }
}

function mtimeOf(info: Deno.FileInfo): number {
  return info.mtime?.getTime() ?? 0;
}

async function removeIfOlder(path: string, cutoff: number): Promise<void> {
  const info = await lstatOrNull(path);
  if (info && mtimeOf(info) < cutoff) await removeIfExists(path);
}

/**
 * True when another process (or connection) holds the lock of the part file
 * at `path`: an upload in progress on a server sharing the directory.
 */
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
