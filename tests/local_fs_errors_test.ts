/**
 * Every local file-system failure of a client is one `error:` line that
 * says what and where, exit 1, never a stack trace: a read-only file
 * system, no permission, no space, a file where a folder should be, a name
 * too long. Read-only and no-space need `mount` (root); no permission uses
 * `chattr +i` as root (root ignores modes) and chmod otherwise. A class that
 * cannot be set up here is skipped, saying why.
 */
import { equal, match } from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./_helpers.ts";
import { cli, smallTmpfs, startServer, tempDirs } from "./_files.ts";

// Deno.uid() needs --allow-sys, which the test task does not grant; id(1) needs only --allow-run.
const IS_ROOT = new TextDecoder().decode(
  (await new Deno.Command("id", { args: ["-u"], stdout: "piped" }).output()).stdout,
).trim() === "0";
// mount(8) needs root: the read-only and no-space classes are skipped without it.
const NO_MOUNT = IS_ROOT ? false : "needs root to mount a tmpfs";
if (NO_MOUNT) console.log(`local fs errors: read-only and no-space ignored: ${NO_MOUNT}`);

/** One line, `error: Cannot VERB "…": REASON`, exit 1. */
function assertOneLine(result: { code: number; stderr: string }, pattern: RegExp): void {
  equal(result.code, 1, result.stderr);
  equal(result.stderr.trim().split("\n").length, 1, `one line: ${result.stderr}`);
  match(result.stderr, pattern);
}

/** Mounts a read-only tmpfs on `dir`; null when this machine will not (not root). */
async function readOnlyMount(dir: string): Promise<AsyncDisposable | null> {
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", dir],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  if (!mount.success) return null;
  return {
    async [Symbol.asyncDispose]() {
      await new Deno.Command("umount", { args: [dir] }).output();
    },
  };
}

/** Makes `dir` refuse new entries: chattr +i as root, mode 0500 otherwise; null if neither works. */
async function refuseWrites(dir: string): Promise<AsyncDisposable | null> {
  if (!IS_ROOT) {
    await Deno.chmod(dir, 0o500);
    return { [Symbol.asyncDispose]: () => Deno.chmod(dir, 0o700) };
  }
  const chattr = (flag: string) =>
    new Deno.Command("chattr", { args: [flag, dir], stdout: "null", stderr: "null" }).output()
      .catch(() => ({ success: false }));
  if (!(await chattr("+i")).success) return null;
  return {
    async [Symbol.asyncDispose]() {
      await chattr("-i");
    },
  };
}

async function serverWithFiles() {
  const dirs = await tempDirs();
  const server = await startServer(dirs.files);
  const source = join(dirs.local, "report.txt");
  await Deno.writeTextFile(source, "x".repeat(200_000));
  const up = await cli(server, "upload", source);
  equal(up.code, 0, up.stderr);
  const folder = join(dirs.local, "photos");
  await Deno.mkdir(folder);
  await Deno.writeTextFile(join(folder, "a.jpg"), "a");
  equal((await cli(server, "upload", folder)).code, 0);
  return {
    dirs,
    server,
    async [Symbol.asyncDispose]() {
      await server[Symbol.asyncDispose]();
      await dirs[Symbol.asyncDispose]();
    },
  };
}

Deno.test({
  name: "local fs errors: a read-only file system",
  ignore: NO_MOUNT !== false,
}, async (t) => {
  await using setup = await serverWithFiles();
  const target = join(setup.dirs.local, "ro");
  await Deno.mkdir(target);
  await using mounted = await readOnlyMount(target);
  if (mounted === null) {
    console.log("ignored: cannot mount a read-only tmpfs here (needs root)");
    return;
  }
  await t.step("download a file", async () => {
    const result = await cli(setup.server, "download", "report.txt", "--output", target);
    assertOneLine(
      result,
      /^error: Cannot write ".*ro\/\.report\.txt\.socketkit-part\.json": the file system is read-only\n$/,
    );
  });
  await t.step("download a folder", async () => {
    const result = await cli(setup.server, "download", "photos", "--output", target);
    assertOneLine(
      result,
      /^error: Cannot create the folder ".*ro\/photos": the file system is read-only\n$/,
    );
  });
});

Deno.test("local fs errors: a folder that refuses writes (permission)", async () => {
  await using setup = await serverWithFiles();
  const target = join(setup.dirs.local, "locked");
  await Deno.mkdir(target);
  await using locked = await refuseWrites(target);
  if (locked === null) {
    console.log("ignored: chattr +i does not work here");
    return;
  }
  const result = await cli(setup.server, "download", "report.txt", "--output", join(target, "r"));
  assertOneLine(
    result,
    IS_ROOT
      ? /^error: Cannot write ".*locked\/\.r\.socketkit-part\.json": not permitted \(is the file or its folder immutable/
      : /^error: Cannot write ".*locked\/\.r\.socketkit-part\.json": permission denied\n$/,
  );
});

Deno.test({
  name: "local fs errors: no space left",
  ignore: NO_MOUNT !== false,
}, async () => {
  await using setup = await serverWithFiles();
  const target = join(setup.dirs.local, "small");
  await Deno.mkdir(target);
  await using mounted = await smallTmpfs(target, "64k");
  if (mounted === null) {
    console.log("ignored: cannot mount a small tmpfs here (needs root)");
    return;
  }
  const result = await cli(setup.server, "download", "report.txt", "--output", join(target, "r"));
  assertOneLine(
    result,
    /^error: Cannot write ".*small\/\.r\.socketkit-part": no space left on the device\n$/,
  );
});

Deno.test("local fs errors: a file where a folder should be, and a name too long", async () => {
  await using setup = await serverWithFiles();
  const local = join(setup.dirs.local, "here");
  await Deno.mkdir(local);
  await Deno.writeTextFile(join(local, "photos"), "in the way");
  const folder = await cli(setup.server, "download", "photos", "--output", local);
  assertOneLine(
    folder,
    /^error: Cannot create the folder ".*\/photos": a file of that name is in the way\n$/,
  );
  const long = join(local, "n".repeat(300));
  const download = await cli(setup.server, "download", "report.txt", "--output", long);
  assertOneLine(
    download,
    /^error: Cannot read ".*\.\.\.n+": the name is too long for the file system\n$/,
  );
  const upload = await runCli([
    "connect",
    "upload",
    long,
    "--file-port",
    String(setup.server.port("[File Server]")),
  ]);
  assertOneLine(upload, /^error: Cannot read ".*": the name is too long for the file system\n$/);
});
