/** Runs the benchmark runner (bench/run.ts) as `deno task bench` does. */
import { fileURLToPath } from "node:url";
import { ROOT } from "./_helpers.ts";

const RUN = fileURLToPath(new URL("../bench/run.ts", import.meta.url));

/** Runs bench/run.ts with `args`; resolves when it exits. */
export async function bench(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--unstable-net",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      "--allow-sys",
      RUN,
      ...args,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}
