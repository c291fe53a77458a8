/**
 * Builds the single binary with `deno task compile` and runs serve + connect
 * from it. `deno compile` needs its runtime (denort): the test runs when
 * DENORT_BIN is set or the runtime is already cached, and says why it skipped
 * otherwise.
 */
import { equal, match } from "node:assert/strict";
import { join } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { ROOT } from "./_helpers.ts";
import { decodeLenient } from "../lib/base/text.ts";

async function denortAvailable(): Promise<string | null> {
  if (Deno.env.get("DENORT_BIN")) return null;
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  })
    .output();
  const denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir as string;
  const version = Deno.version.deno;
  try {
    for await (const entry of Deno.readDir(join(denoDir, "dl", "release", `v${version}`))) {
      if (entry.name.startsWith("denort")) return null;
    }
  } catch {
    // no cache folder
  }
  return `deno compile needs its runtime (denort ${version}), which is neither in DENORT_BIN nor cached in ${denoDir}`;
}

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
      const task = denoJson.tasks.compile.replace("--output socketkit", `--output ${binary}`);
      const build = await new Deno.Command(Deno.execPath(), {
        args: task.split(" ").slice(1),
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      equal(build.code, 0, new TextDecoder().decode(build.stderr));
      const server = new Deno.Command(binary, {
        args: ["serve", "--services=message", "--tcp-port=0", "--udp-port=0"],
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
