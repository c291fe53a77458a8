/**
 * The pipelined transfers of many files (`PUTS`, `GETS`): over the raw
 * protocol (refusals mid-stream while the rest go on, answers in order, a
 * connection cut before the end), and through the real CLI (a folder up and
 * down, a re-run that sends nothing again, refused files named while the
 * others are stored).
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { concatBytes } from "../lib/base/io.ts";
import { hasCommand, runInPty, ServerProcess } from "./_helpers.ts";
import { encode } from "../lib/base/text.ts";
import {
  cli,
  dirNames,
  LABEL,
  listing,
  RawClient,
  sha256,
  startServer,
  tempDirs,
  treeDigests,
} from "./_files.ts";

/** One file of a PUTS stream: its line and its bytes. */
function record(name: string, bytes: Uint8Array, digest = sha256(bytes)): Uint8Array {
  return concatBytes([encode(`${bytes.length} ${digest} ${name}\n`), bytes]);
}

function text(value: string): Uint8Array {
  return encode(value);
}

Deno.test("files: PUTS stores files sent back to back and answers each in order; refusals mid-stream leave the rest stored", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files, ["--max-file-size", "10"]);
  using raw = await RawClient.connect(server.port(LABEL));
  equal(await raw.request("PUT 2 new taken.txt"), "READY 0");
  equal(
    await raw.request(concatBytes([text("hi"), text(`SHA256 ${sha256(text("hi"))}\n`)])),
    `OK ${sha256(text("hi"))}`,
  );

  equal(await raw.request("PUTS new"), "READY");
  await raw.send(concatBytes([
    record("a/one.txt", text("one")),
    record("../escape.txt", text("bad")), // bad-name
    record("taken.txt", text("other")), // exists
    record("a/big.txt", text("eleven bytes")), // over --max-file-size
    record("a/two.txt", text("two"), sha256(text("not two"))), // digest mismatch
    record("a/b/three.txt", text("three")),
    text("\n"),
  ]));
  const answers: string[] = [];
  for (let i = 0; i < 7; i++) answers.push((await raw.line())!);
  equal(answers[0], `OK ${sha256(text("one"))}`);
  match(answers[1]!, /^ERR bad-name /);
  match(answers[2]!, /^ERR exists /);
  match(answers[3]!, /^ERR too-large /);
  match(answers[4]!, /^ERR verify-failed /);
  equal(answers[5], `OK ${sha256(text("three"))}`);
  equal(answers[6], "END 6");
  // The connection carries on with ordinary requests.
  equal(
    await raw.request("STAT a/b/three.txt"),
    `OK 5 ${(await listing(server)).files.find((f) => f.name === "a/b/three.txt")!.mtimeMs} ${
      sha256(text("three"))
    }`,
  );
  deepStrictEqual(
    (await listing(server)).files.map((file) => [file.name, file.sha256]),
    [
      ["a/b/three.txt", sha256(text("three"))],
      ["a/one.txt", sha256(text("one"))],
      ["taken.txt", sha256(text("hi"))],
    ],
  );
  deepStrictEqual(await dirNames(join(dirs.files, ".socketkit", "parts")), []);
});

Deno.test("files: GETS answers each name as GET 0 would, back to back, a missing one with its ERR", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  using raw = await RawClient.connect(server.port(LABEL));
  equal(await raw.request("PUTS new"), "READY");
  await raw.send(
    concatBytes([record("x/1.txt", text("first\n")), record("x/2.txt", text("")), text("\n")]),
  );
  equal(await raw.line(), `OK ${sha256(text("first\n"))}`);
  equal(await raw.line(), `OK ${sha256(text(""))}`);
  equal(await raw.line(), "END 2");

  equal(await raw.request("GETS"), "READY");
  await raw.send("x/2.txt\nnope.txt\nx/1.txt\n\n");
  match((await raw.line())!, new RegExp(`^OK 0 \\d+ ${sha256(text(""))}$`));
  equal(await raw.line(), `SHA256 ${sha256(text(""))}`);
  match((await raw.line())!, /^ERR not-found File "nope\.txt" not found$/);
  match((await raw.line())!, new RegExp(`^OK 6 \\d+ ${sha256(text("first\n"))}$`));
  equal(new TextDecoder().decode(await raw.bytes(6)), "first\n");
  equal(await raw.line(), `SHA256 ${sha256(text("first\n"))}`);
  equal(await raw.line(), "END 3");
  equal(
    await raw.request("GET 0 x/1.txt"),
    `OK 6 ${(await listing(server)).files[0]!.mtimeMs} ${sha256(text("first\n"))}`,
  );
});

