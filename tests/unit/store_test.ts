/** The file store in a temporary directory: what becomes visible, and when. */
import { deepStrictEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { loadHashing } from "../../lib/files/hashing.ts";
import { sha256Hex } from "../../lib/files/sha256_hex.ts";
import { FileRefusal } from "../../lib/files/server/refusals.ts";
import { FileStore, type FileStoreOptions } from "../../lib/files/server/store.ts";

const hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function withStore(
  run: (store: FileStore, dir: string) => Promise<void>,
  options: Partial<FileStoreOptions> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "socketkit-store-" });
  await loadHashing(); // an upload hashes its bytes, as a server connection has loaded it
  try {
    await run(await FileStore.open(dir, { maxFileSize: 1024, keepPartial: 0, ...options }), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const isCode = (code: string) => (e: unknown) => e instanceof FileRefusal && e.code === code;

async function upload(store: FileStore, name: string, data: Uint8Array, force = false) {
  const up = await store.beginUpload(name, data.length, force);
  try {
    await up.writer.write(data.subarray(up.offset));
    up.hash.update(data);
    return await up.commit(hex(data));
  } finally {
    up.release();
  }
}

Deno.test("store: a committed upload is listed with its digest; nothing before the commit", async () => {
  await withStore(async (store) => {
    const data = new TextEncoder().encode("hello");
    const up = await store.beginUpload("a.txt", data.length, false);
    await up.file.write(data);
    deepStrictEqual(await store.list(), [], "invisible until committed");
    up.hash.update(data);
    const { entry, created } = await up.commit(hex(data));
    up.release();
    ok(created);
    equal(entry.sha256, hex(data));
    deepStrictEqual((await store.list()).map((file) => [file.name, file.size, file.sha256]), [
      ["a.txt", 5, hex(data)],
    ]);
    equal(store.count, 1);
  });
});

Deno.test("store: an existing name needs force; a wrong digest keeps nothing", async () => {
  await withStore(async (store) => {
    const one = new TextEncoder().encode("one");
    await upload(store, "f", one);
    await rejects(
      upload(store, "f", one),
      (e: unknown) => e instanceof FileRefusal && e.code === "exists",
    );
    const two = new TextEncoder().encode("two!");
    const replaced = await upload(store, "f", two, true);
    equal(replaced.created, false);
    equal(store.count, 1);
    const up = await store.beginUpload("g", 3, false);
    await up.file.write(one);
    up.hash.update(one);
    await rejects(
      up.commit("0".repeat(64)),
      (e: unknown) => e instanceof FileRefusal && e.code === "verify-failed",
    );
    up.release();
    deepStrictEqual((await store.list()).map((file) => file.name), ["f"]);
  });
});

Deno.test("store: an interrupted upload resumes at its offset; one upload per name at a time", async () => {
  await withStore(async (store) => {
    const data = crypto.getRandomValues(new Uint8Array(100));
    const first = await store.beginUpload("big", 100, false);
    await rejects(
      store.beginUpload("big", 100, false),
      (e: unknown) => e instanceof FileRefusal && e.code === "busy",
    );
    await first.file.write(data.subarray(0, 40));
    first.release(); // interrupted: kept for resuming
    const second = await store.beginUpload("big", 100, false);
    equal(second.offset, 40);
    second.release();
  });
});

Deno.test("store: names are checked, limits hold, symlinks are refused", async () => {
  await withStore(async (store, dir) => {
    for (
      const name of ["", "../x", "/a", "a//b", "a/", "a/.b", ".hidden", "a\u0001b", "x\u200by"]
    ) {
      await rejects(
        store.beginUpload(name, 1, false),
        (e: unknown) => e instanceof FileRefusal && e.code === "bad-name",
        name,
      );
    }
    await rejects(
      store.beginUpload("huge", 2048, false),
      (e: unknown) => e instanceof FileRefusal && e.code === "too-large",
    );
    await Deno.symlink("/etc/hostname", join(dir, "link"));
    throws(
      () => store.stat("link"),
      (e: unknown) => e instanceof FileRefusal && e.code === "not-regular",
    );
    deepStrictEqual(await store.list(), []);
  });
});

Deno.test("store: names with folders; listed recursively and by prefix; folders go with their last file", async () => {
  await withStore(async (store, dir) => {
    const data = new TextEncoder().encode("x");
    await upload(store, "a/b/c.txt", data);
    await upload(store, "a/d.txt", data);
    await upload(store, "top.txt", data);
    deepStrictEqual((await store.list()).map((file) => file.name), [
      "a/b/c.txt",
      "a/d.txt",
      "top.txt",
    ]);
    deepStrictEqual((await store.list("a/b")).map((file) => file.name), ["a/b/c.txt"]);
    await rejects(store.list("nope"), isCode("not-found"));
    await rejects(store.list("top.txt"), isCode("not-found"));
    throws(() => store.stat("a"), isCode("not-regular"));
    // A file where a folder should be; a symlinked folder is never entered.
    await rejects(upload(store, "top.txt/x", data), isCode("not-regular"));
    await Deno.symlink(join(dir, "a"), join(dir, "link"));
    throws(() => store.stat("link/d.txt"), isCode("not-found"));
    await rejects(upload(store, "link/new.txt", data), isCode("not-regular"));
    equal(store.count, 3);

    store.remove("a/b/c.txt");
    ok(!(await Deno.stat(join(dir, "a", "b")).catch(() => null)), "emptied folder removed");
    const moved = await store.move("a/d.txt", "e/f/d.txt");
    equal(moved.sha256, hex(data), "the digest moves with the file");
    ok(!(await Deno.stat(join(dir, "a")).catch(() => null)));
    deepStrictEqual((await store.list()).map((file) => [file.name, file.sha256]), [
      ["e/f/d.txt", hex(data)],
      ["top.txt", hex(data)],
    ]);
    await rejects(store.move("top.txt", "e/f/d.txt"), isCode("exists"));
    throws(() => store.remove("gone.txt"), isCode("not-found"));
    equal(store.count, 2);
  });
});

Deno.test("store: two spellings of one name are one name (NFC)", async () => {
  await withStore(async (store, dir) => {
    const data = new TextEncoder().encode("x");
    await upload(store, "caf\u00e9", data);
    // A decomposed name is refused by the store; the protocol normalises before it gets here.
    await rejects(upload(store, "cafe\u0301", data), isCode("bad-name"));
    // One copied in by hand in the decomposed form is not listed (it could not be asked for).
    await Deno.writeTextFile(join(dir, "cafe\u0301-hand"), "y");
    deepStrictEqual((await store.list()).map((file) => file.name), ["caf\u00e9"]);
  });
});

Deno.test("store: --max-dir-size holds while bytes are written; interrupted uploads make room", async () => {
  await withStore(async (store) => {
    const data = crypto.getRandomValues(new Uint8Array(600));
    await upload(store, "one", data);
    equal(store.usedBytes, 600);
    await rejects(store.beginUpload("two", 600, false), isCode("no-space"));
    // A streamed upload is refused as its bytes pass the limit.
    const stream = await store.beginUpload("stream", null, false);
    await stream.writer.write(data.subarray(0, 300));
    await rejects(stream.writer.write(data.subarray(0, 200)), isCode("no-space"));
    await stream.discard();
    equal(store.usedBytes, 600);
    // An interrupted upload is evicted when a new one needs its room.
    const cut = await store.beginUpload("cut", 400, false);
    await cut.writer.write(data.subarray(0, 300));
    await cut.release();
    equal(store.usedBytes, 900);
    const fits = await store.beginUpload("fits", 400, false);
    equal(store.usedBytes, 600, "the interrupted part was deleted");
    await fits.release();
  }, { maxDirSize: 1000 });
});

Deno.test("store: --max-partial keeps the newest interrupted uploads; a stream is never kept", async () => {
  await withStore(async (store, dir) => {
    const data = crypto.getRandomValues(new Uint8Array(300));
    for (const name of ["old", "new"]) {
      const up = await store.beginUpload(name, 1000, false);
      await up.writer.write(data);
      await up.release();
      if (name === "old") {
        // Older by a minute: eviction goes by mtime, set here instead of waited for.
        const earlier = new Date(Date.now() - 60_000);
        Deno.utimeSync(join(dir, ".socketkit", "parts", sha256Hex(name)), earlier, earlier);
      }
    }
    const stream = await store.beginUpload("s", null, false);
    await stream.writer.write(data);
    await stream.release();
    await store.sweep();
    const parts = await Array.fromAsync(Deno.readDir(join(dir, ".socketkit", "parts")));
    equal(parts.filter((entry) => !entry.name.includes(".")).length, 1);
    for (const [name, offset] of [["new", 300], ["old", 0]] as const) {
      const again = await store.beginUpload(name, 1000, false);
      equal(again.offset, offset, name === "new" ? "the newest is kept" : "the oldest went");
      await again.release();
    }
  }, { maxPartial: 500 });
});
