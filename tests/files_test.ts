import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { encode } from "../lib/base/text.ts";
import { MAIN, runCli } from "./_helpers.ts";
import {
  cli,
  cliListing,
  dirNames,
  exists,
  LABEL,
  listing,
  MiB,
  randomFile,
  RawClient,
  rawUpload,
  sha256,
  sha256File,
  smallTmpfs,
  spawnServer,
  stallingProxy,
  startServer,
  tempDirs,
  waitForSize,
} from "./_files.ts";

// ---- tests ----

Deno.test("files: upload, list and download round trip with identical SHA-256 and --json", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const source = join(dirs.local, "data one.bin");
  const bytes = await randomFile(source, 3 * MiB + 123);
  const digest = sha256(bytes);

  const up = await cli(server, "upload", source, "--json");
  equal(up.code, 0, up.stderr);
  const upSummary = JSON.parse(up.stdout.trim());
  equal(upSummary.action, "upload");
  equal(upSummary.name, "data one.bin");
  equal(upSummary.size, bytes.length);
  equal(upSummary.sha256, digest);
  equal(upSummary.resumedFrom, 0);
  equal(up.stdout.trim().split("\n").length, 1);

  const list = await cliListing(server);
  equal(list.files.length, 1);
  const [entry] = list.files;
  equal(entry!.name, "data one.bin");
  equal(entry!.size, bytes.length);
  equal(entry!.sha256, digest);
  ok(Math.abs(Date.parse(entry!.modified) - Date.now()) < 60_000);
  deepStrictEqual(await dirNames(dirs.files), [".socketkit", "data one.bin"]);

  const output = join(dirs.local, "copy.bin");
  const down = await cli(server, "download", "data one.bin", "--output", output);
  equal(down.code, 0, down.stderr);
  match(
    down.stdout,
    /^Downloaded "data one\.bin" to .*copy\.bin: 3\.0 MiB in [\d.]+ s, .*SHA-256 [0-9a-f]{64}\n$/,
  );
  ok(down.stdout.includes(digest));
  equal(await sha256File(output), digest);
  deepStrictEqual(await dirNames(dirs.local), ["copy.bin", "data one.bin"], "no partial left");

  // An identical output file is skipped; a different one is not replaced
  // silently; a directory receives NAME.
  const again = await cli(server, "download", "data one.bin", "--output", output);
  equal(again.code, 0, again.stderr);
  match(again.stdout, /^Skipped "data one\.bin": .*copy\.bin is already the same file, SHA-256/);
  await Deno.writeTextFile(output, "changed");
  const differs = await cli(server, "download", "data one.bin", "--output", output);
  equal(differs.code, 1);
  match(differs.stderr, /already exists \(use --force/);
  equal(await Deno.readTextFile(output), "changed");
  const intoDir = await cli(server, "download", "data one.bin", "--output", dirs.root, "--json");
  equal(intoDir.code, 0, intoDir.stderr);
  equal(JSON.parse(intoDir.stdout).sha256, digest);
  equal(await sha256File(join(dirs.root, "data one.bin")), digest);

  const human = await cli(server, "files");
  equal(human.code, 0);
  match(
    human.stdout,
    new RegExp(
      `^data one\\.bin +3\\.0 MiB  .*  ${digest.slice(0, 12)}\\n1 file, 3\\.0 MiB\\n$`,
      "m",
    ),
  );
});

