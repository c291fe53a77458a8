/** files/sha256_hex.ts is node:crypto's SHA-256 for every input the store and client give it. */
import { equal as assertEquals } from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha256Hex } from "../../lib/files/sha256_hex.ts";

function expected(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

Deno.test("sha256Hex matches the FIPS 180-4 test vectors", () => {
  assertEquals(
    sha256Hex(""),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assertEquals(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assertEquals(
    sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
});

Deno.test("sha256Hex matches node:crypto at every length around the block edges", () => {
  for (let length = 0; length <= 200; length++) {
    const ascii = "x".repeat(length);
    assertEquals(sha256Hex(ascii), expected(ascii), `length ${length}`);
  }
  // Multi-byte UTF-8: byte lengths that land on 55, 56, 63, 64 and 65.
  for (const prefix of ["", "a", "ab", "abc"]) {
    for (let count = 10; count <= 25; count++) {
      const text = prefix + "é".repeat(count) + "€" + "😀";
      assertEquals(sha256Hex(text), expected(text), JSON.stringify(text));
    }
  }
});

Deno.test("sha256Hex matches node:crypto on random strings", () => {
  const alphabet = "abcXYZ09 _-./\u00e9\u00fc\u4e2d\u6587\u{1F600}\u{1F4C1}";
  const chars = Array.from(alphabet);
  for (let round = 0; round < 2000; round++) {
    const length = Math.floor(Math.random() * 300);
    let text = "";
    for (let i = 0; i < length; i++) text += chars[Math.floor(Math.random() * chars.length)];
    assertEquals(sha256Hex(text), expected(text), JSON.stringify(text));
  }
});

Deno.test("sha256Hex reuses its buffers: a short input after a long one is still right", () => {
  const long = "é".repeat(2000) + "tail";
  assertEquals(sha256Hex(long), expected(long));
  for (const text of ["", "abc", "x".repeat(64), "d001/f000001.txt"]) {
    assertEquals(sha256Hex(text), expected(text), JSON.stringify(text));
  }
});
