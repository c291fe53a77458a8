/**
 * How the server checks a presented token: in constant time, over
 * equal-length digests, so neither the bytes nor the length leak through
 * timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** A secret to check candidates against. Holds only its digest. */
export class Token {
  #digest: Uint8Array;

  /** @param secret the token itself (validated with {@link tokenProblem} first) */
  constructor(secret: string | Uint8Array) {
    this.#digest = digest(secret);
  }

  /** True when `candidate` is the token; takes the same time whatever it is. */
  matches(candidate: string | Uint8Array): boolean {
    return timingSafeEqual(digest(candidate), this.#digest);
  }

  /** True when `other` holds the same secret (a reload that changed nothing). */
  equals(other: Token): boolean {
    return timingSafeEqual(other.#digest, this.#digest);
  }
}

function digest(value: string | Uint8Array): Uint8Array {
  return createHash("sha256").update(value).digest();
}
