/**
 * Where the store keeps the digest of a stored file, and how a file is
 * described with it: one small JSON record per file under
 * `.socketkit/meta/<hex SHA-256 of the name>.json`, so a lookup is one
 * read, never a scan. Shared by the store and the listing worker.
 */
import { join } from "../../base/path.ts";
import type { FileEntry } from "../protocol.ts";
import { readRecord } from "../records.ts";
import { sha256Hex } from "../sha256_hex.ts";
import type { FileRecord } from "./upload.ts";

/** Where the digest of `name` is kept, in the store's meta folder `metaDir`. */
export function metaPathOf(metaDir: string, name: string): string {
  return join(metaDir, sha256Hex(name) + ".json");
}

/**
 * A stored file as LIST, STAT and GET describe it, from its size and time:
 * with its digest when the record of one matches both (a file changed by
 * hand since is "digest unknown").
 */
export function describeStored(
  metaDir: string,
  name: string,
  size: number,
  mtimeMs: number,
): FileEntry {
  const meta = readRecord<FileRecord>(metaPathOf(metaDir, name));
  const known = meta !== null && meta.name === name && meta.size === size &&
    meta.mtimeMs === mtimeMs && /^[0-9a-f]{64}$/.test(meta.sha256);
  return { name, size, mtimeMs, sha256: known ? meta.sha256 : null };
}
