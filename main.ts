/**
 * socketkit: argv -> serve | connect. The only place that turns an error into
 * a message and an exit code.
 */
import { importLazily } from "./lib/base/lazy_import.ts";
import { EXIT_FAILURE, EXIT_USAGE, RuntimeError, UsageError } from "./lib/base/errors.ts";
import { VERSION } from "./lib/base/version.ts";
import { describeFsError } from "./lib/base/fs_error.ts";

export { VERSION };

const HELP = `socketkit ${VERSION}: TCP and UDP messages, chat, info and files in one binary.

Usage: socketkit <command> [flags]

Commands:
  serve      Run the services (message TCP/UDP, chat, info, files)
  connect    Talk to them: --random, --tcp or --udp (messages), or a mode:
             chat, info, upload, download, files, delete, rename; on a
             terminal with no arguments, a menu
  help       The manuals, offline: 'socketkit help' lists the topics,
             'socketkit help chat' prints one

Flags:
  -h, --help     Show this help and exit
  -V, --version  Print the version and exit

Run 'socketkit <command> --help' for a command's flags, and
'socketkit connect <mode> --help' for a mode's.
`;

/** Runs the CLI with `args`; resolves to the process exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "serve":
        // Loaded on demand, so --version and --help start as fast as Deno does.
        return await (await importLazily<typeof import("./lib/serve.ts")>(
          new URL("./lib/serve.ts", import.meta.url),
        )).serve(rest);
      case "connect":
        return await (await importLazily<typeof import("./lib/connect.ts")>(
          new URL("./lib/connect.ts", import.meta.url),
        )).connect(rest);
      case "-V":
      case "--version":
      case "version":
        console.log(`socketkit ${VERSION}`);
        return 0;
      case "-h":
      case "--help":
        console.log(HELP);
        return 0;
      case "help": {
        if (rest.length > 1) {
          throw new UsageError(`Unexpected argument "${rest[1]}"`, "socketkit help");
        }
        const topic = rest[0];
        if (topic === "-h" || topic === "--help") {
          console.log(HELP);
          return 0;
        }
        const { helpText } = await importLazily<typeof import("./lib/help.ts")>(
          new URL("./lib/help.ts", import.meta.url),
        );
        console.log(helpText(topic).trimEnd());
        return 0;
      }
      case undefined:
        console.error(HELP);
        return EXIT_USAGE;
      default:
        throw new UsageError(`Unknown command "${command}": expected serve, connect or help`);
    }
  } catch (error) {
    return report(error);
  }
}

function report(error: unknown): number {
  if (error instanceof UsageError) {
    console.error(`error: ${error.message}`);
    console.error(`Run '${error.command ?? "socketkit"} --help' for usage.`);
    return EXIT_USAGE;
  }
  if (error instanceof RuntimeError) {
    console.error(`error: ${error.message}`);
    return error.exitCode;
  }
  // A local disk that is full, read-only or refuses us: the user's to fix, in one line.
  const fsFailure = describeFsError(error);
  if (fsFailure !== null) {
    console.error(`error: ${fsFailure}`);
    return EXIT_FAILURE;
  }
  if (error instanceof Deno.errors.NotCapable) {
    console.error(`error: ${error.message.split("\n")[0]}`);
    return EXIT_FAILURE;
  }
  // Not a user's mistake: a bug or an unexpected system error, so keep the stack.
  console.error("error: unexpected failure:", error);
  return EXIT_FAILURE;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