Deno.test("files: a stored copy damaged on the server's disk fails the download's verification", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const source = join(dirs.local, "precious.bin");
  const bytes = await randomFile(source, 2 * MiB);
  equal((await cli(server, "upload", source)).code, 0);

  // Flip one byte in place and restore the mtime: size and time still match
  // the recorded digest, so only verifying the bytes can notice.
  const stored = join(dirs.files, "precious.bin");
  const { mtime } = await Deno.stat(stored);
  const file = await Deno.open(stored, { write: true });
  try {
    await file.seek(MiB, Deno.SeekMode.Start);
    await file.write(new Uint8Array([bytes[MiB]! ^ 0xff]));
  } finally {
    file.close();
  }
  await Deno.utime(stored, mtime!, mtime!);

  const output = join(dirs.local, "copy.bin");
  const down = await cli(server, "download", "precious.bin", "--output", output);
  equal(down.code, 1);
  match(down.stderr, /^error: .*(SHA-256|verif)/i);
  deepStrictEqual(await dirNames(dirs.local), ["precious.bin"], "nothing kept of the bad copy");
});

Deno.test("files: a missing file is one error line, exit 1, and no output file", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const output = join(dirs.local, "nope.txt");
  const result = await cli(server, "download", "nope.txt", "--output", output);
  equal(result.code, 1);
  equal(result.stderr, 'error: File "nope.txt" not found\n');
  equal(result.stdout, "");
  deepStrictEqual(await dirNames(dirs.local), []);

  const missingLocal = await cli(server, "upload", join(dirs.local, "absent.bin"));
  equal(missingLocal.code, 1);
  match(missingLocal.stderr, /^error: Cannot read ".*absent\.bin": no such file\n$/);

  const refused = await runCli(["connect", "files", "--file-port", "1"]);
  equal(refused.code, 1);
  match(refused.stderr, /^error: Cannot connect to 127\.0\.0\.1:1 \(connection refused\)/);
});

Deno.test("files: refused names over the raw protocol and the CLI, and symlinks out of the directory", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const port = server.port(LABEL);
  const outside = join(dirs.root, "secret.txt");
  await Deno.writeTextFile(outside, "outside the files directory");
  await Deno.symlink(outside, join(dirs.files, "link.txt"));
  await Deno.symlink(dirs.root, join(dirs.files, "dirlink"));

  using raw = await RawClient.connect(port);
  const bad: (string | Uint8Array)[] = [
    "/abs",
    "a//b",
    "a/",
    "../secret.txt",
    "..",
    ".",
    ".hidden",
    "a\\b",
    "x..y",
    "x".repeat(256),
    "é".repeat(128), // 256 bytes
    "tab\there",
    "bell\x07",
    "del\x7f",
    "nul\0byte",
    new Uint8Array([0x61, 0xff, 0xfe, 0x62]), // not UTF-8
  ];
  for (const name of bad) {
    const nameBytes = typeof name === "string" ? encode(name) : name;
    for (const prefix of ["GET 0 ", "STAT ", "PUT 5 new ", "PUT 5 force "]) {
      const line = new Uint8Array([...encode(prefix), ...nameBytes, 0x0a]);
      const reply = await raw.request(line);
      match(reply ?? "", /^ERR bad-name Name ".*" refused: /, `${prefix}${name}`);
    }
  }
  equal(await raw.request("GET 0 "), 'ERR bad-name Name "" refused: the name is empty');

  // Symlinks: never listed, never read, never written through.
  for (
    const request of ["GET 0 link.txt", "STAT link.txt", "GET 0 dirlink", "PUT 3 new link.txt"]
  ) {
    match((await raw.request(request)) ?? "", /^ERR (not-regular|exists) /, request);
  }
  match((await raw.request("PUT 3 force link.txt")) ?? "", /^ERR not-regular /);
  // A symlinked folder is never entered: not to read, list or write through.
  match((await raw.request("GET 0 dirlink/secret.txt")) ?? "", /^ERR not-found /);
  match((await raw.request("STAT dirlink/secret.txt")) ?? "", /^ERR not-found /);
  match((await raw.request("LIST dirlink")) ?? "", /^ERR not-found No folder "dirlink"/);
  match(
    (await raw.request("PUT 3 new dirlink/new.txt")) ?? "",
    /^ERR not-regular "dirlink" is a symlink, so "dirlink\/new\.txt" cannot be stored under it/,
  );
  equal(await Deno.readTextFile(outside), "outside the files directory");
  ok(!(await exists(join(dirs.root, "new.txt"))));
  equal(await raw.request("LIST"), "OK 0");

  // The longest allowed name works.
  const longest = "é".repeat(127) + "x"; // 255 bytes
  equal(await rawUpload(port, longest, encode("hello")), `OK ${sha256(encode("hello"))}`);

  const viaCli = await cli(server, "upload", outside, "--name", "../escape.txt");
  equal(viaCli.code, 1);
  equal(
    viaCli.stderr,
    'error: Name "../escape.txt" refused: it contains ".."\n',
  );
  const dotted = await cli(server, "download", ".socketkit", "--output", join(dirs.local, "x"));
  equal(dotted.code, 1);
  match(dotted.stderr, /refused: it starts with "\."/);
  ok(!(await exists(join(dirs.root, "escape.txt"))));
});

