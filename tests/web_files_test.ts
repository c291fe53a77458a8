/**
 * The web service's /files routes, driven with curl, wget and fetch against
 * an in-process server that also runs the TCP file service: the same store
 * seen from both ends.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { listing, randomFile, sha256, tempDirs } from "./_files.ts";
import { curl, http, startWeb, tool, webBase } from "./_web.ts";

Deno.test("web files: curl -T stores a file the TCP file service lists with its SHA-256, and it downloads byte-identical", async () => {
  await using dirs = await tempDirs();
  await using server = await startWeb(["--files-dir", dirs.files]);
  const base = webBase(server);
  const source = join(dirs.local, "data.bin");
  const bytes = await randomFile(source, 300_000);
  const put = await curl("-i", "-T", source, `${base}/files/docs/data.bin`);
  equal(put.code, 0, put.stderr);
  match(put.text, /HTTP\/1\.1 201 Created/);
  match(put.text, new RegExp(`x-sha256: ${sha256(bytes)}`, "i"));
  const listed = await listing(server);
  deepStrictEqual(listed.files.map((file) => [file.name, file.size, file.sha256]), [
    ["docs/data.bin", 300_000, sha256(bytes)],
  ]);
  const back = join(dirs.local, "back.bin");
  const get = await curl("-o", back, `${base}/files/docs/data.bin`);
  equal(get.code, 0, get.stderr);
  deepStrictEqual(await Deno.readFile(back), bytes);
});

Deno.test("web files: an existing name is 409 unless ?force=1, and a wrong digest keeps nothing", async () => {
  await using dirs = await tempDirs();
  await using server = await startWeb(["--files-dir", dirs.files]);
  const url = `${webBase(server)}/files/note.txt`;
  equal((await http(url, { method: "PUT", body: "one" })).status, 201);
  const again = await http(url, { method: "PUT", body: "two" });
  equal(again.status, 409);
  match(again.text, /already exists/);
  const forced = await http(url + "?force=1", { method: "PUT", body: "two" });
  equal(forced.status, 200);
  equal(forced.headers.get("x-sha256"), sha256(new TextEncoder().encode("two")));
  equal((await http(url)).text, "two");

  const wrong = await http(`${webBase(server)}/files/bad.txt`, {
    method: "PUT",
    body: "payload",
    headers: { "x-sha256": "0".repeat(64) },
  });
  equal(wrong.status, 422);
  const right = sha256(new TextEncoder().encode("payload"));
  const digest = btoa(String.fromCharCode(...right.match(/../g)!.map((h) => parseInt(h, 16))));
  equal((await http(`${webBase(server)}/files/bad.txt`)).status, 404);
  const good = await http(`${webBase(server)}/files/bad.txt`, {
    method: "PUT",
    body: "payload",
    headers: { digest: `sha-256=${digest}` },
  });
  equal(good.status, 201);
});

Deno.test("web files: ranges: one range is 206, past the end 416, invalid or several ranges the whole file; If-Range and If-None-Match", async () => {
  await using dirs = await tempDirs();
  await using server = await startWeb(["--files-dir", dirs.files]);
  const url = `${webBase(server)}/files/r.bin`;
  const bytes = new Uint8Array(1000).map((_, i) => i % 251);
  equal((await http(url, { method: "PUT", body: bytes })).status, 201);
  const range = (value: string, extra: Record<string, string> = {}) =>
    http(url, { headers: { range: value, ...extra } });

  const first = await range("bytes=0-0");
  equal(first.status, 206);
  equal(first.headers.get("content-range"), "bytes 0-0/1000");
  deepStrictEqual(first.body, bytes.subarray(0, 1));
  const suffix = await range("bytes=-10");
  equal(suffix.headers.get("content-range"), "bytes 990-999/1000");
  deepStrictEqual(suffix.body, bytes.subarray(990));
  const open = await range("bytes=995-");
  deepStrictEqual(open.body, bytes.subarray(995));
  const clipped = await range("bytes=990-5000");
  equal(clipped.headers.get("content-range"), "bytes 990-999/1000");
  const bigSuffix = await range("bytes=-5000");
  equal(bigSuffix.status, 206);
  equal(bigSuffix.body.length, 1000);
  const past = await range("bytes=1000-");
  equal(past.status, 416);
  equal(past.headers.get("content-range"), "bytes */1000");
  equal((await range("bytes=-0")).status, 416);
  for (const ignored of ["bytes=5-3", "bytes=0-1,5-6", "items=0-1", "bytes=x-y"]) {
    const whole = await range(ignored);
    equal(whole.status, 200, ignored);
    equal(whole.body.length, 1000, ignored);
  }

  const etag = first.headers.get("etag")!;
  equal(etag, `"${sha256(bytes)}"`);
  equal((await range("bytes=10-19", { "if-range": etag })).status, 206);
  equal((await range("bytes=10-19", { "if-range": `"${"1".repeat(64)}"` })).status, 200);
  const lastModified = first.headers.get("last-modified")!;
  equal((await range("bytes=10-19", { "if-range": lastModified })).status, 206);
  equal((await http(url, { headers: { "if-none-match": etag } })).status, 304);

  const head = await http(url, { method: "HEAD" });
  equal(head.status, 200);
  equal(head.headers.get("content-length"), "1000");
  equal(head.headers.get("accept-ranges"), "bytes");
  equal(head.body.length, 0);

  equal((await http(`${webBase(server)}/files/empty`, { method: "PUT", body: "" })).status, 201);
  equal(
    (await http(`${webBase(server)}/files/empty`, { headers: { range: "bytes=0-" } })).status,
    416,
  );
});

