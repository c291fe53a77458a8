/**
 * The file client as a person reads it: `connect files` at 80 columns
 * (name first, a short digest), and `connect delete FOLDER`.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { formatListing, LAYOUT_SAMPLE, ListingWriter } from "../lib/files/client/listing.ts";
import { hasCommand, runInPtySteps } from "./_helpers.ts";
import { cli, LABEL, listing, randomFile, sha256, startServer, tempDirs } from "./_files.ts";

const LONG_NAME = "photos/2024/holidays/a-rather-long-name-for-a-photo-of-the-beach-at-noon.jpg";

Deno.test("files: the listing fits 80 columns, the name first and a short digest; --long and --json give it whole", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const source = join(dirs.local, "notes.txt");
  const digest = sha256(await randomFile(source, 1500));
  equal((await cli(server, "upload", source)).code, 0);
  equal((await cli(server, "upload", source, "--name", LONG_NAME)).code, 0);

  const short = await cli(server, "files");
  equal(short.code, 0, short.stderr);
  const lines = short.stdout.trimEnd().split("\n");
  deepStrictEqual(lines.filter((line) => line.length > 80), []);
  match(lines[0]!, /^NAME +SIZE {2}MODIFIED \(UTC\) {4}SHA-256$/);
  match(
    short.stdout,
    new RegExp(
      `^notes\\.txt +1\\.5 KiB  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d  ${digest.slice(0, 12)}$`,
      "m",
    ),
  );
  ok(!short.stdout.includes(digest), "the whole digest only with --long");
  // A name too long for its column has a line of its own; sizes stay aligned.
  match(short.stdout, new RegExp(`^${LONG_NAME}\\n +1\\.5 KiB  `, "m"));
  equal(lines.at(-1), "2 files, 2.9 KiB");

  const long = await cli(server, "files", "--long");
  equal(long.code, 0, long.stderr);
  match(
    long.stdout,
    new RegExp(`^notes\\.txt +1500  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  ${digest}$`, "m"),
  );
  deepStrictEqual((await listing(server)).files.map((file) => file.sha256), [digest, digest]);
});

Deno.test("files: the listing's layout, at any width", () => {
  const files = [
    { name: "b.txt", size: 3, mtimeMs: Date.UTC(2026, 0, 2, 3, 4, 5), sha256: "ab".repeat(32) },
    { name: "unknown", size: 5 * 1024 ** 3, mtimeMs: 0, sha256: null },
  ];
  equal(
    formatListing(files, "h:1", null),
    [
      "NAME        SIZE  MODIFIED (UTC)    SHA-256",
      "b.txt        3 B  2026-01-02 03:04  abababababab",
      "unknown  5.0 GiB  1970-01-01 00:00  -",
      "2 files, 5.0 GiB",
    ].join("\n"),
  );
  equal(formatListing([], "h:1", "photos"), 'No files in "photos" on h:1');
  match(
    formatListing(files, "h:1", null, { long: true }),
    /^b\.txt {13}3 {2}2026-01-02 03:04:05 {2}(ab){32}$/m,
  );
  match(formatListing(files, "h:1", null, { columns: 40 }), /^b\.txt\n +3 B {2}2026/m);
});

Deno.test("files: delete FOLDER deletes everything in it with --yes, and without a terminal refuses to guess", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files, ["--allow-delete"]);
  const source = join(dirs.local, "a.txt");
  await randomFile(source, 10);
  for (const name of ["photos/a.jpg", "photos/2024/b.jpg", "keep.txt"]) {
    equal((await cli(server, "upload", source, "--name", name)).code, 0);
  }
  const refused = await cli(server, "delete", "photos");
  equal(refused.code, 2);
  match(
    refused.stderr,
    /^error: "photos" is a folder: add --yes to delete the folder "photos" and its 2 files, 20 B \(there is no terminal to ask on\)\n/,
  );
  equal((await listing(server)).files.length, 3);

  const deleted = await cli(server, "delete", "photos", "--yes");
  equal(deleted.code, 0, deleted.stderr);
  equal(deleted.stdout, 'Deleted the folder "photos": 2 files, 20 B\n');
  deepStrictEqual((await listing(server)).files.map((file) => file.name), ["keep.txt"]);
  await server.waitFor(/Deleted "photos\/2024\/b\.jpg"/);

  equal((await cli(server, "upload", source, "--name", "old/x.txt")).code, 0);
  const json = await cli(server, "delete", "old", "keep.txt", "--yes", "--json");
  equal(json.code, 0, json.stderr);
  const result = JSON.parse(json.stdout);
  deepStrictEqual([result.deleted, result.folders], [["old/x.txt", "keep.txt"], ["old"]]);
  // Nothing there: the server's word, as for a file.
  const missing = await cli(server, "delete", "nothing");
  equal(missing.code, 1);
  match(missing.stderr, /^error: File "nothing" not found/);
});

Deno.test({
  name: "files: delete FOLDER on a terminal asks first; anything but yes keeps it",
  // The pseudo-terminal comes from python3's pty module.
  ignore: !(await hasCommand("python3")),
  async fn() {
    await using dirs = await tempDirs();
    await using server = await startServer(dirs.files, ["--allow-delete"]);
    const source = join(dirs.local, "a.txt");
    await randomFile(source, 10);
    equal((await cli(server, "upload", source, "--name", "photos/a.jpg")).code, 0);
    const args = ["connect", "delete", "photos", "--file-port", String(server.port(LABEL))];
    const question = 'Delete the folder "photos" and its 1 file, 10 B\\? \\[y/N\\] ';
    const kept = await runInPtySteps(args, [[question, "n\n"]]);
    ok(kept !== null);
    equal(kept.code, 0, kept.output);
    match(kept.output, /Kept the folder "photos": nothing deleted/);
    equal((await listing(server)).files.length, 1);
    const gone = await runInPtySteps(args, [[question, "y\n"]]);
    ok(gone !== null);
    equal(gone.code, 0, gone.output);
    match(gone.output, /Deleted the folder "photos": 1 file, 10 B/);
    equal((await listing(server)).files.length, 0);
  },
});

Deno.test("files: a listing longer than its layout sample streams on with the sample's columns", () => {
  const files = Array.from({ length: LAYOUT_SAMPLE + 2 }, (_, i) => ({
    name: `f${String(i).padStart(5, "0")}.txt`,
    size: 3,
    mtimeMs: Date.UTC(2026, 0, 2, 3, 4),
    sha256: "ab".repeat(32),
  }));
  files.push({ ...files[0]!, name: "a-name-far-longer-than-the-sampled-ones.txt" });
  const written: string[] = [];
  const writer = new ListingWriter("h:1", null, { columns: 80 }, (text) => written.push(text));
  for (const file of files.slice(0, LAYOUT_SAMPLE - 1)) writer.add(file);
  equal(written.length, 0, "rows are held until the sample is complete");
  for (const file of files.slice(LAYOUT_SAMPLE - 1)) writer.add(file);
  ok(written.length > LAYOUT_SAMPLE, "then every row is written as it comes");
  writer.end();
  const lines = written.join("").trimEnd().split("\n");
  equal(lines[0], "NAME        SIZE  MODIFIED (UTC)    SHA-256");
  equal(lines[1], "f00000.txt   3 B  2026-01-02 03:04  abababababab");
  // A later name wider than its column: a line of its own, the columns under it.
  equal(lines.at(-3), "a-name-far-longer-than-the-sampled-ones.txt");
  equal(lines.at(-2), "             3 B  2026-01-02 03:04  abababababab");
  equal(lines.at(-1), `${files.length} files, 2.9 KiB`); // 3,009 bytes
});