Deno.test("files: protocol errors get ERR lines and the server stays healthy", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files, ["--max-file-size", "1MiB"]);
  const port = server.port(LABEL);
  using raw = await RawClient.connect(port);
  match((await raw.request("HELLO")) ?? "", /^ERR bad-request Unknown command "HELLO"/);
  match((await raw.request("GET x y")) ?? "", /^ERR bad-request Expected GET <offset> <name>/);
  match((await raw.request("PUT 10 maybe y")) ?? "", /^ERR bad-request Expected PUT/);
  match(
    (await raw.request("PUT 1048577 new big")) ?? "",
    /^ERR too-large "big" is 1048577 bytes, over the server's limit of 1048576 bytes/,
  );
  equal(await rawUpload(port, "small", encode("abc")), `OK ${sha256(encode("abc"))}`);
  match((await raw.request("GET 4 small")) ?? "", /^ERR bad-offset /);
  match(
    (await raw.request("STAT small")) ?? "",
    new RegExp(`^OK 3 \\d+ ${sha256(encode("abc"))}$`),
  );

  // Resumed download over the raw protocol: bytes from the offset, digest of the whole file.
  match((await raw.request("get 1 small")) ?? "", /^OK 3 /);
  deepStrictEqual(await raw.bytes(2), encode("bc"));
  equal(await raw.line(), `SHA256 ${sha256(encode("abc"))}`);

  // A wrong digest: refused, nothing kept.
  using bad = await RawClient.connect(port);
  equal(await bad.request("PUT 3 new wrong"), "READY 0");
  await bad.send("xyz");
  match(
    (await bad.request(`SHA256 ${"0".repeat(64)}`)) ?? "",
    /^ERR verify-failed SHA-256 mismatch for "wrong"/,
  );
  deepStrictEqual(await dirNames(join(dirs.files, ".socketkit", "parts")), []);

  // An over-long request line closes that connection only.
  using long = await RawClient.connect(port);
  match(
    (await long.request("GET 0 " + "x".repeat(5000))) ?? "",
    /^ERR bad-request Request line is over 1024 bytes without a newline/,
  );
  equal(await long.line(), null);
  equal(await raw.request("LIST"), "OK 1");
  match((await raw.line()) ?? "", new RegExp(`^3 \\d+ ${sha256(encode("abc"))} small$`));
});

Deno.test("files: an existing name is refused unless --force, which replaces it", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const first = join(dirs.local, "first");
  const second = join(dirs.local, "second");
  await randomFile(first, 200_000);
  const secondBytes = await randomFile(second, 300_000);

  equal((await cli(server, "upload", first, "--name", "doc")).code, 0);
  const refused = await cli(server, "upload", second, "--name", "doc");
  equal(refused.code, 1);
  equal(refused.stderr, 'error: "doc" already exists on the server (use --force to replace it)\n');
  const forced = await cli(server, "upload", second, "--name", "doc", "--force", "--json");
  equal(forced.code, 0, forced.stderr);
  const list = await listing(server);
  deepStrictEqual(list.files.map((file) => [file.name, file.size, file.sha256]), [
    ["doc", 300_000, sha256(secondBytes)],
  ]);
  equal(await server.waitFor(/Stored "doc" \(300000 bytes\)/) !== "", true);
});