Deno.test("files: a PUTS cut off before its end keeps only what was acknowledged, and nothing partial is visible", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  {
    using raw = await RawClient.connect(server.port(LABEL));
    equal(await raw.request("PUTS new"), "READY");
    // The first file complete, the second cut off in its bytes.
    await raw.send(
      concatBytes([
        record("c/done.txt", text("done")),
        text(`10 ${sha256(text("0123456789"))} c/cut.txt\n01234`),
      ]),
    );
    equal(await raw.line(), `OK ${sha256(text("done"))}`);
  }
  await server.waitFor(/went away during a pipelined upload; 1 files were stored/);
  deepStrictEqual((await listing(server)).files.map((file) => file.name), ["c/done.txt"]);
  deepStrictEqual(await dirNames(join(dirs.files, "c")), ["done.txt"]);
  deepStrictEqual(await dirNames(join(dirs.files, ".socketkit", "parts")), []);
});

Deno.test("files: a folder of 240 small files goes up and down pipelined; a re-run sends nothing; refused files are named and the rest go on", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const tree = join(dirs.local, "tree");
  for (let i = 0; i < 240; i++) {
    const folder = join(tree, `d${i % 6}`);
    if (i < 6) await Deno.mkdir(folder, { recursive: true });
    await Deno.writeFile(join(folder, `f${i}.bin`), crypto.getRandomValues(new Uint8Array(i * 11)));
  }
  const expected = await treeDigests(tree);
  const up = await cli(server, "upload", tree, "--json");
  equal(up.code, 0, up.stderr);
  const summary = JSON.parse(up.stdout);
  equal(summary.count, 240);
  equal(summary.skipped, 0);
  deepStrictEqual(summary.refused, []);
  ok(summary.filesPerSecond > 0);
  await server.waitFor(/Stored 240 files \(\d+ bytes\) from .*, 0 refused/);
  deepStrictEqual(
    new Map((await listing(server)).files.map((file) => [file.name, file.sha256])),
    new Map([...expected].map(([name, digest]) => [`tree/${name}`, digest])),
  );

  // Run again: every file is already there, nothing is sent.
  const again = await cli(server, "upload", tree, "--json");
  equal(again.code, 0, again.stderr);
  const second = JSON.parse(again.stdout);
  equal(second.skipped, 240);
  equal(second.transferred, 0);

  // Two files changed locally: refused (exists) without --force, the rest skipped.
  await Deno.writeTextFile(join(tree, "d1", "f1.bin"), "changed");
  await Deno.writeTextFile(join(tree, "d2", "f2.bin"), "changed too");
  const refused = await cli(server, "upload", tree);
  equal(refused.code, 1);
  match(refused.stderr, /^Refused .*f1\.bin: "tree\/d1\/f1\.bin" already exists on the server/m);
  match(refused.stderr, /^Refused .*f2\.bin: /m);
  match(refused.stderr, /^error: 2 of 240 files were refused \(each is named above\)/m);
  match(
    refused.stdout,
    /^Uploaded 238 files, .* files\/s; 238 already there \(skipped\); 2 refused$/m,
  );
  const forced = await cli(server, "upload", tree, "--force", "--json");
  equal(forced.code, 0, forced.stderr);
  equal(JSON.parse(forced.stdout).skipped, 238);

  const back = join(dirs.root, "back");
  const down = await cli(server, "download", "tree", "--output", back, "--json");
  equal(down.code, 0, down.stderr);
  equal(JSON.parse(down.stdout).count, 240);
  const local = await treeDigests(tree);
  deepStrictEqual(await treeDigests(join(back, "tree")), local);
  deepStrictEqual(
    (await dirNames(join(back, "tree", "d0"))).filter((name) => name.startsWith(".")),
    [],
  );
  // A re-run finds every file identical.
  const downAgain = await cli(server, "download", "tree", "--output", back, "--json");
  equal(downAgain.code, 0, downAgain.stderr);
  equal(JSON.parse(downAgain.stdout).skipped, 240);
  // A local file that differs is refused without --force, the others are skipped.
  await Deno.writeTextFile(join(back, "tree", "d3", "f3.bin"), "mine");
  const kept = await cli(server, "download", "tree", "--output", back);
  equal(kept.code, 1);
  match(
    kept.stderr,
    /^Refused tree\/d3\/f3\.bin: .*f3\.bin" already exists \(use --force to replace it\)/m,
  );
  equal(await Deno.readTextFile(join(back, "tree", "d3", "f3.bin")), "mine");
});

