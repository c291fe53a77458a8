/**
 * Getting the command: `deno task install` gives a `socketkit` command that
 * works from any directory, the client tasks keep the caller's directory,
 * and every way of running socketkit carries the same permissions.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { PERMISSIONS } from "../tools/compile.ts";
import { ROOT } from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";

const CONFIG = join(ROOT, "deno.json");

function taskCommand(name: string): string {
  const task = (denoJson.tasks as Record<string, string | { command: string }>)[name]!;
  return typeof task === "string" ? task : task.command;
}

/**
 * Runs a command as from a fresh shell: only PATH and HOME are passed on (a
 * `deno task` started from `deno task test` would otherwise inherit its
 * INIT_CWD, the folder that task was started in, and keep it).
 */
async function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const shell: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["PATH", "HOME", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) shell[name] = value;
  }
  const output = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    clearEnv: true,
    env: { ...shell, ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("tasks: serve, connect, install and compile grant the same permissions", () => {
  for (const name of ["serve", "connect", "install"]) {
    const flags = taskCommand(name).split(/\s+/).filter((word) => /^--(allow|unstable)/.test(word));
    deepStrictEqual(flags.sort(), [...PERMISSIONS].sort(), name);
  }
  match(taskCommand("compile"), /tools\/compile\.ts/);
});

Deno.test("install: 'deno task install' gives a socketkit command that runs from any directory", async () => {
  const root = await Deno.makeTempDir({ prefix: "socketkit-install-" });
  const elsewhere = await Deno.makeTempDir({ prefix: "socketkit-cwd-" });
  try {
    const install = await run(Deno.execPath(), ["task", "install"], {
      cwd: ROOT,
      env: { DENO_INSTALL_ROOT: root },
    });
    equal(install.code, 0, install.stderr);
    const command = join(root, "bin", "socketkit");
    const shim = await Deno.readTextFile(command);
    for (const flag of PERMISSIONS) ok(shim.includes(flag), `${flag} in ${shim}`);
    const version = await run(command, ["--version"], { cwd: elsewhere });
    equal(version.code, 0, version.stderr);
    equal(version.stdout.trim(), `socketkit ${denoJson.version}`);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(elsewhere, { recursive: true });
  }
});

Deno.test("tasks: 'deno task connect' reads and writes relative paths in the caller's directory", async () => {
  await using server = await InProcessServer.start(["--services=files"], ["[File Server]"]);
  const port = `--file-port=${server.port("[File Server]")}`;
  const here = await Deno.makeTempDir({ prefix: "socketkit-cwd-" });
  try {
    await Deno.writeTextFile(join(here, "note.txt"), "hello from the caller's folder\n");
    const task = (args: string[]) =>
      run(Deno.execPath(), ["task", "--config", CONFIG, "connect", ...args], { cwd: here });
    const upload = await task(["upload", "note.txt", port]);
    equal(upload.code, 0, upload.stderr);
    const download = await task(["download", "note.txt", "--output", "copy.txt", port]);
    equal(download.code, 0, download.stderr);
    equal(
      await Deno.readTextFile(join(here, "copy.txt")),
      "hello from the caller's folder\n",
    );
  } finally {
    await Deno.remove(here, { recursive: true });
  }
});
