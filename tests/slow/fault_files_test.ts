/**
 * File-service faults: the server SIGKILLed in the middle of concurrent
 * uploads, again and again, and restarted on the same --files-dir; and a disk
 * that fills up while transfers run. Nothing partial may ever be listed,
 * every upload must resume and verify, and the other services must not notice.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { encode } from "../../lib/base/text.ts";
import {
  checkHealthy,
  checkMemory,
  closeQuiet,
  LABELS,
  report,
  scale,
  sendQuiet,
  sha256,
  sleep,
  startTarget,
  tryConnect,
} from "../_fault.ts";
import { runCli } from "../_helpers.ts";

const MiB = 1024 * 1024;

interface Listed {
  files: { name: string; size: number; sha256: string | null }[];
}

async function list(port: number): Promise<Listed> {
  const result = await runCli(["connect", "files", "--json", `--file-port=${port}`]);
  equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Listed;
}

/** Bytes of every part file under the store's parts folder (0 when there is none). */
async function partBytes(filesDir: string): Promise<number> {
  let total = 0;
  try {
    for await (const entry of Deno.readDir(join(filesDir, ".socketkit", "parts"))) {
      if (entry.isFile) {
        total += (await Deno.stat(join(filesDir, ".socketkit", "parts", entry.name))).size;
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return total;
}

Deno.test("fault: SIGKILL during uploads, restart on the same --files-dir; nothing partial listed, all resume and verify", async () => {
  const rounds = scale(3, 20);
  const uploads = 4;
  const size = 4 * MiB;
  const filesDir = await Deno.makeTempDir({ prefix: "socketkit-kill-files-" });
  const local = await Deno.makeTempDir({ prefix: "socketkit-kill-local-" });
  const started = performance.now();
  let kills = 0;
  let resumed = 0;
  let peakMb = 0;
  try {
    const stored = new Map<string, string>(); // name -> sha256 of what must be listed
    for (let round = 0; round < rounds; round++) {
      const files = await Promise.all(Array.from({ length: uploads }, async (_, i) => {
        const bytes = new Uint8Array(size).map((_, j) => (round * 131 + i * 31 + j * 7) & 0xff);
        const name = `r${round}-${i}.bin`;
        await Deno.writeFile(join(local, name), bytes);
        return { name, digest: sha256(bytes), bytes };
      }));
      {
        await using server = await startTarget([], undefined, { filesDir });
        const port = server.port(LABELS.files);
        deepStrictEqual(
          (await list(port)).files.map((file) => [file.name, file.sha256]).sort(),
          [...stored.entries()].sort(),
          "exactly the files completed before, each with its digest",
        );
        // Half of every file sent over the raw protocol, then the server dies.
        const conns = await Promise.all(files.map(async (file) => {
          const conn = await tryConnect(port);
          ok(conn !== null);
          await sendQuiet(conn, encode(`PUT ${size} new ${file.name}\n`));
          await sendQuiet(conn, file.bytes.subarray(0, size / 2));
          return conn;
        }));
        // The parts reach the disk, then: kill -9 (bounded wait on a disk write).
        const deadline = Date.now() + 10_000;
        while ((await partBytes(filesDir)) < uploads * MiB && Date.now() < deadline) {
          await sleep(20);
        }
        peakMb = Math.max(peakMb, await checkMemory(server, 300));
        await server.stop("SIGKILL");
        for (const conn of conns) closeQuiet(conn);
        kills++;
      }
      await using server = await startTarget([], undefined, { filesDir });
      const port = server.port(LABELS.files);
      equal(
        (await list(port)).files.filter((file) => file.name.startsWith(`r${round}-`)).length,
        0,
        "nothing of the interrupted uploads is listed",
      );
      const results = await Promise.all(
        files.map((file) =>
          runCli(["connect", "upload", join(local, file.name), "--json", `--file-port=${port}`])
        ),
      );
      for (const [i, result] of results.entries()) {
        equal(result.code, 0, result.stderr);
        const summary = JSON.parse(result.stdout) as { sha256: string; resumedFrom: number };
        equal(summary.sha256, files[i]!.digest);
        if (summary.resumedFrom > 0) resumed++;
        stored.set(files[i]!.name, files[i]!.digest);
      }
      if (round === rounds - 1) await checkHealthy(server);
    }
    ok(resumed >= uploads * rounds / 2, `${resumed} uploads resumed after the kill`);
    report({
      name: "SIGKILL during uploads, restart on the same --files-dir",
      faults: kills,
      cases: rounds * uploads,
      lost: 0,
      peakMb,
      ms: performance.now() - started,
      note: `${rounds * uploads} uploads cut at 50% by kill -9; ${resumed} resumed from their ` +
        `part, all verified; nothing partial ever listed`,
    });
  } finally {
    await Deno.remove(filesDir, { recursive: true });
    await Deno.remove(local, { recursive: true });
  }
});

Deno.test("fault: the disk fills up while transfers run (tmpfs; needs root)", async (t) => {
  const filesDir = await Deno.makeTempDir({ prefix: "socketkit-full-" });
  const local = await Deno.makeTempDir({ prefix: "socketkit-full-local-" });
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=6m", "tmpfs", filesDir],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  try {
    if (!mount.success) {
      await t.step({
        name: "skipped: cannot mount a small tmpfs here",
        ignore: true,
        fn: () => {},
      });
      return;
    }
    const started = performance.now();
    // Six uploads at once from one address: more than --max-transfers-per-ip allows by default.
    await using server = await startTarget(["--max-transfers-per-ip", "8"], undefined, {
      filesDir,
    });
    const port = server.port(LABELS.files);
    const count = 6;
    const files = await Promise.all(Array.from({ length: count }, async (_, i) => {
      const bytes = new Uint8Array(1.5 * MiB).map((_, j) => (i * 17 + j) & 0xff);
      const path = join(local, `fill${i}.bin`);
      await Deno.writeFile(path, bytes);
      return { path, name: `fill${i}.bin`, digest: sha256(bytes) };
    }));
    const results = await Promise.all(
      files.map((file) =>
        runCli(["connect", "upload", file.path, "--json", `--file-port=${port}`])
      ),
    );
    const full = results.filter((result) => result.code !== 0);
    ok(full.length > 0, "the disk did fill up");
    for (const result of full) {
      equal(result.code, 1);
      ok(/disk is full/.test(result.stderr), result.stderr);
    }
    const listed = await list(port);
    equal(listed.files.length, count - full.length, "only the uploads that fit are listed");
    for (const entry of listed.files) {
      equal(entry.size, 1.5 * MiB);
      equal(entry.sha256, files.find((file) => file.name === entry.name)!.digest);
    }
    // Every other service carries on (the file round trip of the health check
    // needs space, so it is left out here).
    await checkHealthy(server, [LABELS.tcp, LABELS.udp, LABELS.chat, LABELS.info]);
    report({
      name: "full disk during uploads",
      faults: full.length,
      cases: count,
      lost: 0,
      ms: performance.now() - started,
      note: `${
        count - full.length
      } stored and verified, ${full.length} refused with "disk is full"`,
    });
  } finally {
    if (mount.success) await new Deno.Command("umount", { args: [filesDir] }).output();
    await Deno.remove(filesDir, { recursive: true });
    await Deno.remove(local, { recursive: true });
  }
});
