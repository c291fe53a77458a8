/**
 * LIST of many files: the order of whole names, what is left out, and that
 * a big listing holds up no other client (the message service answers while
 * four clients list, and a client that stops reading its listing holds up
 * only itself). 100,000 files and memory bounds: tests/slow/files_list_test.ts.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { InProcessServer } from "./_in_process.ts";
import { cli, cliCommand, LABEL, sh, startServer } from "./_files.ts";
import { listWhileWitnessing, rawList, Witness, writeTree } from "./_listing.ts";

const byUtf16 = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

Deno.test("files list: whole names in order across folders, hidden and symlinked entries left out, --prefix one folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "socketkit-list-" });
  try {
    const stored = [
      "a.txt",
      "a-b.txt",
      "a/x.txt",
      "a/b/c.txt",
      "a b/y.txt",
      "Z.txt",
      "é.txt",
      "ab",
    ];
    for (const name of stored) {
      const path = join(dir, ...name.split("/"));
      await Deno.mkdir(join(path, ".."), { recursive: true });
      await Deno.writeTextFile(path, name);
    }
    await Deno.writeTextFile(join(dir, ".hidden"), "never listed");
    await Deno.writeTextFile(join(dir, "a", ".h"), "never listed");
    await Deno.symlink(join(dir, "a.txt"), join(dir, "link"));
    await Deno.symlink(join(dir, "a"), join(dir, "folder-link"));
    await using server = await startServer(dir);
    const port = server.port(LABEL);

    // "a-b.txt" < "a.txt" < "a/..." < "ab": a folder sorts as its name plus "/".
    const all = await rawList(port);
    deepStrictEqual(all.names, [...stored].sort(byUtf16));
    equal(all.count, stored.length);
    deepStrictEqual((await rawList(port, "a")).names, ["a/b/c.txt", "a/x.txt"]);
    deepStrictEqual((await rawList(port, "a/b/")).names, ["a/b/c.txt"]);

    const json = await cli(server, "files", "--json", "--prefix", "a");
    equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    equal(parsed.prefix, "a");
    deepStrictEqual(parsed.files.map((file: { name: string }) => file.name), [
      "a/b/c.txt",
      "a/x.txt",
    ]);
    equal(json.stdout.trim().split("\n").length, 1, "one JSON object on one line");

    const human = await cli(server, "files");
    equal(human.code, 0, human.stderr);
    const rows = human.stdout.trim().split("\n");
    equal(rows.length, stored.length + 2, "header, one row per file, total");
    ok(rows[0]!.includes("SHA-256"), rows[0]);
    ok(rows.at(-1)!.startsWith(`${stored.length} files,`), rows.at(-1));
    ok(rows[1]!.startsWith("Z.txt "), `first row: ${rows[1]}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("files list: the message service answers while four clients list 3,000 files, and a client that stops reading holds up only itself", async () => {
  const dir = await Deno.makeTempDir({ prefix: "socketkit-list-" });
  try {
    const names = writeTree(dir, 3000, 30);
    await using server = await InProcessServer.start(
      ["--services", "message,files", "--files-dir", dir],
      ["[TCP Server]", "[UDP Server]", LABEL],
    );
    const port = server.port(LABEL);

    // A client that asks for the listing and does not read it.
    const stalled = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await stalled.write(new TextEncoder().encode("LIST\n"));
      await using witness = await Witness.start(server.port("[TCP Server]"));
      const { listings, atFirstLine, atEnd } = await listWhileWitnessing(port, witness, 4);
      for (const listing of listings) deepStrictEqual(listing.names, names);
      ok(atFirstLine >= 0, "the listings had lines");
      ok(atEnd > atFirstLine, `replies while the listings streamed: ${atEnd - atFirstLine}`);
      await witness.nextReply(); // and still, with the stalled reader's listing pending
    } finally {
      stalled.close();
    }
    // The server is whole after the stalled client went away.
    deepStrictEqual(
      (await rawList(port, "d007")).names,
      names.filter((n) => n.startsWith("d007/")),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("files list: a client that reads its listing late still gets every line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "socketkit-list-" });
  try {
    const names = writeTree(dir, 3000, 10);
    await using server = await startServer(dir);
    const port = server.port(LABEL);
    // Another client's whole listing first, while this one has not read a byte.
    let other: string[] = [];
    const late = await rawList(port, "d003", {
      beforeReading: async () => (other = (await rawList(port)).names),
    });
    deepStrictEqual(other, names);
    deepStrictEqual(late.names, names.filter((name) => name.startsWith("d003/")));

    // A reader that goes away early (more than a pipe's buffer is listed): no error.
    const head = await sh(`${cliCommand(server, "files", "")} | head -2`);
    equal(head.code, 0, head.stderr);
    equal(head.stderr, "");
    equal(head.stdout.split("\n")[1]!.startsWith("d000/f000000.txt "), true, head.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
