/**
 * Builds the single binary with `deno task compile` (tools/compile.ts) and
 * runs serve + connect from it. `deno compile` needs its runtime (denort):
 * that test runs when DENORT_BIN is set or the runtime is already cached, and
 * says why it skipped otherwise. Where the cache is pre-seeded is tested
 * always, without a download.
 */
import { doesNotMatch, equal, match } from "node:assert/strict";
import { dirname, join } from "node:path";
import { ROOT } from "../_helpers.ts";
import { decodeLenient } from "../../lib/base/text.ts";
import { compileArgs, denoDir, denortCachePath } from "../../tools/compile.ts";

async function denortAvailable(): Promise<string | null> {
  if (Deno.env.get("DENORT_BIN")) return null;
  const cache = denortCachePath(await denoDir(), Deno.build.target);
  const found = await Deno.stat(cache).then(() => true, () => false);
  if (found) return null;
  return `deno compile needs its runtime (denort ${Deno.version.deno}), which is neither in DENORT_BIN nor cached at ${cache}`;
}

Deno.test("compile: a runtime pre-seeded at the documented path is used, not downloaded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "socketkit-denodir-" });
  try {
    const cache = denortCachePath(dir, Deno.build.target);
    await Deno.mkdir(dirname(cache), { recursive: true });
    // Not a real runtime: the build fails unpacking it, which shows it was taken from there.
    await Deno.writeTextFile(cache, "not a zip");
    const env: Record<string, string> = { DENO_DIR: dir, NO_COLOR: "1" };
    const build = await new Deno.Command(Deno.execPath(), {
      args: compileArgs({ output: join(dir, "socketkit") }),
      cwd: ROOT,
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(build.stderr);
    equal(build.code === 0, false);
    // (The fresh DENO_DIR fetches the npm dependencies, as pinned in deno.lock: not the runtime.)
    doesNotMatch(
      stderr,
      /^Download (?!https:\/\/registry\.npmjs\.org\/)/m,
      "no download was tried",
    );
    match(stderr, /zip/i);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const skipReason = await denortAvailable();
if (skipReason) console.log(`skipping the compiled-binary test: ${skipReason}`);

Deno.test({
  name: "compile: the single binary serves and connects",
  ignore: skipReason !== null,
  async fn() {
    const dir = await Deno.makeTempDir();
    const binary = join(dir, "socketkit");
    try {
      // The compile task's own flags, writing to the temporary folder.
      const build = await new Deno.Command(Deno.execPath(), {
        args: compileArgs({ output: binary }),
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      equal(build.code, 0, new TextDecoder().decode(build.stderr));
      const server = new Deno.Command(binary, {
        // --udp-engine batch: fails at start if the engine's worker module was left out.
        args: ["serve", "--services=message", "--tcp-port=0", "--udp-port=0", "--udp-engine=batch"],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      try {
        const text = await readUntil(server.stdout, 2);
        const tcp = text.match(/\[TCP Server\] Listening on 127\.0\.0\.1:(\d+)/)![1]!;
        const udp = text.match(/\[UDP Server\] Listening on 127\.0\.0\.1:(\d+)/)![1]!;
        const client = new Deno.Command(binary, {
          args: ["connect", "--random", `--tcp-port=${tcp}`, `--udp-port=${udp}`],
          stdin: "piped",
          stdout: "piped",
        }).spawn();
        const writer = client.stdin.getWriter();
        await writer.write(new TextEncoder().encode("hello\nexit\n"));
        await writer.close();
        const out = await client.output();
        equal(out.code, 0);
        match(decodeLenient(out.stdout), /Server responded: .*Your message was received!/);
        match(decodeLenient(out.stdout), /Exiting client\.\.\./);
        equal((await server.status).code, 0);
      } finally {
        try {
          server.kill();
        } catch {
          // exited already
        }
        await server.status;
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Reads stdout until it holds `count` lines; the stream is then released. */
async function readUntil(stream: ReadableStream<Uint8Array>, count: number): Promise<string> {
  let text = "";
  const reader = stream.getReader();
  try {
    while (text.split("\n").length <= count) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decodeLenient(value);
    }
  } finally {
    reader.releaseLock();
  }
  void stream.cancel();
  return text;
}
