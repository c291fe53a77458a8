/**
 * Group durability under SIGKILL: a pipelined upload of 5,000 files of 4 KB
 * with the server (spawned as `deno task serve` runs it, with FFI) killed at
 * a random moment, ten times, each time restarted on the same --files-dir.
 * After each restart every visible file must match its digest (the listing's
 * and the bytes on disk), nothing partial may be visible, and re-running the
 * same command must finish without sending again any file already visible
 * (every acknowledged file is visible: an OK comes after its group is
 * durable and renamed into place).
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { LABEL, listing, sha256, tempDirs, treeDigests } from "../_files.ts";
import { runArgs, ServerProcess } from "../_helpers.ts";

const FILES = 5000;
const ROUNDS = 10;
const FFI = { denoArgs: ["--allow-ffi"] };

async function startServer(files: string): Promise<ServerProcess> {
  return await ServerProcess.start(["--services", "files", "--files-dir", files], [LABEL], FFI);
}

function upload(server: ServerProcess, tree: string, name: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      ...runArgs(FFI),
      "connect",
      "upload",
      tree,
      "--name",
      name,
      "--json",
      "--file-port",
      String(server.port(LABEL)),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Every regular file under `dir` (hidden ones too), relative, with its digest. */
function onDisk(dir: string, prefix = ""): Map<string, string> {
  const found = new Map<string, string>();
  let entries: Deno.DirEntry[];
  try {
    entries = Array.from(Deno.readDirSync(dir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return found;
    throw error;
  }
  for (const entry of entries) {
    const name = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory) {
      for (const [inner, digest] of onDisk(join(dir, entry.name), name)) found.set(inner, digest);
    } else {
      found.set(name, sha256(Deno.readFileSync(join(dir, entry.name))));
    }
  }
  return found;
}

Deno.test("files: a pipelined upload of 5,000 files survives the server SIGKILLed 10 times: only whole verified files are visible, and the re-run sends only the rest", async () => {
  await using dirs = await tempDirs();
  const tree = join(dirs.local, "tree");
  for (let i = 0; i < FILES; i++) {
    const folder = join(tree, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) Deno.mkdirSync(folder, { recursive: true });
    Deno.writeFileSync(join(folder, `f${i}.bin`), crypto.getRandomValues(new Uint8Array(4096)));
  }
  const expected = await treeDigests(tree);
  const seed = Number(Deno.env.get("SOCKETKIT_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`seed ${seed} (SOCKETKIT_FUZZ_SEED=${seed} repeats the kill moments)`);
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

  for (let round = 0; round < ROUNDS; round++) {
    const name = `round${round}`;
    let server = await startServer(dirs.files);
    const client = upload(server, tree, name);
    await server.waitFor(/Receiving files from .* \(pipelined\)/, 60_000);
    await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 5000)));
    await server.stop("SIGKILL");
    const cut = await client.output();

    server = await startServer(dirs.files);
    try {
      // Visible: each file whole and verified, by the listing and by its bytes.
      const listed = (await listing(server)).files.filter((file) =>
        file.name.startsWith(`${name}/`)
      );
      for (const file of listed) {
        const local = expected.get(file.name.slice(name.length + 1));
        ok(local !== undefined, `unexpected ${file.name}`);
        equal(file.sha256, local, `${file.name}: listed digest`);
      }
      const disk = onDisk(join(dirs.files, name));
      deepStrictEqual(
        [...disk.keys()].sort(),
        listed.map((file) => file.name.slice(name.length + 1)).sort(),
        "on disk: exactly the listed files, no part or hidden file",
      );
      for (const [file, digest] of disk) {
        equal(digest, expected.get(file), `${file}: bytes on disk`);
      }
      console.log(
        `round ${round}: ${listed.length} of ${FILES} visible after the kill (client exit ${cut.code})`,
      );

      // The same command again: what is visible is skipped, the rest is sent.
      const again = upload(server, tree, name);
      const done = await again.output();
      equal(done.code, 0, new TextDecoder().decode(done.stderr));
      const summary = JSON.parse(new TextDecoder().decode(done.stdout));
      equal(summary.count, FILES);
      equal(summary.skipped, listed.length, "every visible file skipped, none sent again");
      equal(summary.transferred, (FILES - listed.length) * 4096);
      const after = onDisk(join(dirs.files, name));
      equal(after.size, FILES);
      for (const [file, digest] of after) equal(digest, expected.get(file));
    } finally {
      await server.stop("SIGTERM");
    }
    // The next round starts from an empty store: the start-up sweep lists every
    // stored file before the Listening line, and 50,000 would slow every restart.
    Deno.removeSync(join(dirs.files, name), { recursive: true });
  }
});
