/**
 * The file service's bandwidth limits, timed: --limit-rate both ways and
 * --max-rate-per-conn on the server. Slow tier: it asserts elapsed time
 * (the transfers' own seconds), which a loaded machine can push out.
 */
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { cli, MiB, randomFile, spawnServer, tempDirs } from "../_files.ts";

/** The `seconds` of a transfer's --json summary: from the server's go-ahead to its last reply. */
function secondsOf(result: { code: number; stdout: string; stderr: string }): number {
  equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout).seconds;
}

Deno.test("files: --limit-rate 5M moves 20 MiB in 4 s ± 15 %, both ways; --max-rate-per-conn holds on the server", async () => {
  await using dirs = await tempDirs();
  await using server = await spawnServer(dirs.files);
  const source = join(dirs.local, "twenty.bin");
  await randomFile(source, 20 * MiB);
  // The transfer's own elapsed time (the summary's seconds), so start-up and
  // a busy machine's scheduling of the process do not count.
  const up = secondsOf(await cli(server, "upload", source, "--limit-rate", "5M", "--json"));
  ok(up >= 3.4 && up <= 4.6, `20 MiB up at 5 MiB/s took ${up} s`);
  const down = secondsOf(
    await cli(server, "download", "twenty.bin", "--output", join(dirs.root, "back.bin"), ...[
      "--limit-rate",
      "5M",
      "--json",
    ]),
  );
  ok(down >= 3.4 && down <= 4.6, `20 MiB down at 5 MiB/s took ${down} s`);

  // The server's own ceiling, with an unlimited client: 4 MiB at 4 MiB/s.
  await using paced = await spawnServer(join(dirs.root, "paced"), ["--max-rate-per-conn", "4M"]);
  const four = join(dirs.local, "four.bin");
  await randomFile(four, 4 * MiB);
  const serverUp = secondsOf(await cli(paced, "upload", four, "--json"));
  ok(serverUp >= 0.75, `4 MiB up with --max-rate-per-conn 4M took ${serverUp} s`);
  const serverDown = secondsOf(
    await cli(paced, "download", "four.bin", "--output", join(dirs.root, "four"), "--json"),
  );
  ok(serverDown >= 0.75, `4 MiB down with --max-rate-per-conn 4M took ${serverDown} s`);
});
