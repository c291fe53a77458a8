/**
 * Where the store keeps the digest of a stored file, and how a file is
 * described with it: one small JSON record per file under
 * `.socketkit/meta/<hex SHA-256 of the name>.json`, so a lookup is one
 * read, never a scan. Shared by the store and the listing worker.
 */
import { join } from "../../base/path.ts";
import type { FileEntry } from "../protocol.ts";
import { readAttributeRecord, readRecord } from "../records.ts";
import { sha256Hex } from "../sha256_hex.ts";
import type { FileRecord } from "./upload.ts";

/** Where the digest of `name` is kept, in the store's meta folder `metaDir`. */
export function metaPathOf(metaDir: string, name: string): string {
  return join(metaDir, sha256Hex(name) + ".json");
}

/**
 * A stored file as LIST, STAT and GET describe it, from its size and time:
 * with its digest when the record of one matches both (a file changed by
 * hand since is "digest unknown"). Pipelined uploads keep the record on the
 * file itself, an extended attribute of the file at `path` (group.ts): one
 * system call and no record file; others have it under `metaDir`.
 */
export function describeStored(
  metaDir: string,
  path: string,
  name: string,
  size: number,
  mtimeMs: number,
): FileEntry {
  const valid = (record: { size: number; mtimeMs: number; sha256: string } | null) =>
    record !== null && record.size === size && record.mtimeMs === mtimeMs &&
    /^[0-9a-f]{64}$/.test(record.sha256);
  const attribute = readAttributeRecord(path);
  if (valid(attribute)) return { name, size, mtimeMs, sha256: attribute!.sha256 };
  const meta = readRecord<FileRecord>(metaPathOf(metaDir, name));
  const known = meta !== null && meta.name === name && valid(meta);
  return { name, size, mtimeMs, sha256: known ? meta!.sha256 : null };
}
