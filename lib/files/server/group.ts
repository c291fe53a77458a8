/**
 * Small files of a pipelined upload (`PUTS`), made durable in groups. Each
 * file is checked and written synchronously as it arrives (name, limits,
 * SHA-256 against the digest the client announced, its part file under
 * `.socketkit/parts/`, locked, and its digest record), with no promise per
 * file; then, per group, one `syncfs` of the store's file system (or, without
 * FFI, the part files' data synced concurrently), then every file made
 * visible (renameat2 RENAME_NOREPLACE, or link + unlink; a plain rename with
 * --force), then each touched folder synced once, and only then are the
 * files acknowledged. A crash before the acknowledgement leaves part files
 * without an owner record, which the next sweep deletes; nothing partial is
 * ever visible under a real name.
 */
import { closeQuietly } from "../../base/io.ts";
import { renameNoReplace, syncDirectory, syncFileSystem } from "../../base/fs_libc.ts";
import { join } from "../../base/path.ts";
import { sha256 } from "../hashing.ts";
import { sha256Hex } from "../sha256_hex.ts";
import { checkName, quoteName } from "../names.ts";
import { lstatNow, mtimeOf, removeNow } from "../records.ts";
import { alreadyExists, badName, diskError, FileRefusal } from "./refusals.ts";
import type { StoreSpace } from "./space.ts";
import type { FileRecord } from "./upload.ts";

/** Files in one group: one sync for all of them (each holds an open, locked part file). */
export const GROUP_FILES = 256;

/** Bytes in one group before it is committed. */
export const GROUP_BYTES = 16 * 1024 * 1024;

/** What a group needs of the store (FileStore.groupAccess()). */
export interface GroupAccess {
  /** The store's directory. */
  root: string;
  /** `.socketkit/parts`. */
  parts: string;
  maxFileSize: number;
  /**
   * Takes the name for this upload (one operation per name at a time) and
   * checks it may be stored: not a folder, not taken unless `force`.
   * Throws FileRefusal, holding nothing.
   */
  take(name: string, force: boolean): void;
  /** Gives the name back. */
  release(name: string): void;
  /** Where `name` lives. */
  target(name: string): string;
  /** Makes the folders of `name`; throws FileRefusal not-regular. */
  mkdirs(name: string): void;
  space: StoreSpace;
  /** Records the digest of the file now at `path` (on the file itself where possible). */
  writeMeta(record: FileRecord, path: string): void;
  /** A new name was stored. */
  added(): void;
}

/** One file's answer: its digest, or why it was refused. */
export type GroupResult = { ok: true; sha256: string; name: string } | {
  ok: false;
  error: FileRefusal;
  name: string;
};

interface Staged {
  name: string;
  key: string;
  size: number;
  sha256: string;
  force: boolean;
  path: string;
  file: Deno.FsFile;
  /** The part file held an interrupted PUT of the name (whose owner record goes too). */
  hadPart: boolean;
}

/** The files received since the last commit, in order, with those refused at once. */
export class UploadGroup {
  #access: GroupAccess;
  #entries: (Staged | GroupResult)[] = [];
  #staged = 0;
  #bytes = 0;

  constructor(access: GroupAccess) {
    this.#access = access;
  }

  /** Files (stored or refused) waiting for the commit. */
  get length(): number {
    return this.#entries.length;
  }

  /** The group is big enough to commit. */
  get full(): boolean {
    return this.#staged >= GROUP_FILES || this.#bytes >= GROUP_BYTES;
  }

