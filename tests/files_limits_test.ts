/**
 * The file service's limits over real sockets: the trickles that used to
 * hold a slot forever, the per-address share of the transfer slots, the
 * store's size, the bytes kept in interrupted uploads, and a disk that is
 * full. Bandwidth, which is timed, is in slow/files_pace_test.ts.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import { encode } from "../lib/base/text.ts";
import {
  cli,
  cliCommand,
  LABEL,
  listing,
  MiB,
  partNames,
  partPath,
  randomFile,
  RawClient,
  sh,
  sha256,
  smallTmpfs,
  startServer,
  tempDirs,
  waitForSize,
} from "./_files.ts";

Deno.test("files: a trickled request line and a transfer under --min-rate are ended with an ERR line", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files, [
    "--request-timeout",
    "1s",
    "--min-rate",
    "64K",
    "--min-rate-window",
    "1s",
  ]);
  const port = server.port(LABEL);

  // A request line, one byte at a time: every byte resets the idle timer, not this deadline.
  {
    using raw = await RawClient.connect(port);
    const reply = raw.line(10_000);
    for (let i = 0; i < 40; i++) {
      if ((await within(reply, 100)) !== TIMED_OUT) break;
      await raw.send("G").catch(() => {});
    }
    equal(
      await reply,
      "ERR timeout Request line was not completed within 1 s of its first byte (--request-timeout)",
    );
    equal(await raw.line(), null, "then closed");
  }

  // An upload trickling 10 bytes a second: ended, and the client told why.
  {
    using raw = await RawClient.connect(port);
    equal(await raw.request(`PUT ${MiB} new slow.bin`), "READY 0");
    const reply = raw.line(10_000);
    for (let i = 0; i < 40; i++) {
      if ((await within(reply, 100)) !== TIMED_OUT) break;
      await raw.send("x").catch(() => {});
    }
    match(
      (await reply)!,
      /^ERR too-slow Upload of "slow\.bin" moved \d+ bytes in 1 s, under the server's minimum of 64\.0 KiB\/s \(--min-rate\); run the same command to resume$/,
    );
  }
  await server.waitFor(/Upload of "slow\.bin" from .* interrupted at byte \d+; kept/);

  // A download whose client stops reading: the server's writes stall, and it is ended too.
  const big = join(dirs.local, "big.bin");
  await randomFile(big, 16 * MiB);
  equal((await cli(server, "upload", big)).code, 0);
  {
    using raw = await RawClient.connect(port);
    match((await raw.request("GET 0 big.bin"))!, /^OK 16777216 /);
    await server.waitFor(/Ending slow transfer with .*: Download of "big\.bin" moved/);
    await server.waitFor(/stopped downloading "big\.bin"/);
  }
  equal(
    (await listing(server)).files.length,
    1,
    "the service is free for others once a trickle is ended",
  );
});

Deno.test("files: one address gets at most --max-transfers-per-ip of the transfer slots", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files, ["--max-transfers-per-ip", "2"]);
  const port = server.port(LABEL);
  using first = await RawClient.connect(port);
  using second = await RawClient.connect(port);
  using third = await RawClient.connect(port);
  equal(await first.request("PUT 3 new one"), "READY 0");
  equal(await second.request("PUT 3 new two"), "READY 0");
  equal(
    await third.request("PUT 3 new three"),
    "ERR busy Your address is running 2 transfers, the most one address may (--max-transfers-per-ip); try again when one is done",
  );
  equal(await third.request("LIST"), "OK 0", "a listing is not a transfer");
  await first.send("abc");
  equal(await first.request(`SHA256 ${sha256(encode("abc"))}`), `OK ${sha256(encode("abc"))}`);
  equal(await third.request("PUT 3 new three"), "READY 0", "a slot came free");
});

Deno.test("files: --max-dir-size holds, interrupted uploads past --max-partial go, oldest first", async () => {
  await using dirs = await tempDirs();
  await using server = await startServer(dirs.files, [
    "--max-dir-size",
    "3MiB",
    "--max-partial",
    "1MiB",
  ]);
  const port = server.port(LABEL);
  const chunk = new Uint8Array(600_000).fill(3);
  for (const name of ["p1", "p2"]) {
    {
      using raw = await RawClient.connect(port);
      equal(await raw.request(`PUT 900000 new ${name}`), "READY 0");
      await raw.send(chunk);
      await waitForSize(partPath(dirs.files, name), chunk.length);
    }
    await server.waitFor(new RegExp(`Upload of "${name}" from .* interrupted at byte 600000`));
  }
  // Both kept would pass 1 MiB: the older one went.
  deepStrictEqual(await partNames(dirs.files), [sha256(encode("p2"))]);

  const a = join(dirs.local, "a.bin");
  const b = join(dirs.local, "b.bin");
  await randomFile(a, 2 * MiB);
  await randomFile(b, 2 * MiB);
  equal((await cli(server, "upload", a)).code, 0);
  const full = await cli(server, "upload", b);
  equal(full.code, 1);
  equal(
    full.stderr,
    'error: No room for "b.bin": the store holds 2.0 MiB of its 3.0 MiB limit and needs 2.0 MiB more (--max-dir-size)\n',
  );
  deepStrictEqual(await partNames(dirs.files), [], "the interrupted upload made room first");
  // A stream of unknown size is stopped as it passes the limit.
  const stream = await sh(
    `head -c ${2 * MiB} /dev/zero | ${cliCommand(server, "upload", "- --name c.bin")}`,
  );
  equal(stream.code, 1);
  match(stream.stderr, /^error: No room for "c\.bin": the store holds /);
  deepStrictEqual((await listing(server)).files.map((file) => file.name), ["a.bin"]);
  deepStrictEqual(await partNames(dirs.files), []);
});

Deno.test("files: a full disk: ERR no-space, an undigested file still served, an abandoned upload never in the way (tmpfs; needs root)", async (t) => {
  await using dirs = await tempDirs();
  await Deno.mkdir(dirs.files);
  await using disk = await smallTmpfs(dirs.files, "2m");
  if (disk === null) {
    await t.step({ name: "skipped: cannot mount a small tmpfs here", ignore: true, fn: () => {} });
    return;
  }
  await using server = await startServer(dirs.files);
  const port = server.port(LABEL);
  // An upload abandoned at 1.4 MB: kept for resuming...
  {
    using raw = await RawClient.connect(port);
    equal(await raw.request("PUT 1500000 new abandoned.bin"), "READY 0");
    await raw.send(new Uint8Array(1_400_000));
    await waitForSize(partPath(dirs.files, "abandoned.bin"), 1_400_000);
  }
  await server.waitFor(/Upload of "abandoned\.bin" .* interrupted at byte 1400000; kept/);
  // ...but not in the way of the next upload, which needs its room.
  const next = join(dirs.local, "next.bin");
  await randomFile(next, 1_200_000);
  const stored = await cli(server, "upload", next);
  equal(stored.code, 0, stored.stderr);
  deepStrictEqual(await partNames(dirs.files), []);

  // Fill the disk to the last byte by hand: a file the server has no digest for.
  const filler = await Deno.open(join(dirs.files, "filler.bin"), { write: true, create: true });
  try {
    const block = new Uint8Array(4096).fill(7);
    for (let i = 0; i < 1024; i++) await filler.write(block); // bounded: 4 MiB > the disk
  } catch (error) {
    ok(/os error 28|no space/i.test(String(error)), String(error));
  } finally {
    filler.close();
  }
  using raw = await RawClient.connect(port);
  match(
    (await raw.request("PUT 10 new late.txt"))!,
    /^ERR no-space The server's disk is full; "late\.txt" was not stored$/,
  );
  const size = (await Deno.stat(join(dirs.files, "filler.bin"))).size;
  match((await raw.request("GET 0 filler.bin"))!, new RegExp(`^OK ${size} \\d+ -$`));
  const bytes = await raw.bytes(size);
  equal(await raw.line(), `SHA256 ${sha256(bytes)}`);
  equal(await raw.request("LIST"), "OK 2", "the connection carries on");
  ok(
    !server.lines.some((line) => /Error with|unexpected/i.test(line)),
    server.lines.join("\n"),
  );
});
