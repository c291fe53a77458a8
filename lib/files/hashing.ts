/**
 * SHA-256 helpers for streamed transfers. They hash with node:crypto, whose
 * import costs 30-70 ms (the Node compatibility layer), so it is not imported
 * with this module: loadHashing() imports it, and every other function here
 * throws until that has resolved. A server's file connection awaits it before
 * its first request, the client before a transfer. Names are hashed without
 * it (sha256_hex.ts).
 */
import type { Hash } from "node:crypto";
import type { Reader } from "../base/io.ts";

let nodeCrypto: typeof import("node:crypto") | null = null;
let loading: Promise<void> | null = null;

/** Imports node:crypto, once; resolves when the functions here can be called. */
export function loadHashing(): Promise<void> {
  loading ??= import("node:crypto").then((module) => {
    nodeCrypto = module;
  });
  return loading;
}

function crypto(): typeof import("node:crypto") {
  if (nodeCrypto === null) throw new Error("SHA-256 used before loadHashing() resolved");
  return nodeCrypto;
}

/** A fresh streaming SHA-256. */
export function sha256(): Hash {
  return crypto().createHash("sha256");
}

/**
 * Feeds the first `length` bytes of `file` (read from its current position,
 * normally 0) into `hash`, so a resumed transfer's digest covers the whole
 * file. Returns false if the file ends first.
 */
export async function hashPrefix(
  file: Reader,
  length: number,
  hash: Hash,
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