  /**
   * Checks and writes one file, synchronously; a refusal (bad name, too
   * large, exists, digest mismatch, no room) is kept as its answer and the
   * batch goes on.
   */
  add(name: string, expected: string, bytes: Uint8Array, force: boolean): void {
    const access = this.#access;
    let taken = false;
    let key = "";
    let path = "";
    let file: Deno.FsFile | null = null;
    let charged = 0;
    let hadPart = false;
    try {
      checkName(name, badName);
      if (bytes.length > access.maxFileSize) {
        throw new FileRefusal(
          "too-large",
          `${
            quoteName(name)
          } is ${bytes.length} bytes, over the server's limit of ${access.maxFileSize} bytes (--max-file-size)`,
        );
      }
      const actual = sha256().update(bytes).digest("hex");
      if (actual !== expected) {
        throw new FileRefusal(
          "verify-failed",
          `SHA-256 mismatch for ${
            quoteName(name)
          }: received ${actual}, client sent ${expected}; nothing was kept`,
        );
      }
      access.take(name, force);
      taken = true;
      key = sha256Hex(name); // the part's name
      path = join(access.parts, key);
      access.space.running.add(key);
      file = Deno.openSync(path, { read: true, write: true, create: true });
      if (!file.tryLockSync(true)) {
        throw new FileRefusal("busy", `${quoteName(name)} is being uploaded by another client`);
      }
      const before = file.statSync().size;
      hadPart = before > 0;
      if (before > 0) {
        file.truncateSync(0); // an interrupted PUT of the name: this upload replaces it
        access.space.resized(-before);
      }
      access.space.charge(name, bytes.length);
      charged = bytes.length;
      for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
      const info = file.statSync();
      // The digest record before the sync, so the one sync covers it too.
      access.writeMeta(
        { name, size: bytes.length, mtimeMs: mtimeOf(info), sha256: actual },
        path,
      );
      this.#entries.push({
        name,
        key,
        size: bytes.length,
        sha256: actual,
        force,
        path,
        file,
        hadPart,
      });
      this.#staged++;
      this.#bytes += bytes.length;
    } catch (error) {
      if (file !== null) {
        if (path !== "") removeNow(path);
        closeQuietly(file);
      }
      if (charged > 0) access.space.settle({ kind: "discarded" }, charged);
      if (key !== "") access.space.running.delete(key);
      if (taken) access.release(name);
      this.#entries.push({ ok: false, error: diskError(name, error), name });
    }
  }

  /**
   * Makes the group durable, then visible, then its folders durable;
   * resolves to one answer per file, in order, and starts a new group.
   */
  async commit(): Promise<GroupResult[]> {
    const entries = this.#entries;
    this.#entries = [];
    this.#staged = 0;
    this.#bytes = 0;
    const staged = entries.filter((entry): entry is Staged => "file" in entry);
    let failure: FileRefusal | null = null;
    if (staged.length > 0) {
      try {
        if (!(await syncFileSystem(this.#access.parts))) {
          await Promise.all(staged.map((entry) => entry.file.syncData()));
        }
      } catch (error) {
        failure = diskError(staged[0]!.name, error);
      }
    }
    const folders = new Set<string>();
    const results = entries.map((entry): GroupResult => {
      if (!("file" in entry)) return entry;
      if (failure !== null) {
        this.#drop(entry);
        return { ok: false, error: failure, name: entry.name };
      }
      return this.#publish(entry, folders);
    });
    try {
      await Promise.all([...folders].map((folder) => syncDirectory(folder)));
    } catch (error) {
      // Visible but perhaps not durable: say so rather than acknowledge.
      const refusal = diskError("the group", error);
      return results.map((
        result,
      ) => (result.ok ? { ok: false, error: refusal, name: result.name } : result));
    }
    return results;
  }

  /** Drops every file not yet committed (the connection ended): nothing of them is kept. */
  abandon(): void {
    for (const entry of this.#entries) if ("file" in entry) this.#drop(entry);
    this.#entries = [];
    this.#staged = 0;
    this.#bytes = 0;
  }

  #publish(entry: Staged, folders: Set<string>): GroupResult {
    const access = this.#access;
    const target = access.target(entry.name);
    let replaced = 0;
    let existed = false;
    try {
      for (let attempt = 1;; attempt++) {
        try {
          const parent = dirname(target);
          if (!folders.has(parent)) {
            if (lstatNow(parent) === null) {
              // New folders: each one's parent must record it too, up to the store's own.
              for (let up = dirname(parent); up.length >= access.root.length; up = dirname(up)) {
                folders.add(up);
                if (up === "/") break;
              }
            }
            folders.add(parent);
          }
          access.mkdirs(entry.name);
          if (entry.force) {
            const old = lstatNow(target);
            existed = old !== null;
            replaced = old?.isFile ? old.size : 0;
            Deno.renameSync(entry.path, target);
          } else if (!renameNoReplace(entry.path, target)) {
            Deno.linkSync(entry.path, target); // fails if the name exists: nothing is clobbered
            Deno.removeSync(entry.path);
          }
          break;
        } catch (error) {
          // A folder emptied by a delete at the wrong moment disappears under us: make it again.
          if (error instanceof Deno.errors.NotFound && attempt < 3) continue;
          throw error;
        }
      }
    } catch (error) {
      this.#drop(entry);
      const refusal = error instanceof Deno.errors.AlreadyExists
        ? alreadyExists(entry.name)
        : diskError(entry.name, error);
      return { ok: false, error: refusal, name: entry.name };
    }
    closeQuietly(entry.file); // held (locked) until it had its name
    if (entry.hadPart) removeNow(entry.path + ".json"); // the interrupted PUT's owner record
    access.space.running.delete(entry.key);
    access.space.settle({ kind: "committed", replaced, existed }, entry.size);
    if (!existed) access.added();
    access.release(entry.name);
    return { ok: true, sha256: entry.sha256, name: entry.name };
  }

  #drop(entry: Staged): void {
    const access = this.#access;
    removeNow(entry.path);
    closeQuietly(entry.file);
    access.space.running.delete(entry.key);
    access.space.settle({ kind: "discarded" }, entry.size);
    access.release(entry.name);
  }
}

/** The folder of a path in the store (node:path would load Node's compatibility layer at start-up). */
function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}
