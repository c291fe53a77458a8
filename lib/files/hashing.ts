/** SHA-256 helpers for streamed transfers. */
import { createHash, type Hash } from "node:crypto";
import type { Reader } from "../base/io.ts";

/** A fresh streaming SHA-256. */
export function sha256(): Hash {
  return createHash("sha256");
}

/** The hex SHA-256 of a string (used for state file names). */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
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
