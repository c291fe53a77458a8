/** The file store in a temporary directory: what becomes visible, and when. */
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { FileStore, StoreError } from "../../lib/files/store.ts";

const hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function withStore(run: (store: FileStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "socketkit-store-" });
  try {
    await run(await FileStore.open(dir, { maxFileSize: 1024, keepPartial: 0 }), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function upload(store: FileStore, name: string, data: Uint8Array, force = false) {
  const up = await store.beginUpload(name, data.length, force);
  try {
    await up.file.write(data.subarray(up.offset));
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
      (e: unknown) => e instanceof StoreError && e.code === "exists",
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
      (e: unknown) => e instanceof StoreError && e.code === "verify-failed",
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
      (e: unknown) => e instanceof StoreError && e.code === "busy",
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
    for (const name of ["", "../x", "a/b", ".hidden", "a\u0001b"]) {
      await rejects(
        store.beginUpload(name, 1, false),
        (e: unknown) => e instanceof StoreError && e.code === "bad-name",
        name,
      );
    }
    await rejects(
      store.beginUpload("huge", 2048, false),
      (e: unknown) => e instanceof StoreError && e.code === "too-large",
    );
    await Deno.symlink("/etc/hostname", join(dir, "link"));
    await rejects(
      store.stat("link"),
      (e: unknown) => e instanceof StoreError && e.code === "not-regular",
    );
    deepStrictEqual(await store.list(), []);
  });
});
