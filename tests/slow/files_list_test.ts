/**
 * A store of 100,000 files: LIST is complete and sorted, four at once leave
 * the message service answering and the server's memory bounded, and
 * `connect files` prints them all in bounded memory. Slow tier: the tree
 * takes seconds to write, and the memory bounds need processes of their own.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { peakRssMb, RUN_ARGS, ServerProcess } from "../_helpers.ts";
import { LABEL } from "../_files.ts";
import { listWhileWitnessing, rawList, Witness, writeTree } from "../_listing.ts";

const COUNT = 100_000;
/** The bound for a server (and a client) handling 100,000 files. */
const BOUND_MB = 250;

Deno.test("files list (slow): 100,000 files, four listings at once: every name in order, the message service answering, the server under 250 MB", async () => {
  const dir = await Deno.makeTempDir({ prefix: "socketkit-list-100k-" });
  try {
    // Written after the start (as if copied in by hand: listed, digests "-"),
    // so the start's sweep does not walk them within its 10 s.
    await using server = await ServerProcess.start(
      ["--services", "message,files", "--files-dir", dir],
      ["[TCP Server]", "[UDP Server]", LABEL],
    );
    const names = writeTree(dir, COUNT, 100);
    const port = server.port(LABEL);
    const one = await rawList(port);
    equal(one.count, COUNT);
    deepStrictEqual(one.names, names);

    await using witness = await Witness.start(server.port("[TCP Server]"));
    const { listings, atFirstLine, atEnd } = await listWhileWitnessing(port, witness, 4);
    for (const listing of listings) deepStrictEqual(listing.names, names);
    ok(atEnd > atFirstLine && atFirstLine >= 0, `replies while listing: ${atEnd - atFirstLine}`);
    const peak = await peakRssMb(server.child.pid);
    ok(Number.isNaN(peak) || peak < BOUND_MB, `server peak RSS ${peak.toFixed(0)} MiB`);
    console.log(`server peak RSS ${peak.toFixed(0)} MiB, ${atEnd - atFirstLine} replies meanwhile`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "files list (slow): connect files prints 100,000 files in bounded memory",
  ignore: !hasGnuTime(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "socketkit-list-100k-" });
    try {
      const store = join(dir, "store");
      const names = writeTree(store, COUNT, 100);
      await using server = await ServerProcess.start(
        ["--services", "files", "--files-dir", store],
        [
          LABEL,
        ],
      );
      const port = String(server.port(LABEL));
      for (const json of [true, false]) {
        const usage = join(dir, "usage");
        const output = await new Deno.Command("/usr/bin/time", {
          args: ["-o", usage, "-f", "%M", Deno.execPath(), ...RUN_ARGS, "connect", "files"]
            .concat(json ? ["--json"] : [], ["--file-port", port]),
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stdout = new TextDecoder().decode(output.stdout);
        equal(output.code, 0, new TextDecoder().decode(output.stderr));
        if (json) {
          const listing = JSON.parse(stdout);
          deepStrictEqual(listing.files.map((file: { name: string }) => file.name), names);
        } else {
          const rows = stdout.trimEnd().split("\n");
          equal(rows.length, COUNT + 2, "header, a row per file, total");
          ok(rows.at(-1)!.startsWith("100000 files, "), rows.at(-1));
        }
        const peakMb = Number((await Deno.readTextFile(usage)).trim().split("\n").at(-1)) / 1024;
        console.log(`connect files${json ? " --json" : ""}: peak RSS ${peakMb.toFixed(0)} MiB`);
        ok(peakMb < 120, `client peak RSS ${peakMb.toFixed(0)} MiB`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function hasGnuTime(): boolean {
  try {
    Deno.statSync("/usr/bin/time");
    return true;
  } catch {
    console.log(
      "ignored: /usr/bin/time (GNU time) is not installed; it measures the client's peak RSS",
    );
    return false;
  }
}