Deno.test("files: a client killed mid-upload leaves nothing listed; the upload then resumes", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const port = server.port(LABEL);
  const source = join(dirs.local, "movie.bin");
  const bytes = await randomFile(source, 4 * MiB);

  // A slow raw client: sends the first MiB, then dies.
  {
    using raw = await RawClient.connect(port);
    equal(await raw.request(`PUT ${bytes.length} new movie.bin`), "READY 0");
    await raw.send(bytes.subarray(0, MiB));
  }
  await server.waitFor(
    /Upload of "movie\.bin" from .* interrupted at byte 1048576; kept for resuming/,
  );
  equal((await listing(server)).files.length, 0, "nothing under the real name");
  deepStrictEqual(await dirNames(dirs.files), [".socketkit"]);

  // Healthy: another upload goes through meanwhile.
  equal(await rawUpload(port, "other", encode("other")), `OK ${sha256(encode("other"))}`);

  const resumed = await cli(server, "upload", source, "--json");
  equal(resumed.code, 0, resumed.stderr);
  equal(resumed.stderr, 'Resuming upload of "movie.bin" at byte 1048576 (1.0 MiB, 25%)\n');
  const summary = JSON.parse(resumed.stdout);
  equal(summary.resumedFrom, MiB);
  equal(summary.transferred, 3 * MiB);
  equal(summary.sha256, sha256(bytes));
  const list = await listing(server);
  deepStrictEqual(list.files.map((file) => [file.name, file.sha256]), [
    ["movie.bin", sha256(bytes)],
    ["other", sha256(encode("other"))],
  ]);
  deepStrictEqual(await dirNames(join(dirs.files, ".socketkit", "parts")), []);
});

Deno.test("files: a resumed upload whose server-side prefix differs starts over and verifies", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const port = server.port(LABEL);
  const source = join(dirs.local, "a.bin");
  const bytes = await randomFile(source, 2 * MiB);
  {
    using raw = await RawClient.connect(port);
    equal(await raw.request(`PUT ${bytes.length} new a.bin`), "READY 0");
    await raw.send(new Uint8Array(MiB)); // zeros: not the file's first MiB
  }
  await server.waitFor(/interrupted at byte 1048576/);
  const result = await cli(server, "upload", source);
  equal(result.code, 0, result.stderr);
  match(result.stderr, /Resuming upload of "a\.bin" at byte 1048576/);
  match(result.stderr, /did not match; uploading from the start/);
  equal((await listing(server)).files[0]!.sha256, sha256(bytes));
});

Deno.test("files: a server killed mid-upload shows no file after restart; the upload resumes", async () => {
  await using dirs = await tempDirs();
  const source = join(dirs.local, "big.bin");
  const bytes = await randomFile(source, 3 * MiB);
  {
    // A process of its own: a SIGKILL.
    await using first = await spawnServer(dirs.files);
    using raw = await RawClient.connect(first.port(LABEL));
    equal(await raw.request(`PUT ${bytes.length} new big.bin`), "READY 0");
    await raw.send(bytes.subarray(0, 2 * MiB));
    const parts = join(dirs.files, ".socketkit", "parts");
    const part = (await dirNames(parts)).find((name) => !name.includes("."))!;
    await waitForSize(join(parts, part), 2 * MiB);
    await first.stop("SIGKILL");
  }
  await using second = await startServer(dirs.files);
  equal((await listing(second)).files.length, 0);
  const resumed = await cli(second, "upload", source, "--json");
  equal(resumed.code, 0, resumed.stderr);
  equal(JSON.parse(resumed.stdout).resumedFrom, 2 * MiB);
  equal((await listing(second)).files[0]!.sha256, sha256(bytes));
});

