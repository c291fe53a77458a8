/**
 * Managing the store over real sockets: delete and rename (off by default,
 * with a token only for authenticated clients, a download in progress
 * unharmed), names that look like other names, protocol edges, and a
 * --files-dir that cannot be used.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { encode } from "../lib/base/text.ts";
import { runCli } from "./_helpers.ts";
import { TOKEN, writeSecretFile } from "./_security.ts";
import {
  cli,
  LABEL,
  listing,
  MiB,
  outputOf,
  randomFile,
  RawClient,
  rawUpload,
  sha256,
  sha256File,
  spawnCli,
  startServer,
  tempDirs,
} from "./_files.ts";

Deno.test("files: delete and rename are refused unless --allow-delete", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const port = server.port(LABEL);
  equal(await rawUpload(port, "keep.txt", encode("keep")), `OK ${sha256(encode("keep"))}`);
  const refused = await cli(server, "delete", "keep.txt");
  equal(refused.code, 1);
  equal(
    refused.stderr,
    "error: Deleting and renaming are turned off on this server (serve --allow-delete turns them on)\n",
  );
  using raw = await RawClient.connect(port);
  match((await raw.request("MOVE keep.txt\tother.txt"))!, /^ERR forbidden Deleting and renaming/);
  match((await raw.request("DEL keep.txt"))!, /^ERR forbidden /);
  deepStrictEqual((await listing(server)).files.map((file) => file.name), ["keep.txt"]);
});

Deno.test("files: with a token, an authenticated client deletes and renames; folders follow", async () => {
  await using dirs = await tempDirs();
  const tokenFile = await writeSecretFile(dirs.root, "token", TOKEN);
  await using server = await startServer(dirs.files, [
    "--allow-delete",
    "--token-file",
    tokenFile,
  ]);
  const auth = ["--token-file", tokenFile];
  const source = join(dirs.local, "draft.txt");
  await Deno.writeTextFile(source, "draft");
  equal((await cli(server, "upload", source, ...auth)).code, 0);
  const renamed = await cli(server, "rename", "draft.txt", "archive/2024/final.txt", ...auth);
  equal(renamed.code, 0, renamed.stderr);
  equal(renamed.stdout, 'Renamed "draft.txt" to "archive/2024/final.txt"\n');
  const listed = await cli(server, "files", "--json", ...auth);
  deepStrictEqual(
    JSON.parse(listed.stdout).files.map((file: { name: string; sha256: string }) => [
      file.name,
      file.sha256,
    ]),
    [["archive/2024/final.txt", sha256(encode("draft"))]],
    "the digest moved with the file",
  );
  equal((await cli(server, "upload", source, ...auth)).code, 0);
  const clash = await cli(server, "rename", "draft.txt", "archive/2024/final.txt", ...auth);
  equal(clash.code, 1);
  equal(clash.stderr, 'error: "archive/2024/final.txt" already exists on the server\n');

  const deleted = await cli(server, "delete", "archive/2024/final.txt", "draft.txt", ...auth);
  equal(deleted.code, 0, deleted.stderr);
  equal(deleted.stdout, 'Deleted "archive/2024/final.txt"\nDeleted "draft.txt"\n');
  deepStrictEqual(await Array.fromAsync(Deno.readDir(dirs.files), (entry) => entry.name), [
    ".socketkit",
  ], "the emptied folders went too");
  const missing = await cli(server, "delete", "draft.txt", ...auth);
  equal(missing.code, 1);
  equal(missing.stderr, 'error: File "draft.txt" not found\n');
  const unauthenticated = await cli(server, "delete", "x");
  equal(unauthenticated.code, 1);
  match(unauthenticated.stderr, /token/i);
});

Deno.test("files: a file deleted during its download: the download finishes with the old bytes", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files, ["--allow-delete"]);
  const source = join(dirs.local, "movie.bin");
  const bytes = await randomFile(source, 4 * MiB);
  equal((await cli(server, "upload", source)).code, 0);
  const output = join(dirs.root, "movie.bin");
  const download = spawnCli(server, "download", [
    "movie.bin",
    "--output",
    output,
    "--limit-rate",
    "4M",
    "--json",
  ]);
  await server.waitFor(/Sending "movie\.bin"/);
  const deleted = await cli(server, "delete", "movie.bin");
  equal(deleted.code, 0, deleted.stderr);
  const result = await outputOf(download);
  equal(result.code, 0, result.stderr);
  equal(JSON.parse(result.stdout).sha256, sha256(bytes));
  equal(await sha256File(output), sha256(bytes));
  equal((await listing(server)).files.length, 0);
});

Deno.test("files: names that look like other names are refused; two spellings of one name are one", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const port = server.port(LABEL);
  using raw = await RawClient.connect(port);
  for (
    const name of [
      "re\u200bport.pdf", // zero-width space
      "\ufeffreport.pdf", // byte order mark
      "report\u00a0.pdf", // no-break space
      "report.pdf\u00ad", // soft hyphen
      "re\u2060port.pdf", // word joiner
      "report\u{e0041}.pdf", // tag character
      " report.pdf",
      "report.pdf ",
      "dir /report.pdf",
    ]
  ) {
    match(
      (await raw.request(`PUT 3 new ${name}`))!,
      /^ERR bad-name Name ".*" refused: it (contains the invisible or space-like character \\u([0-9a-f]{4}|\{[0-9a-f]+\})|starts or ends with a space)/,
      JSON.stringify(name),
    );
  }
  // "é" as one code point and as e + combining accent: one name.
  const data = encode("abc");
  equal(await rawUpload(port, "cafe\u0301.txt", data), `OK ${sha256(data)}`);
  match((await raw.request("STAT caf\u00e9.txt"))!, /^OK 3 /);
  match((await raw.request("PUT 3 new caf\u00e9.txt"))!, /^ERR exists /);
  deepStrictEqual((await listing(server)).files.map((file) => file.name), ["caf\u00e9.txt"]);
  // One copied in by hand with an invisible character is never listed or served.
  await Deno.writeTextFile(join(dirs.files, "re\u200bport.pdf"), "x");
  equal(await raw.request("LIST"), "OK 1");
  match((await raw.line())!, /caf\u00e9\.txt$/);
  // The client refuses before connecting, and shows the character escaped.
  const client = await cli(server, "upload", join(dirs.local, "x"), "--name", "a\u200bb");
  equal(client.code, 1);
  equal(
    client.stderr,
    'error: Name "a\\u200bb" refused: it contains the invisible or space-like character \\u200b\n',
  );
});

Deno.test("files: a PUT followed by over 1,024 bytes without a newline gets an ERR line, nothing logged as an error", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  using raw = await RawClient.connect(server.port(LABEL));
  equal(await raw.request("PUT 5 new excess.txt"), "READY 0");
  await raw.send("hello" + "x".repeat(2000));
  equal(
    await raw.line(),
    'ERR bad-request After the bytes of "excess.txt", the "SHA256 <hex>" line is over 1024 bytes without a newline',
  );
  equal(await raw.line(), null);
  await server.waitFor(/Upload of "excess\.txt" from .* refused: /);
  equal((await listing(server)).files.length, 0);
  ok(!server.lines.some((line) => /Error with/.test(line)), server.lines.join("\n"));
});

Deno.test("files: a --files-dir that is a file is a sentence, exit 1", async () => {
  await using dirs = await tempDirs();
  const file = join(dirs.root, "passwd");
  await Deno.writeTextFile(file, "root:x:0:0\n");
  const result = await runCli([
    "serve",
    "--services",
    "files",
    "--file-port",
    "0",
    "--files-dir",
    file,
  ]);
  equal(result.code, 1);
  equal(
    result.stderr,
    `error: Cannot use files directory "${file}": it (or a folder on its path) is a file, not a directory\n`,
  );
});

Deno.test("files: delete, rename and files --prefix have their own --help; rate flags explain themselves", async () => {
  const [del, rename, files] = await Promise.all([
    runCli(["connect", "delete", "--help"]),
    runCli(["connect", "rename", "--help"]),
    runCli(["connect", "files", "--help"]),
  ]);
  for (const result of [del, rename, files]) equal(result.code, 0);
  match(del.stdout, /Usage: socketkit connect delete NAME\.\.\./);
  match(rename.stdout, /Usage: socketkit connect rename OLD NEW/);
  match(files.stdout, /--prefix FOLDER/);
  const missing = await runCli(["connect", "rename", "a"]);
  equal(missing.code, 2);
  match(missing.stderr, /^error: Expected OLD and NEW names\n/);
  const rate = await runCli(["connect", "upload", "x", "--limit-rate", "fast"]);
  equal(rate.code, 2);
  match(
    rate.stderr,
    /^error: Invalid value "fast" for --limit-rate: expected bytes per second, like 500K, 10M or 10M\/s/,
  );
  const floor = await runCli(["serve", "--max-rate-per-conn", "100", "--services", "files"]);
  equal(floor.code, 2);
  match(floor.stderr, /^error: --max-rate-per-conn 100 is below --min-rate 1K/);
});

Deno.test("files: an upload's STAT probe for a new name is not logged as a refusal; a download's miss is", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const source = join(dirs.local, "fresh.txt");
  await Deno.writeTextFile(source, "new\n");
  const up = await cli(server, "upload", source);
  equal(up.code, 0, up.stderr);
  await server.waitFor(/disconnected/);
  const missing = await cli(server, "download", "absent.txt", "--output", join(dirs.local, "a"));
  equal(missing.code, 1);
  await server.waitFor(/Refused [A-Z]+ "absent\.txt"/);
  deepStrictEqual(server.lines.filter((line) => line.includes("Refused STAT")), []);
});