Deno.test("files: on a terminal, a pipelined batch shows one progress line with files/s", async (t) => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const set = join(dirs.local, "set");
  await Deno.mkdir(set);
  for (let i = 0; i < 50; i++) await Deno.writeTextFile(join(set, `f${i}.txt`), `file ${i}\n`);
  const args = ["connect", "upload", set, "--file-port", String(server.port(LABEL))];
  const result = await runInPty(args, "");
  if (result === null) {
    await t.step({
      name: "skipped: python3 (for a pseudo-terminal) is missing",
      ignore: true,
      fn() {},
    });
    return;
  }
  equal(result.code, 0, result.output);
  match(result.output, /\[\d+\/50 files, \d+ files\/s\] \[#+-*\] [\d.]+ B \/ [\d.]+ B +\d+% /);
  match(result.output, /Uploaded 50 files, .* files\/s/);
});

Deno.test("files: a PUTS over --max-dir-size refuses the file that does not fit and stores the next that does", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files, ["--max-dir-size", "10"]);
  using raw = await RawClient.connect(server.port(LABEL));
  equal(await raw.request("PUTS new"), "READY");
  await raw.send(concatBytes([
    record("q/a.txt", text("sixsix")),
    record("q/b.txt", text("sixsix")),
    record("q/c.txt", text("abc")),
    text("\n"),
  ]));
  equal(await raw.line(), `OK ${sha256(text("sixsix"))}`);
  match((await raw.line())!, /^ERR no-space No room for "q\/b\.txt": .*\(--max-dir-size\)$/);
  equal(await raw.line(), `OK ${sha256(text("abc"))}`);
  equal(await raw.line(), "END 3");
  deepStrictEqual((await listing(server)).files.map((file) => file.name), ["q/a.txt", "q/c.txt"]);
});

Deno.test("files: netcat still uploads and downloads one file with PUT and GET, and sends a PUTS as the manual shows", async (t) => {
  if (!(await hasCommand("nc"))) {
    await t.step({ name: "skipped: nc (netcat) is not installed", ignore: true, fn() {} });
    return;
  }
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const port = String(server.port(LABEL));
  const nc = async (input: Uint8Array) => {
    // -N: shut down the write side at EOF, so the server sees the end and answers.
    const child = new Deno.Command("nc", {
      args: ["-N", "127.0.0.1", port],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(input);
    await writer.close();
    const output = await child.output();
    return new TextDecoder().decode(output.stdout);
  };
  const hello = text("hello\n");
  const digest = sha256(hello);
  equal(
    await nc(concatBytes([text("PUT 6 new hi.txt\n"), hello, text(`SHA256 ${digest}\n`)])),
    `READY 0\nOK ${digest}\n`,
  );
  match(
    await nc(text("GET 0 hi.txt\n")),
    new RegExp(`^OK 6 \\d+ ${digest}\nhello\nSHA256 ${digest}\n$`),
  );
  equal(
    await nc(concatBytes([text("PUTS new\n"), record("a/hi.txt", hello), text("\n")])),
    `READY\nOK ${digest}\nEND 1\n`,
  );
  match(
    await nc(text("GETS\na/hi.txt\nnope\n\n")),
    new RegExp(
      `^READY\nOK 6 \\d+ ${digest}\nhello\nSHA256 ${digest}\nERR not-found File "nope" not found\nEND 2\n$`,
    ),
  );
});

Deno.test("files: files given one by one go pipelined too, and a re-run skips them (their STATs pipelined)", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files);
  const paths = ["a", "b", "c"].map((name) => join(dirs.local, `${name}.txt`));
  for (const path of paths) await Deno.writeTextFile(path, `${path}\n`);
  const first = await cli(server, "upload", ...paths, "--json");
  equal(first.code, 0, first.stderr);
  equal(JSON.parse(first.stdout).count, 3);
  await server.waitFor(/Stored 3 files \(\d+ bytes\) from .*, 0 refused/);
  const again = await cli(server, "upload", ...paths, "--json");
  equal(again.code, 0, again.stderr);
  const summary = JSON.parse(again.stdout);
  equal(summary.skipped, 3);
  equal(summary.transferred, 0);
});

Deno.test("files: the real serve, FFI given up after start, lists the digests of pipelined uploads", async () => {
  await using dirs = await tempDirs();
  // serve gives up FFI once started; the listing worker reads the digests
  // pipelined uploads keep as extended attributes, so it must start before.
  await using server = await ServerProcess.start(
    ["--services", "files", "--files-dir", dirs.files],
    [LABEL],
    { denoArgs: ["--allow-ffi"] }, // as the tasks and the binary run it
  );
  const folder = join(dirs.local, "tree");
  await Deno.mkdir(folder);
  const want = new Map<string, string>();
  for (let i = 0; i < 5; i++) {
    const bytes = encode(`file ${i}\n`);
    await Deno.writeFile(join(folder, `f${i}.txt`), bytes);
    want.set(`tree/f${i}.txt`, sha256(bytes));
  }
  const up = await cli(server, "upload", folder);
  equal(up.code, 0, up.stderr);
  const listed = await listing(server);
  deepStrictEqual(
    new Map(listed.files.map((file) => [file.name, file.sha256])),
    want,
    "every file listed with its SHA-256",
  );
});
