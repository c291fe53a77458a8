/**
 * `deno task compile [--target TARGET] [--output PATH]`: builds the single
 * `socketkit` binary, for this machine or another, with the permissions the
 * `serve`, `connect` and `install` tasks give (PERMISSIONS).
 *
 * `deno compile` needs Deno's runtime for the target (denort). It takes it
 * from DENORT_BIN, or from Deno's cache, or downloads it into the cache. On
 * a machine without internet access, pre-seed the cache (see docs/development.md);
 * this script says where, when the runtime is missing and the build fails.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";

/** What the binary may do: the same flags as the serve, connect and install tasks. */
export const PERMISSIONS = [
  "--unstable-net",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env=SOCKETKIT_TOKEN,SOCKETKIT_REDIS,SOCKETKIT_HOST,SOCKETKIT_TCP_PORT,SOCKETKIT_UDP_PORT,SOCKETKIT_INFO_PORT,SOCKETKIT_CHAT_PORT,SOCKETKIT_FILE_PORT",
  "--allow-ffi",
];

/** The targets `deno compile --target` accepts. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** Options of {@link compileArgs}. */
export interface CompileOptions {
  /** A target triple; default this machine's (Deno.build.target). */
  target?: string;
  /** Where the binary goes; default `socketkit`, or `socketkit-<target>` for another target. */
  output?: string;
}

/**
 * Modules `deno compile` cannot find by following imports, so they are named:
 * Workers' modules and what importLazily loads are named by URL at run time.
 */
export const INCLUDES = [
  // Workers' main modules.
  "lib/net/_udp_batch_worker.ts",
  "lib/files/server/_listing_worker.ts",
  // Modules loaded by importLazily (lib/base/lazy_import.ts), which Deno's
  // analysis does not follow; tests/unit/compile_includes_test.ts keeps this
  // list complete.
  "lib/chat/client/connection.ts",
  "lib/chat/client/mode.ts",
  "lib/chat/cluster/link.ts",
  "lib/chat/server/service.ts",
  "lib/connect.ts",
  "lib/files/client/batch.ts",
  "lib/files/client/delete_folder.ts",
  "lib/files/client/download.ts",
  "lib/files/client/file_client.ts",
  "lib/files/client/mode.ts",
  "lib/files/client/upload.ts",
  "lib/files/server/service.ts",
  "lib/help.ts",
  "lib/info/mode.ts",
  "lib/info/service.ts",
  "lib/menu.ts",
  "lib/message/mode.ts",
  "lib/message/service.ts",
  "lib/net/udp_batch_engine.ts",
  "lib/security/client_tls.ts",
  "lib/security/self_signed.ts",
  "lib/security/self_signed_make.ts",
  "lib/security/token_check.ts",
  "lib/security/udp_request.ts",
  "lib/serve.ts",
  "lib/web/router.ts",
  "lib/web/service.ts",
];

/** The `deno` arguments that build the binary. */
export function compileArgs(options: CompileOptions = {}): string[] {
  const target = options.target ?? Deno.build.target;
  const output = options.output ??
    (target === Deno.build.target ? "socketkit" : `socketkit-${target}`);
  return [
    "compile",
    "--frozen",
    ...PERMISSIONS,
    ...INCLUDES.flatMap((path) => ["--include", path]),
    "--target",
    target,
    "--output",
    output,
    "main.ts",
  ];
}

/** Where `deno compile` keeps the runtime for `target`: pre-seed this file to build offline. */
export function denortCachePath(denoDir: string, target: string, version = Deno.version.deno) {
  return join(denoDir, "dl", "release", `v${version}`, `denort-${target}.zip`);
}

/** Deno's cache folder, as `deno info` reports it. */
export async function denoDir(): Promise<string> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return JSON.parse(new TextDecoder().decode(info.stdout)).denoDir as string;
}

const USAGE = `Usage: deno task compile [--target TARGET] [--output PATH]

Builds the single socketkit binary (./socketkit, or ./socketkit-TARGET for
another target) with the permissions of 'deno task install'.

Targets: ${TARGETS.join(", ")}`;

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        target: { type: "string" },
        output: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : error}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const target = values.target ?? Deno.build.target;
  if (!(TARGETS as readonly string[]).includes(target)) {
    console.error(`error: Unknown target "${target}": expected one of ${TARGETS.join(", ")}`);
    return 2;
  }
  const runtime = Deno.env.get("DENORT_BIN") ?? denortCachePath(await denoDir(), target);
  const cached = await Deno.stat(runtime).then(() => true, () => false);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: compileArgs({ target, ...(values.output ? { output: values.output } : {}) }),
    cwd: join(import.meta.dirname!, ".."),
  }).spawn().status;
  if (code !== 0 && !cached) {
    const version = Deno.version.deno;
    console.error(
      `\nThe Deno runtime for ${target} (denort ${version}) is not in ${runtime}.
To build without internet access, on a machine that has it download
  https://dl.deno.land/release/v${version}/denort-${target}.zip
and copy it to that path here (or unpack it and set DENORT_BIN to the denort file).`,
    );
  }
  return code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
