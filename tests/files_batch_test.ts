/**
 * The file service with pipes and many files: `tar c | upload -` and
 * `download --output - | tar x`, folders of many files, a batch killed and
 * run again, Ctrl-C, all through the real CLI over real sockets.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { encode } from "../lib/base/text.ts";
import { hasCommand, runInPty } from "./_helpers.ts";
import {
  cli,
  cliCommand,
  dirNames,
  LABEL,
  listing,
  MiB,
  outputOf,
  partNames,
  partPath,
  randomFile,
  RawClient,
  sh,
  sha256,
  spawnCli,
  startServer,
  tempDirs,
  treeDigests,
  waitForSize,
} from "./_files.ts";

Deno.test("files: tar c | upload - and download --output - | tar x give the same tree, byte for byte", async (t) => {
  if (!(await hasCommand("tar"))) {
    await t.step({ name: "skipped: tar is not installed", ignore: true, fn: () => {} });
    return;
  }
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const source = join(dirs.local, "src");
  await Deno.mkdir(join(source, "deep", "er"), { recursive: true });
  await randomFile(join(source, "a.bin"), 3 * MiB + 17);
  await randomFile(join(source, "deep", "b.bin"), 100_000);
  await Deno.writeTextFile(join(source, "deep", "er", "notes.txt"), "hello\n");
  const tarball = join(dirs.local, "expected.tar");
  equal((await sh(`tar c -C '${source}' . > '${tarball}'`)).code, 0);

  const up = await sh(
    `tar c -C '${source}' . | ${cliCommand(server, "upload", "- --name tree.tar --json")}`,
  );
  equal(up.code, 0, up.stderr);
  const summary = JSON.parse(up.stdout);
  equal(summary.path, "-");
  equal(summary.sha256, sha256(await Deno.readFile(tarball)), "the stored digest is tar's bytes");

  const out = join(dirs.local, "out");
  await Deno.mkdir(out);
  const down = await sh(
    `${cliCommand(server, "download", "tree.tar --output -")} | tar x -C '${out}'`,
  );
  equal(down.code, 0, down.stderr);
  match(down.stderr, /^Downloaded "tree\.tar" to standard output: 3\.1 MiB in /m);
  deepStrictEqual(await treeDigests(out), await treeDigests(source));

  // The raw bytes too: nothing but the file reaches stdout.
  const raw = await sh(`${cliCommand(server, "download", "tree.tar --output -")} | sha256sum`);
  equal(raw.stdout.split(" ")[0], summary.sha256);

  // /dev/stdin is standard input (Deno would want --allow-all to open it).
  const devStdin = await sh(
    `printf 'piped\\n' | ${cliCommand(server, "upload", "/dev/stdin --name piped.txt")}`,
  );
  equal(devStdin.code, 0, devStdin.stderr);
  match(devStdin.stdout, /^Uploaded standard input as "piped\.txt": 6 B in /);
  const unnamed = await sh(`printf x | ${cliCommand(server, "upload", "-")}`);
  equal(unnamed.code, 2);
  match(unnamed.stderr, /^error: Give the name on the server with --name/);
});

Deno.test("files: a streamed upload is held to --max-file-size while it streams; one cut short leaves nothing", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files, ["--max-file-size", "1MiB"]);
  const big = await sh(
    `head -c ${2 * MiB} /dev/zero | ${cliCommand(server, "upload", "- --name big.bin")}`,
  );
  equal(big.code, 1);
  match(big.stderr, /^error: "big\.bin" passed the server's limit of 1048576 bytes/);

  // The raw protocol: chunks, then "0", then the digest; a wrong digest keeps nothing.
  const port = server.port(LABEL);
  const hello = encode("hello world");
  {
    using raw = await RawClient.connect(port);
    equal(await raw.request("PUT - new chunked.txt"), "READY 0");
    await raw.send(new Uint8Array([...encode("5\n"), ...hello.subarray(0, 5)]));
    await raw.send(new Uint8Array([...encode("6\n"), ...hello.subarray(5)]));
    equal(await raw.request(`0\nSHA256 ${sha256(hello)}`), `OK ${sha256(hello)}`);
    equal(await raw.request("PUT - new wrong.txt"), "READY 0");
    await raw.send("5\nhello0\n");
    match((await raw.request(`SHA256 ${"0".repeat(64)}`))!, /^ERR verify-failed /);
  }
  {
    using raw = await RawClient.connect(port);
    equal(await raw.request("PUT - new bad.txt"), "READY 0");
    match((await raw.request("five"))!, /^ERR bad-request Expected a chunk length/);
  }

  // A client killed in mid-stream: nothing listed, nothing kept.
  const child = spawnCli(server, "upload", ["-", "--name", "cut.bin"], "piped");
  const writer = child.stdin.getWriter();
  await writer.write(new Uint8Array(512 * 1024));
  await waitForSize(partPath(dirs.files, "cut.bin"), 256 * 1024);
  child.kill("SIGKILL");
  await outputOf(child);
  await writer.close().catch(() => {});
  await server.waitFor(
    /Upload of "cut\.bin" from .* interrupted at byte \d+; a streamed upload cannot resume, so nothing was kept/,
  );
  deepStrictEqual((await listing(server)).files.map((file) => file.name), ["chunked.txt"]);
  deepStrictEqual(await partNames(dirs.files), []);
});

Deno.test("files: a folder of 200 small files and one 50 MB file goes up and comes back identical", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const album = join(dirs.local, "album");
  for (let i = 0; i < 200; i++) {
    const folder = join(album, `part${i % 4}`, i % 8 < 4 ? "" : "more");
    await Deno.mkdir(folder, { recursive: true });
    await Deno.writeFile(join(folder, `f${i}.dat`), crypto.getRandomValues(new Uint8Array(i * 7)));
  }
  await randomFile(join(album, "big.bin"), 50 * 1000 * 1000);
  await Deno.writeTextFile(join(album, ".hidden"), "left out");
  const expected = await treeDigests(album);
  expected.delete(".hidden");

  const up = await cli(server, "upload", album, "--json");
  equal(up.code, 0, up.stderr);
  equal(up.stderr, `Left out ${join(album, ".hidden")} (a hidden name)\n`);
  const summary = JSON.parse(up.stdout);
  equal(summary.count, 201);
  equal(summary.skipped, 0);
  equal(summary.size, 50 * 1000 * 1000 + 7 * 199 * 100);
  const listed = await listing(server);
  deepStrictEqual(
    new Map(listed.files.map((file) => [file.name, file.sha256])),
    new Map([...expected].map(([name, digest]) => [`album/${name}`, digest])),
  );
  const narrowed = await cli(server, "files", "--prefix", "album/part1/more", "--json");
  equal(JSON.parse(narrowed.stdout).files.length, 25);

  const back = join(dirs.root, "back");
  const down = await cli(server, "download", "album", "--output", back);
  equal(down.code, 0, down.stderr);
  match(down.stdout, /\nDownloaded 201 files, 47\.8 MiB: 47\.8 MiB received in [\d.]+ s/);
  equal(down.stdout.split("\n").filter((line) => line.startsWith('Downloaded "')).length, 201);
  deepStrictEqual(await treeDigests(join(back, "album")), expected);
});

Deno.test("files: a multi-file transfer killed and run again skips what is done and resumes the rest", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const batch = join(dirs.local, "batch");
  await Deno.mkdir(batch);
  for (const name of ["a", "b", "c", "d"]) await randomFile(join(batch, `${name}.bin`), MiB);
  const expected = await treeDigests(batch);

  // Upload at 2 MiB/s, killed once a and b are stored and c is under way.
  const up = spawnCli(server, "upload", [batch, "--limit-rate", "2M"]);
  await server.waitFor(/Stored "batch\/b\.bin"/);
  await waitForSize(partPath(dirs.files, "batch/c.bin"), 128 * 1024);
  up.kill("SIGKILL");
  await outputOf(up);
  await server.waitFor(/Upload of "batch\/c\.bin" from .* interrupted at byte \d+; kept/);
  const again = await cli(server, "upload", batch, "--json");
  equal(again.code, 0, again.stderr);
  const upSummary = JSON.parse(again.stdout);
  deepStrictEqual(upSummary.files.map((file: { skipped: boolean }) => file.skipped), [
    true,
    true,
    false,
    false,
  ]);
  ok(upSummary.files[2].resumedFrom >= 128 * 1024, "c resumed");
  equal(upSummary.files[3].resumedFrom, 0);
  equal(upSummary.transferred, 2 * MiB - upSummary.files[2].resumedFrom);
  deepStrictEqual(
    new Map((await listing(server)).files.map((file) => [file.name, file.sha256])),
    new Map([...expected].map(([name, digest]) => [`batch/${name}`, digest])),
  );

  // Download the same way.
  const back = join(dirs.root, "back");
  const down = spawnCli(server, "download", ["batch", "--output", back, "--limit-rate", "2M"]);
  await waitForSize(join(back, "batch", ".c.bin.socketkit-part"), 128 * 1024);
  down.kill("SIGKILL");
  await outputOf(down);
  const downAgain = await cli(server, "download", "batch", "--output", back);
  equal(downAgain.code, 0, downAgain.stderr);
  const lines = downAgain.stdout.trim().split("\n");
  match(lines[0]!, /^Skipped "batch\/a\.bin": .* is already the same file, SHA-256 /);
  match(lines[1]!, /^Skipped "batch\/b\.bin": /);
  match(
    lines[2]!,
    /^Downloaded "batch\/c\.bin" to .*: [\d.]+ KiB received in .*\(resumed at byte \d+; 1\.0 MiB in all\)/,
  );
  match(lines[3]!, /^Downloaded "batch\/d\.bin" to .*: 1\.0 MiB in /);
  match(
    lines[4]!,
    /^Downloaded 4 files, 4\.0 MiB: .* received in .*; 2 already there \(skipped\)$/,
  );
  deepStrictEqual(await treeDigests(join(back, "batch")), expected);
  deepStrictEqual(await dirNames(join(back, "batch")), ["a.bin", "b.bin", "c.bin", "d.bin"]);
});

Deno.test("files: Ctrl-C stops a transfer, says how to resume and exits 130; the re-run says what moved", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const source = join(dirs.local, "movie.bin");
  const bytes = await randomFile(source, 2 * MiB);

  const up = spawnCli(server, "upload", [source, "--limit-rate", "1M"]);
  await waitForSize(partPath(dirs.files, "movie.bin"), 256 * 1024);
  up.kill("SIGINT");
  const stopped = await outputOf(up);
  equal(stopped.code, 130);
  match(stopped.stderr, /^error: Interrupted; run the same command again to resume/m);
  await server.waitFor(/Upload of "movie\.bin" from .* interrupted at byte \d+; kept/);
  const resumed = await cli(server, "upload", source);
  equal(resumed.code, 0, resumed.stderr);
  match(
    resumed.stdout,
    /^Uploaded .*movie\.bin as "movie\.bin": [\d.]+ (KiB|MiB) sent in [\d.]+ s, .* \(resumed at byte \d+; 2\.0 MiB in all\), SHA-256 /,
  );
  ok(resumed.stdout.includes(sha256(bytes)));

  const output = join(dirs.root, "copy.bin");
  const down = spawnCli(server, "download", [
    "movie.bin",
    "--output",
    output,
    "--limit-rate",
    "1M",
  ]);
  await waitForSize(join(dirs.root, ".copy.bin.socketkit-part"), 256 * 1024);
  down.kill("SIGINT");
  const downStopped = await outputOf(down);
  equal(downStopped.code, 130);
  match(downStopped.stderr, /^error: Interrupted; run the same command again to resume/m);
  const downResumed = await cli(server, "download", "movie.bin", "--output", output);
  equal(downResumed.code, 0, downResumed.stderr);
  match(downResumed.stdout, / received in .*\(resumed at byte \d+; 2\.0 MiB in all\)/);
});

Deno.test("files: on a terminal, one progress display counts the whole command", async (t) => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const set = join(dirs.local, "set");
  await Deno.mkdir(set);
  for (const name of ["a", "b", "c"]) await randomFile(join(set, `${name}.bin`), 256 * 1024);
  const args = ["connect", "upload", set, "--limit-rate", "2M"];
  const result = await runInPty([...args, "--file-port", String(server.port(LABEL))], "");
  if (result === null) {
    await t.step({
      name: "skipped: python3 (for a pseudo-terminal) is missing",
      ignore: true,
      fn() {},
    });
    return;
  }
  equal(result.code, 0, result.output);
  match(result.output, /\[1\/3\] "set\/a\.bin" \[-+\] 0 B \/ 768\.0 KiB {3}0% /);
  match(result.output, /\[3\/3\] "set\/c\.bin" \[#{24}\] 768\.0 KiB \/ 768\.0 KiB 100% /);
  match(result.output, /Uploaded 3 files, 768\.0 KiB: 768\.0 KiB sent in /);
});
