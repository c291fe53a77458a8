/**
 * SHA-256 for streamed transfers. Large ones hash with node:crypto, whose
 * import costs 30-70 ms (the Node compatibility layer), so it is not imported
 * with this module: loadHashing() imports it. Until then sha256() gives the
 * JavaScript SHA-256 (sha256_hex.ts), ten times slower per byte but free to
 * start, which is what a small transfer wants: sha256For() picks by size.
 * A server's file connection loads node:crypto before its first request;
 * the client only for a transfer above SMALL_HASH_BYTES.
 */
import type { Reader } from "../base/io.ts";
import { Sha256 } from "./sha256_hex.ts";

/** What a transfer needs of a hash: node:crypto's Hash and our Sha256 both fit. */
export interface StreamHash {
  update(data: Uint8Array): StreamHash;
  digest(encoding: "hex"): string;
  /** An independent hash of what was fed so far (this one goes on). */
  copy(): StreamHash;
}

/**
 * Up to this many bytes the JavaScript SHA-256 (about 10 ms a MiB) costs less
 * than importing node:crypto.
 */
export const SMALL_HASH_BYTES = 1 << 20;

let nodeCrypto: typeof import("node:crypto") | null = null;
let loading: Promise<void> | null = null;

/** Imports node:crypto, once; from then on sha256() uses it. */
export function loadHashing(): Promise<void> {
  loading ??= import("node:crypto").then((module) => {
    nodeCrypto = module;
  });
  return loading;
}

/** A fresh streaming SHA-256: node:crypto's once loaded, else the JavaScript one. */
export function sha256(): StreamHash {
  return nodeCrypto === null ? new Sha256() : nodeCrypto.createHash("sha256");
}

/**
 * A fresh streaming SHA-256 for `bytes` bytes (null: not known in advance),
 * loading node:crypto first when they are more than SMALL_HASH_BYTES.
 */
export async function sha256For(bytes: number | null): Promise<StreamHash> {
  if (bytes === null || bytes > SMALL_HASH_BYTES) await loadHashing();
  return sha256();
}

/**
 * Feeds the first `length` bytes of `file` (read from its current position,
 * normally 0) into `hash`, so a resumed transfer's digest covers the whole
 * file. Returns false if the file ends first.
 */
export async function hashPrefix(
  file: Reader,
  length: number,
  hash: StreamHash,
  buffer: Uint8Array,
): Promise<boolean> {
  let left = length;
  while (left > 0) {
    const n = await file.read(buffer.subarray(0, Math.min(buffer.length, left)));
    if (n === null) return false;
    hash.update(buffer.subarray(0, n));
    left -= n;
  }
  return true;
}