Deno.test("files: a server started on a folder that already holds files and a part lists them", async () => {
  await using dirs = await tempDirs();
  const bytes = new TextEncoder().encode("copied in by hand\n");
  {
    // Processes of their own, so nothing a test before loaded is loaded here.
    await using first = await spawnServer(dirs.files);
    equal(await rawUpload(first.port(LABEL), "kept.txt", bytes), `OK ${sha256(bytes)}`);
    using raw = await RawClient.connect(first.port(LABEL));
    equal(await raw.request(`PUT 100 new half.bin`), "READY 0");
    await raw.send(new Uint8Array(10));
  }
  await Deno.writeFile(join(dirs.files, "hand.txt"), bytes);
  await using second = await spawnServer(dirs.files);
  const names = (await listing(second)).files.map((file) => `${file.name} ${file.sha256}`);
  // A file copied in by hand has no digest until it is downloaded.
  deepStrictEqual(names.sort(), ["hand.txt null", `kept.txt ${sha256(bytes)}`]);
});

Deno.test("files: a download killed mid-transfer resumes from the bytes on disk", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const bytes = crypto.getRandomValues(new Uint8Array(65536)).slice();
  const content = new Uint8Array(4 * MiB);
  for (let i = 0; i < content.length; i += bytes.length) content.set(bytes, i);
  content[0] = 1; // not periodic from the start
  equal(await rawUpload(server.port(LABEL), "movie.bin", content), `OK ${sha256(content)}`);
  const header = `OK ${content.length} `;
  const stat = await (async () => {
    using raw = await RawClient.connect(server.port(LABEL));
    return (await raw.request("STAT movie.bin"))!;
  })();
  const headerLength = encode(stat).length + 1;
  ok(stat.startsWith(header));

  const output = join(dirs.local, "movie.bin");
  const partial = join(dirs.local, ".movie.bin.socketkit-part");
  {
    // The client asks STAT, then GET: both replies start with the same line.
    await using proxy = stallingProxy(server.port(LABEL), 2 * headerLength + MiB + 5);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "connect",
        "download",
        "movie.bin",
        "--output",
        output,
        "--file-port",
        String(proxy.port),
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await proxy.forwarded;
      await waitForSize(partial, MiB + 5);
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
  }
  ok(!(await exists(output)), "no file under the real name");
  equal((await Deno.stat(partial)).size, MiB + 5);

  const resumed = await cli(server, "download", "movie.bin", "--output", output, "--json");
  equal(resumed.code, 0, resumed.stderr);
  equal(resumed.stderr, `Resuming download of "movie.bin" at byte ${MiB + 5} (1.0 MiB, 25%)\n`);
  const summary = JSON.parse(resumed.stdout);
  equal(summary.resumedFrom, MiB + 5);
  equal(summary.sha256, sha256(content));
  equal(await sha256File(output), sha256(content));
  deepStrictEqual(await dirNames(dirs.local), ["movie.bin"]);
});

Deno.test("files: four concurrent transfers all verify", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const port = server.port(LABEL);
  const sources: Uint8Array[] = [];
  for (let i = 0; i < 4; i++) {
    sources.push(await randomFile(join(dirs.local, `f${i}`), 2 * MiB + i));
  }
  equal(await rawUpload(port, "f2", sources[2]!), `OK ${sha256(sources[2]!)}`);
  equal(await rawUpload(port, "f3", sources[3]!), `OK ${sha256(sources[3]!)}`);
  const results = await Promise.all([
    cli(server, "upload", join(dirs.local, "f0"), "--json"),
    cli(server, "upload", join(dirs.local, "f1"), "--json"),
    cli(server, "download", "f2", "--output", join(dirs.root, "f2"), "--json"),
    cli(server, "download", "f3", "--output", join(dirs.root, "f3"), "--json"),
  ]);
  for (const [i, result] of results.entries()) {
    equal(result.code, 0, result.stderr);
    equal(JSON.parse(result.stdout).sha256, sha256(sources[i]!));
  }
  equal(await sha256File(join(dirs.root, "f2")), sha256(sources[2]!));
  equal(await sha256File(join(dirs.root, "f3")), sha256(sources[3]!));
  deepStrictEqual(
    (await listing(server)).files.map((file) => file.sha256),
    sources.map(sha256),
  );
});

