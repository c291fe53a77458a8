/** files/sha256_hex.ts is node:crypto's SHA-256 for every input; hashing.ts picks it for small transfers. */
import { equal as assertEquals } from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha256For, SMALL_HASH_BYTES } from "../../lib/files/hashing.ts";
import { Sha256, sha256Hex } from "../../lib/files/sha256_hex.ts";

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

Deno.test("Sha256 fed in pieces of every size matches node:crypto", () => {
  const data = new Uint8Array(1000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  for (const length of [0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000]) {
    const whole = data.subarray(0, length);
    const want = createHash("sha256").update(whole).digest("hex");
    for (const piece of [1, 3, 63, 64, 65, 200]) {
      const hash = new Sha256();
      // A view into a larger buffer at an odd offset, as a read buffer gives.
      for (let at = 0; at < length; at += piece) {
        hash.update(whole.subarray(at, Math.min(length, at + piece)));
      }
      const twin = hash.copy();
      assertEquals(hash.digest("hex"), want, `length ${length} in pieces of ${piece}`);
      assertEquals(twin.digest("hex"), want, `a copy, length ${length}`);
    }
  }
});

Deno.test("sha256For: a small transfer hashes in JavaScript, a large one loads node:crypto", async () => {
  const small = await sha256For(4096);
  assertEquals(small instanceof Sha256, true, "4 KB: the JavaScript SHA-256");
  const large = await sha256For(SMALL_HASH_BYTES + 1);
  assertEquals(large instanceof Sha256, false, "over the limit: node:crypto's");
  const unknown = await sha256For(null);
  assertEquals(unknown instanceof Sha256, false, "size not known: node:crypto's");
  for (const hash of [small, large, unknown]) hash.update(new TextEncoder().encode("abc"));
  const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  for (const hash of [small, large, unknown]) assertEquals(hash.digest("hex"), want);
});

Deno.test("sha256Hex reuses its buffers: a short input after a long one is still right", () => {
  const long = "é".repeat(2000) + "tail";
  assertEquals(sha256Hex(long), expected(long));
  for (const text of ["", "abc", "x".repeat(64), "d001/f000001.txt"]) {
    assertEquals(sha256Hex(text), expected(text), JSON.stringify(text));
  }
});