Deno.test("web files: curl -C - and wget -c resume a cut download to the same bytes", async () => {
  await using dirs = await tempDirs();
  await using server = await startWeb(["--files-dir", dirs.files]);
  const source = join(dirs.local, "big.bin");
  const bytes = await randomFile(source, 500_000);
  const url = `${webBase(server)}/files/big.bin`;
  equal((await curl("-T", source, url)).code, 0);
  const viaCurl = join(dirs.local, "curl.bin");
  await Deno.writeFile(viaCurl, bytes.subarray(0, 123_456));
  const resumed = await curl("-C", "-", "-o", viaCurl, url);
  equal(resumed.code, 0, resumed.stderr);
  deepStrictEqual(await Deno.readFile(viaCurl), bytes);
  const viaWget = join(dirs.local, "wget.bin");
  await Deno.writeFile(viaWget, bytes.subarray(0, 7));
  const wget = await tool("wget", ["-q", "-c", "-O", viaWget, url]);
  equal(wget.code, 0, wget.stderr);
  deepStrictEqual(await Deno.readFile(viaWget), bytes);
});

Deno.test("web files: a listing in JSON gives name, size, mtime, sha256 and folders; in HTML every name is escaped", async () => {
  await using dirs = await tempDirs();
  await using server = await startWeb(["--files-dir", dirs.files]);
  const base = webBase(server);
  const evil = `<img src=x onerror=alert(1)>&"'.txt`;
  equal(
    (await http(`${base}/files/${encodeURIComponent(evil)}`, { method: "PUT", body: "x" })).status,
    201,
  );
  equal((await http(`${base}/files/sub/a.txt`, { method: "PUT", body: "abc" })).status, 201);
  const json = await http(`${base}/files/`, { headers: { accept: "application/json" } });
  equal(json.status, 200);
  const parsed = JSON.parse(json.text);
  deepStrictEqual(parsed.entries.map((e: { name: string; type: string }) => [e.name, e.type]), [
    ["sub", "folder"],
    [evil, "file"],
  ]);
  const sub = JSON.parse(
    (await http(`${base}/files/sub/`, { headers: { accept: "application/json" } })).text,
  );
  equal(sub.entries[0].name, "a.txt");
  equal(sub.entries[0].size, 3);
  equal(sub.entries[0].sha256, sha256(new TextEncoder().encode("abc")));
  ok(!Number.isNaN(Date.parse(sub.entries[0].mtime)));
  const html = await http(`${base}/files/`, { headers: { accept: "text/html" } });
  match(html.headers.get("content-type")!, /text\/html/);
  match(html.headers.get("content-security-policy")!, /script-src 'self'/);
  ok(!html.text.includes("<img"), "a name must never become markup");
  match(html.text, /&lt;img src=x onerror=alert\(1\)&gt;&amp;&quot;&#39;\.txt/);
  const folder = await http(`${base}/files/sub`);
  equal(folder.status, 301);
  equal(folder.headers.get("location"), "/files/sub/");
});

Deno.test("web files: ?archive=tar streams a folder that tar unpacks to the same bytes, long names included", async () => {
  await using dirs = await tempDirs();
  await using server = await startWeb(["--files-dir", dirs.files]);
  const base = webBase(server);
  const long = `deep/${"d".repeat(90)}/${"e".repeat(90)}/${"f".repeat(120)}.bin`;
  const contents = new Map<string, Uint8Array<ArrayBuffer>>([
    ["deep/one.txt", new TextEncoder().encode("one\n")],
    ["deep/inner/two.bin", randomBytes(70_001)],
    [long, randomBytes(513)],
    ["deep/empty", new Uint8Array(0)],
  ]);
  for (const [name, bytes] of contents) {
    const url = `${base}/files/${name.split("/").map(encodeURIComponent).join("/")}`;
    equal((await http(url, { method: "PUT", body: bytes })).status, 201, name);
  }
  const archive = join(dirs.root, "deep.tar");
  const got = await curl("-o", archive, `${base}/files/deep/?archive=tar`);
  equal(got.code, 0, got.stderr);
  const out = join(dirs.root, "out");
  await Deno.mkdir(out);
  const untar = await tool("tar", ["-xf", archive, "-C", out]);
  equal(untar.code, 0, untar.stderr);
  for (const [name, bytes] of contents) {
    deepStrictEqual(await Deno.readFile(join(out, name)), bytes, name);
  }
  equal((await http(`${base}/files/nothing/?archive=tar`)).status, 404);
});

Deno.test("web files: DELETE and POST ?move= only with --allow-delete", async () => {
  await using dirs = await tempDirs();
  {
    await using server = await startWeb(["--files-dir", dirs.files]);
    const url = `${webBase(server)}/files/keep.txt`;
    equal((await http(url, { method: "PUT", body: "k" })).status, 201);
    equal((await http(url, { method: "DELETE" })).status, 403);
    equal((await http(url + "?move=other.txt", { method: "POST" })).status, 403);
    equal((await http(url)).text, "k");
  }
  await using server = await startWeb(["--files-dir", dirs.files, "--allow-delete"]);
  const base = webBase(server);
  const moved = await http(`${base}/files/keep.txt?move=${encodeURIComponent("dir/moved.txt")}`, {
    method: "POST",
  });
  equal(moved.status, 200, moved.text);
  equal((await http(`${base}/files/keep.txt`)).status, 404);
  equal((await http(`${base}/files/dir/moved.txt`)).text, "k");
  equal((await http(`${base}/files/dir/moved.txt`, { method: "DELETE" })).status, 200);
  equal((await http(`${base}/files/dir/moved.txt`, { method: "DELETE" })).status, 404);
});

Deno.test("web files: no path leaves --files-dir, hidden and state names are refused", async () => {
  await using dirs = await tempDirs();
  await using server = await startWeb(["--files-dir", dirs.files]);
  const base = webBase(server);
  await Deno.writeTextFile(join(dirs.root, "secret.txt"), "secret");
  for (
    const path of [
      "/files/..%2fsecret.txt",
      "/files/%2e%2e/secret.txt",
      "/files/a/..%2F..%2Fsecret.txt",
      "/files/.socketkit/meta",
      "/files/%00",
    ]
  ) {
    const got = await curl("--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", base + path);
    ok(["400", "404"].includes(got.text), `${path}: ${got.text}`);
  }
  const put = await curl(
    "--path-as-is",
    "-X",
    "PUT",
    "--data-binary",
    "x",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    `${base}/files/..%2fescape.txt`,
  );
  equal(put.text, "400");
  const escaped = await Array.fromAsync(Deno.readDir(dirs.root));
  ok(!escaped.some((entry) => entry.name === "escape.txt"));
});

Deno.test("web files: a file copied in by hand is served, its digest recorded on the way, and is the ETag after", async () => {
  await using dirs = await tempDirs();
  await using server = await startWeb(["--files-dir", dirs.files]);
  const bytes = randomBytes(40_000);
  await Deno.writeFile(join(dirs.files, "hand.bin"), bytes);
  const url = `${webBase(server)}/files/hand.bin`;
  const first = await http(url);
  deepStrictEqual(first.body, bytes);
  equal(first.headers.get("etag"), null);
  const second = await http(url, { method: "HEAD" });
  equal(second.headers.get("etag"), `"${sha256(bytes)}"`);
});

Deno.test("web files: without the file service the web serves the same store; --max-file-size refuses at once", async () => {
  await using dirs = await tempDirs();
  await using server = await startWeb(["--files-dir", dirs.files, "--max-file-size", "1K"], "web");
  const url = `${webBase(server)}/files/small.txt`;
  equal((await http(url, { method: "PUT", body: "small" })).status, 201);
  equal(await Deno.readTextFile(join(dirs.files, "small.txt")), "small");
  const big = await http(`${webBase(server)}/files/big.bin`, {
    method: "PUT",
    body: new Uint8Array(2048),
  });
  equal(big.status, 413);
  equal((await http(`${webBase(server)}/files/big.bin`)).status, 404);
});

function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}