Deno.test("files: two uploads of one name at once: one wins, the other gets a clear error", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const port = server.port(LABEL);
  const winner = crypto.getRandomValues(new Uint8Array(60_000));
  using a = await RawClient.connect(port);
  using b = await RawClient.connect(port);
  equal(await a.request(`PUT ${winner.length} new same`), "READY 0");
  await a.send(winner.subarray(0, 30_000));
  equal(
    await b.request("PUT 10 force same"),
    'ERR busy "same" is being uploaded or moved by another client; try again when it is done',
  );
  await a.send(winner.subarray(30_000));
  equal(await a.request(`SHA256 ${sha256(winner)}`), `OK ${sha256(winner)}`);
  match((await b.request("PUT 10 new same")) ?? "", /^ERR exists "same" already exists/);
  const list = await listing(server);
  deepStrictEqual(list.files.map((file) => [file.name, file.sha256]), [["same", sha256(winner)]]);

  // The CLI's view of the same race (other bytes: identical ones are skipped).
  const local = join(dirs.local, "same");
  await Deno.writeFile(local, winner.subarray(1));
  using c = await RawClient.connect(port);
  equal(await c.request(`PUT 5 force same`), "READY 0");
  const loser = await cli(server, "upload", local, "--force");
  equal(loser.code, 1);
  equal(
    loser.stderr,
    'error: "same" is being uploaded or moved by another client; try again when it is done\n',
  );
});

Deno.test("files: two servers sharing one --files-dir: one upload of a name at a time, one winner, a whole file", async () => {
  await using dirs = await tempDirs();
  await using a = await startServer(dirs.files);
  await using b = await startServer(dirs.files);
  const winner = crypto.getRandomValues(new Uint8Array(60_000));
  using first = await RawClient.connect(a.port(LABEL));
  using second = await RawClient.connect(b.port(LABEL));
  equal(await first.request(`PUT ${winner.length} new same`), "READY 0");
  await first.send(winner.subarray(0, 30_000));
  // The name's lock is the part file's flock: it holds across processes.
  equal(
    await second.request("PUT 10 force same"),
    'ERR busy "same" is being uploaded by another client; try again when it is done',
  );
  await first.send(winner.subarray(30_000));
  equal(await first.request(`SHA256 ${sha256(winner)}`), `OK ${sha256(winner)}`);
  match((await second.request("PUT 10 new same")) ?? "", /^ERR exists "same" already exists/);

  // Both CLIs at once, one through each server: exactly one stores its file, whole.
  const files = await Promise.all(["x", "y"].map(async (tag) => {
    const path = join(dirs.local, tag);
    return { path, sha: sha256(await randomFile(path, 2 * MiB)) };
  }));
  const results = await Promise.all([
    runCli([
      "connect",
      "upload",
      files[0]!.path,
      "--name",
      "race",
      "--file-port",
      String(a.port(LABEL)),
    ]),
    runCli([
      "connect",
      "upload",
      files[1]!.path,
      "--name",
      "race",
      "--file-port",
      String(b.port(LABEL)),
    ]),
  ]);
  deepStrictEqual(results.map((r) => r.code).sort(), [0, 1], results.map((r) => r.stderr).join(""));
  const loser = results.find((r) => r.code === 1)!;
  match(
    loser.stderr,
    /^error: "race" (already exists on the server|is being uploaded by another client)/,
  );
  const stored = await sha256File(join(dirs.files, "race"));
  equal(stored, files[results.findIndex((r) => r.code === 0)]!.sha);
  for (const server of [a, b]) {
    const list = await listing(server);
    deepStrictEqual(list.files.find((file) => file.name === "race")?.sha256, stored);
  }
});

