/**
 * One upload in progress on the server: its part file (locked, so it is the
 * name's lock across servers sharing the directory), the bytes written to
 * it, counted against the store's limits, and its three ends: committed
 * under its name once the client's digest matches, discarded, or kept for
 * a later resume.
 */
import { closeQuietly, type Writer } from "../../base/io.ts";
import { sha256, type StreamHash } from "../hashing.ts";
import { quoteName } from "../names.ts";
import type { FileEntry } from "../protocol.ts";
import { lstatNow, mtimeOf, removeNow } from "../records.ts";
import { alreadyExists, diskError, FileRefusal, isNoSpace } from "./refusals.ts";

/** What `.socketkit/parts/<key>.json` records of an upload: whose part it is. */
export interface PartRecord {
  name: string;
  /** null: a streamed upload, never resumed. */
  size: number | null;
}

/** What `.socketkit/meta/<key>.json` records of a stored file. */
export interface FileRecord {
  name: string;
  size: number;
  mtimeMs: number;
  sha256: string;
}

/** What an upload is given when it begins. */
export interface UploadState {
  name: string;
  /** null: streamed, length unknown until the end. */
  size: number | null;
  force: boolean;
  /** Bytes already on disk from an interrupted upload. */
  offset: number;
  /** The part file and its record. */
  path: string;
  partMeta: string;
  file: Deno.FsFile;
  /** Where the file goes once committed. */
  target: string;
  /** --max-file-size, which a streamed upload checks as it goes. */
  maxFileSize: number;
}

/** How an upload reaches the store: its accounting, folders and records. */
export interface Ledger {
  /** Before writing `bytes` more; throws FileRefusal no-space past --max-dir-size. */
  charge(bytes: number): void;
  /** Bytes charged but not written. */
  refund(bytes: number): void;
  /** On a full disk: evicts interrupted uploads; resolves to the bytes freed. */
  freeSpace(): Promise<number>;
  /** After an upload was interrupted and kept: applies --max-partial. */
  trim(): Promise<number>;
  /** Makes the folders of the name (at commit); throws FileRefusal. */
  mkdirs(): boolean;
  /** Persists the stored file's digest. */
  writeMeta(record: FileRecord): void;
}

/** How an upload ended, for the store's counters. */
export type Outcome =
  | { kind: "committed"; replaced: number; existed: boolean }
  | { kind: "discarded" }
  | { kind: "kept" };

/** One upload in progress: the temporary file, its lock on the name, and how it ends. */
export class Upload {
  readonly name: string;
  /** null: a streamed upload. */
  readonly size: number | null;
  readonly offset: number;
  readonly hash: StreamHash = sha256();
  #state: UploadState;
  #ledger: Ledger;
  #onEnd: (outcome: Outcome, stored: number) => void;
  /** Bytes in the part file. */
  #onDisk: number;
  #done = false;

  /** @param onEnd called once when the upload ends (committed, discarded or kept), with how and its bytes on disk */
  constructor(
    state: UploadState,
    ledger: Ledger,
    onEnd: (outcome: Outcome, stored: number) => void,
  ) {
    this.#state = state;
    this.#ledger = ledger;
    this.#onEnd = onEnd;
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
   * interrupted uploads and tries once more. Throws FileRefusal.
   */
  readonly writer: Writer = {
    write: async (bytes) => {
      const { maxFileSize } = this.#state;
      if (this.size === null && this.#onDisk + bytes.length > maxFileSize) {
        throw new FileRefusal(
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
   * stored entry and whether the name is new. Throws FileRefusal.
   */
  async commit(expected: string): Promise<{ entry: FileEntry; created: boolean }> {
    const { file, path, name, force, partMeta, target } = this.#state;
    const actual = this.hash.digest("hex");
    if (actual !== expected) {
      this.discard();
      throw new FileRefusal(
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
      this.#ledger.writeMeta({ ...entry, sha256: actual });
    } catch (error) {
      if (!isNoSpace(error) || (await this.#ledger.freeSpace()) === 0) {
        this.discard();
        throw diskError(name, error);
      }
      this.#ledger.writeMeta({ ...entry, sha256: actual });
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
          throw alreadyExists(name);
        }
        throw error instanceof FileRefusal ? error : diskError(name, error);
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
    this.#onEnd(outcome, this.#onDisk);
  }
}
