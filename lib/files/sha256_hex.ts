/**
 * A synchronous SHA-256 (FIPS 180-4) in JavaScript. The file store names its
 * records by it from its first sweep on, and the client its part files;
 * small transfers hash with it too (hashing.ts). node:crypto costs 30-70 ms
 * to import, which a server would pay before its Listening lines and a
 * client before its first byte; it is ten times faster per byte, so large
 * transfers still hash with it.
 */

/** The round constants: the first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
// deno-fmt-ignore
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** The initial hash value: the first 32 bits of the fractional parts of the square roots of the first 8 primes. */
const INITIAL = new Uint32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);

const encoder = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/** A streaming SHA-256: update() any number of times, then digest("hex") once. */
export class Sha256 {
  #h = new Uint32Array(INITIAL);
  #w = new Uint32Array(64);
  /** The bytes of an unfinished block. */
  #block = new Uint8Array(64);
  #blockView = new DataView(this.#block.buffer);
  #filled = 0;
  #length = 0;

  /** Adds `data` to what is hashed. */
  update(data: Uint8Array): this {
    this.#length += data.length;
    let at = 0;
    if (this.#filled > 0) {
      const take = Math.min(64 - this.#filled, data.length);
      this.#block.set(data.subarray(0, take), this.#filled);
      this.#filled += take;
      at = take;
      if (this.#filled < 64) return this;
      compress(this.#h, this.#w, this.#blockView, 0);
      this.#filled = 0;
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (; at + 64 <= data.length; at += 64) compress(this.#h, this.#w, view, at);
    this.#block.set(data.subarray(at));
    this.#filled = data.length - at;
    return this;
  }

  /** An independent hash of what was fed so far (this one goes on). */
  copy(): Sha256 {
    const twin = new Sha256();
    twin.#h.set(this.#h);
    twin.#block.set(this.#block);
    twin.#filled = this.#filled;
    twin.#length = this.#length;
    return twin;
  }

  /** The digest in lower-case hex; the hash cannot be used afterwards. */
  digest(_encoding: "hex"): string {
    const bits = this.#length * 8;
    const block = this.#block;
    block.fill(0, this.#filled);
    block[this.#filled] = 0x80;
    if (this.#filled >= 56) {
      compress(this.#h, this.#w, this.#blockView, 0);
      block.fill(0);
    }
    this.#blockView.setUint32(56, Math.floor(bits / 0x100000000));
    this.#blockView.setUint32(60, bits >>> 0);
    compress(this.#h, this.#w, this.#blockView, 0);
    return hexOf(this.#h);
  }
}

// Reused by every sha256Hex call (it is synchronous): a listing hashes one
// name per file, and allocating these each time was most of its cost.
const H = new Uint32Array(8);
const W = new Uint32Array(64);
let padded = new Uint8Array(1024);
let paddedView = new DataView(padded.buffer);

/** The hex SHA-256 of `text`'s UTF-8 bytes. */
export function sha256Hex(text: string): string {
  // The message, 0x80, zeros, and its length in bits (64-bit big-endian), in 64-byte blocks.
  const most = text.length * 3 + 9; // UTF-8 takes at most 3 bytes per UTF-16 unit
  if (most > padded.length) {
    padded = new Uint8Array(Math.ceil(most / 64) * 64);
    paddedView = new DataView(padded.buffer);
  }
  const length = encoder.encodeInto(text, padded).written;
  const end = Math.ceil((length + 9) / 64) * 64;
  padded.fill(0, length, end);
  padded[length] = 0x80;
  const bits = length * 8;
  paddedView.setUint32(end - 8, Math.floor(bits / 0x100000000));
  paddedView.setUint32(end - 4, bits >>> 0);
  H.set(INITIAL);
  for (let block = 0; block < end; block += 64) compress(H, W, paddedView, block);
  return hexOf(H);
}

/** One 64-byte block of `view` at `offset` into the hash value `h` (`w`: the schedule's room). */
function compress(h: Uint32Array, w: Uint32Array, view: DataView, offset: number): void {
  for (let t = 0; t < 16; t++) w[t] = view.getUint32(offset + t * 4);
  for (let t = 16; t < 64; t++) {
    const a = w[t - 15]!, b = w[t - 2]!;
    const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
    const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
    w[t] = w[t - 16]! + s0 + w[t - 7]! + s1;
  }
  let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!;
  let e = h[4]!, f = h[5]!, g = h[6]!, hh = h[7]!;
  for (let t = 0; t < 64; t++) {
    const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t]! +
      w[t]!) >>> 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
    hh = g;
    g = f;
    f = e;
    e = (d + t1) >>> 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) >>> 0;
  }
  h[0] = h[0]! + a;
  h[1] = h[1]! + b;
  h[2] = h[2]! + c;
  h[3] = h[3]! + d;
  h[4] = h[4]! + e;
  h[5] = h[5]! + f;
  h[6] = h[6]! + g;
  h[7] = h[7]! + hh;
}

function hexOf(h: Uint32Array): string {
  let hex = "";
  for (let i = 0; i < 8; i++) {
    const word = h[i]!;
    hex += HEX[word >>> 24]! + HEX[(word >>> 16) & 0xff]! + HEX[(word >>> 8) & 0xff]! +
      HEX[word & 0xff]!;
  }
  return hex;
}

function rotr(x: number, n: number): number {
  return (x >>> n) | (x << (32 - n));
}