Deno.test("files: size and transfer limits refuse cleanly and leave nothing behind", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files, [
    "--max-file-size",
    "1MiB",
    "--max-transfers",
    "1",
  ]);
  const port = server.port(LABEL);
  const big = join(dirs.local, "big");
  await randomFile(big, MiB + 1);
  const result = await cli(server, "upload", big);
  equal(result.code, 1);
  equal(
    result.stderr,
    `error: "big" is ${MiB + 1} bytes, over the server's limit of ${MiB} bytes (--max-file-size)\n`,
  );
  deepStrictEqual(await dirNames(dirs.files), [".socketkit"]);
  deepStrictEqual(await dirNames(join(dirs.files, ".socketkit", "parts")), []);

  using holder = await RawClient.connect(port);
  equal(await holder.request("PUT 10 new slow"), "READY 0");
  using other = await RawClient.connect(port);
  match((await other.request("GET 0 slow")) ?? "", /^ERR busy The server is running 1 transfers/);
  equal(await other.request("LIST"), "OK 0", "listing is not a transfer");
  await holder.send("0123456789");
  equal(
    await holder.request(`SHA256 ${sha256(encode("0123456789"))}`),
    `OK ${sha256(encode("0123456789"))}`,
  );
  equal(await other.request("PUT 3 new x"), "READY 0");
  using third = await RawClient.connect(port);
  match(
    (await third.request("GET 0 slow")) ?? "",
    /^ERR busy The server is running 1 transfers \(--max-transfers\)/,
  );
});

Deno.test("files: a full disk is a clear error and leaves nothing behind (tmpfs; needs root)", async (t) => {
  await using dirs = await tempDirs();
  await Deno.mkdir(dirs.files);
  await using disk = await smallTmpfs(dirs.files, "2m");
  if (disk === null) {
    await t.step({ name: "skipped: cannot mount a small tmpfs here", ignore: true, fn: () => {} });
    return;
  }
  await using server = await startServer(dirs.files);
  const source = join(dirs.local, "too-big.bin");
  await randomFile(source, 3 * MiB);
  const result = await cli(server, "upload", source);
  equal(result.code, 1);
  equal(result.stderr, `error: The server's disk is full; "too-big.bin" was not stored\n`);
  deepStrictEqual(await dirNames(dirs.files), [".socketkit"]);
  deepStrictEqual(await dirNames(join(dirs.files, ".socketkit", "parts")), []);
  equal((await listing(server)).files.length, 0);
  const small = join(dirs.local, "small.bin");
  await randomFile(small, 100_000);
  equal((await cli(server, "upload", small)).code, 0, "healthy afterwards");
});

Deno.test("files: each client mode has its own --help", async () => {
  const [upload, download, files] = await Promise.all([
    runCli(["connect", "upload", "--help"]),
    runCli(["connect", "download", "--help"]),
    runCli(["connect", "files", "--help"]),
  ]);
  for (const result of [upload, download, files]) equal(result.code, 0);
  match(
    upload.stdout,
    /Usage: socketkit connect upload PATH\.\.\. .*\n[\s\S]*--force[\s\S]*--file-port PORT/,
  );
  match(download.stdout, /Usage: socketkit connect download NAME\.\.\. [\s\S]*--output PATH/);
  match(files.stdout, /Usage: socketkit connect files [\s\S]*--json/);
  const missing = await runCli(["connect", "upload"]);
  equal(missing.code, 2);
  match(missing.stderr, /^error: Missing the PATH to upload \(- for standard input\)\n/);
});
