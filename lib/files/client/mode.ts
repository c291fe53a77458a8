/**
 * `socketkit connect upload|download|files|delete|rename`: flags, help and
 * the run of each command of the file client; how results read is
 * report.ts. Results go to stdout (one JSON object with --json); progress
 * and notes go to stderr. A download to standard output (`--output -`)
 * puts nothing but the file's bytes on stdout.
 */
import { importLazily } from "../../base/lazy_import.ts";
import { RuntimeError, UsageError } from "../../base/errors.ts";
import { type CommandSpec, formatHelp, type ParsedFlags, parseFlags } from "../../base/flags.ts";
import { Progress } from "../../base/progress.ts";
import { printable } from "../../base/text.ts";
import {
  CLIENT_SECURITY_FLAGS,
  type ClientSecurity,
  securityFor,
} from "../../security/client_settings.ts";
import { HOST_FLAG, portFlag, serverAddress } from "../../net/server_address.ts";
import type { ModeContext } from "../../service.ts";
import { FILE_PORT, readRate } from "../config.ts";
import type { FileSession } from "./file_client.ts";
import { outputColumns } from "../../base/wrap.ts";
import { ListingWriter, SHORT_DIGEST } from "./listing.ts";
import { describe, printBatch, printResult, toJson } from "./report.ts";
import { TextOutput } from "../../base/text_output.ts";
import { canonicalName, checkName, quoteName } from "../names.ts";
import type { TransferOptions } from "./transfer.ts";

const SERVER_FLAGS = {
  host: HOST_FLAG,
  "file-port": portFlag("file-port", FILE_PORT, "File service port"),
  json: {
    type: "boolean",
    help: "Print one JSON object with the result and nothing else on stdout",
  },
  ...CLIENT_SECURITY_FLAGS,
} as const;

const LIMIT_RATE = {
  "limit-rate": {
    type: "string",
    value: "RATE",
    default: "0",
    help: "Move at most this many bytes per second, e.g. 500K or 10M (0: no limit)",
  },
} as const;

/** Paths that mean standard input (Deno opens /dev and /proc only with --allow-all). */
const STDIN_PATHS = ["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"];

/** Exit code after Ctrl-C, as shells report a process ended by SIGINT. */
const EXIT_INTERRUPTED = 130;

export const UPLOAD_SPEC: CommandSpec = {
  name: "socketkit connect upload",
  usage: [
    "socketkit connect upload PATH... [--name NAME] [--force] [flags]",
    "socketkit connect upload - --name NAME [flags]        (standard input)",
  ],
  summary: "Upload files and folders to the file service, verified with SHA-256; run the " +
    "same command again after an interruption and it finishes the job.",
  maxPositionals: Number.MAX_SAFE_INTEGER,
  flags: {
    name: {
      type: "string",
      value: "NAME",
      help: "Name on the server of the one PATH (default: its base name); may hold folders, a/b",
    },
    force: { type: "boolean", help: "Replace files of the same name on the server" },
    ...LIMIT_RATE,
    ...SERVER_FLAGS,
  },
  notes: `A folder is sent with everything in it as FOLDER/...; hidden entries (a name
starting with ".") and symlinks inside it are left out, and said so on stderr.
Files the server already holds with the same SHA-256 are skipped; an upload
that was interrupted continues where it stopped. With "-" (or /dev/stdin) the
bytes come from standard input, of any length; such an upload cannot resume,
and nothing is kept of one that is cut short.

One progress display on stderr when it is a terminal; one line per file on
stdout, then the total (with --json: one object).

Examples:
  socketkit connect upload ./report.pdf
  socketkit connect upload ./photos ./notes.txt --limit-rate 2M
  tar c ./project | socketkit connect upload - --name project.tar`,
};

export const DOWNLOAD_SPEC: CommandSpec = {
  name: "socketkit connect download",
  usage: [
    "socketkit connect download NAME... [--output PATH] [--force] [flags]",
    "socketkit connect download NAME --output - [flags]     (standard output)",
  ],
  summary: "Download files and folders from the file service, verified with SHA-256; run the " +
    "same command again after an interruption and it finishes the job.",
  maxPositionals: Number.MAX_SAFE_INTEGER,
  flags: {
    output: {
      type: "string",
      value: "PATH",
      help:
        "One file: the file to write, or a folder to write it in (default: ./its base name); several files or a folder: the folder they go in (default: .); -: standard output",
    },
    force: { type: "boolean", help: "Replace output files that exist and differ" },
    ...LIMIT_RATE,
    ...SERVER_FLAGS,
  },
  notes: `A NAME that is a folder on the server brings every file in it, keeping the
folders. The bytes go to a hidden ".NAME.socketkit-part" file beside the output,
renamed into place only once complete and verified; run the same command again
after an interruption to continue where it stopped. Output files that are
already identical (same SHA-256) are skipped.

With --output - the file's bytes go to standard output and nothing else does;
the digest is checked at the end (exit 1 if it does not match), and such a
download cannot resume.

Examples:
  socketkit connect download report.pdf
  socketkit connect download photos notes.txt --output ./backup
  socketkit connect download project.tar --output - | tar x`,
};

export const FILES_SPEC: CommandSpec = {
  name: "socketkit connect files",
  usage: ["socketkit connect files [--prefix FOLDER] [flags]"],
  summary: "List the files on the file service, in every folder: name, size, modification " +
    "time and SHA-256.",
  flags: {
    prefix: { type: "string", value: "FOLDER", help: "Only the files in this folder (and below)" },
    long: {
      type: "boolean",
      help: "Exact sizes in bytes, times to the second and the whole SHA-256",
    },
    ...SERVER_FLAGS,
  },
  notes: `The table fits the terminal: the first ${SHORT_DIGEST} hex digits of each SHA-256, sizes
in KiB, MiB...; --long and --json give the whole digest and exact sizes.

Examples:
  socketkit connect files
  socketkit connect files --prefix photos/2024 --json`,
};

export const DELETE_SPEC: CommandSpec = {
  name: "socketkit connect delete",
  usage: ["socketkit connect delete NAME... [--yes] [flags]   (files or folders)"],
  summary: "Delete files and folders on the file service (the server must run with " +
    "--allow-delete). Someone downloading a file meanwhile still gets all of it.",
  maxPositionals: Number.MAX_SAFE_INTEGER,
  flags: {
    yes: { type: "boolean", help: "Delete a FOLDER and everything in it without asking" },
    ...SERVER_FLAGS,
  },
  notes: `A FOLDER is deleted with every file in it, one by one, after a question on the
terminal ("Delete the folder "photos" and its 3 files, 4.2 MiB? [y/N]"), or at
once with --yes. Without a terminal to ask on, a FOLDER needs --yes (exit 2).

Examples:
  socketkit connect delete old-report.pdf
  socketkit connect delete photos/2019 --yes
  socketkit connect delete photos/a.jpg photos/b.jpg --host files.example --tls`,
};

export const RENAME_SPEC: CommandSpec = {
  name: "socketkit connect rename",
  usage: ["socketkit connect rename OLD NEW [flags]"],
  summary: "Rename a file on the file service (the server must run with --allow-delete); " +
    "NEW must not exist yet.",
  maxPositionals: 2,
  flags: { ...SERVER_FLAGS },
  notes: `NEW may put the file in another folder (made as needed).

Examples:
  socketkit connect rename draft.txt final.txt
  socketkit connect rename report.pdf archive/2024/report.pdf`,
};

/** `connect upload`. */
export async function uploadMode(args: string[], context: ModeContext): Promise<number> {
  const parsed = parseFlags(UPLOAD_SPEC, args);
  if (parsed.help) return help(UPLOAD_SPEC);
  const paths = parsed.positionals;
  if (paths.length === 0) {
    throw new UsageError("Missing the PATH to upload (- for standard input)", UPLOAD_SPEC.name);
  }
  const given = parsed.optional("name");
  if (given !== undefined && paths.length > 1) {
    throw new UsageError("--name names one PATH; several were given", UPLOAD_SPEC.name);
  }
  const json = parsed.boolean("json");
  const options = transferOptions(parsed);
  const { uploadStream } = await importLazily<typeof import("./upload.ts")>(
    new URL("./upload.ts", import.meta.url),
  );
  const { planUpload, runUploads } = await importLazily<typeof import("./batch.ts")>(
    new URL("./batch.ts", import.meta.url),
  );
  using session = await openSession(parsed, context);
  if (paths.some((path) => STDIN_PATHS.includes(path))) {
    if (paths.length > 1) {
      throw new UsageError("Standard input (-) cannot be sent with other PATHs", UPLOAD_SPEC.name);
    }
    if (given === undefined) {
      throw new UsageError(
        "Give the name on the server with --name when uploading standard input",
        UPLOAD_SPEC.name,
      );
    }
    const name = checkedName(given);
    if (Deno.stdin.isTerminal()) {
      throw new RuntimeError(
        "Standard input is a terminal: pipe the data in, e.g. tar c ./dir | socketkit connect upload - --name dir.tar",
      );
    }
    const result = await interruptible(
      session,
      "an upload from standard input cannot resume: nothing was kept on the server",
      (stopped) =>
        withBar(name, null, (bar) =>
          uploadStream(session, Deno.stdin, name, {
            ...options,
            ...bar,
            beforeCommit: async () => !(await stopped()),
          })),
    );
    printResult(result, json, console.log);
    return 0;
  }
  if (given !== undefined) checkedName(given);
  const plan = await planUpload(paths, given);
  for (const { path, why } of plan.left) note(`Left out ${printable(path)} (${why})`);
  const summary = await interruptible(
    session,
    "run the same command again to resume: files already on the server are skipped and the one cut short continues where it stopped",
    () =>
      runUploads(session, plan, {
        ...options,
        onFile: (result) => plan.batch && !json && console.log(describe(result)),
        onRefused: (refused) => note(`Refused ${refused.path}: ${refused.message}`),
      }),
  );
  printBatch(summary, plan.batch, json);
  refusedAny(summary);
  return 0;
}

/** `connect download`. */
export async function downloadMode(args: string[], context: ModeContext): Promise<number> {
  const parsed = parseFlags(DOWNLOAD_SPEC, args);
  if (parsed.help) return help(DOWNLOAD_SPEC);
  const names = parsed.positionals;
  if (names.length === 0) {
    throw new UsageError("Missing the NAME to download", DOWNLOAD_SPEC.name);
  }
  const output = parsed.optional("output");
  const json = parsed.boolean("json");
  const options = transferOptions(parsed);
  const { downloadStream } = await importLazily<typeof import("./download.ts")>(
    new URL("./download.ts", import.meta.url),
  );
  const { planDownload, runDownloads } = await importLazily<typeof import("./batch.ts")>(
    new URL("./batch.ts", import.meta.url),
  );
  using session = await openSession(parsed, context);
  if (output === "-") {
    if (names.length > 1) {
      throw new UsageError("--output - takes one NAME", DOWNLOAD_SPEC.name);
    }
    if (json) {
      throw new UsageError(
        "--json cannot share standard output with the file's bytes (--output -)",
        DOWNLOAD_SPEC.name,
      );
    }
    if (Deno.stdout.isTerminal()) {
      throw new RuntimeError(
        "Standard output is a terminal: pipe it (| tar x, > file) or use --output FILE; a file's bytes are not shown on a terminal",
      );
    }
    const name = checkedName(names[0]!);
    const result = await interruptible(
      session,
      "a download to standard output cannot resume (--output FILE can)",
      () =>
        withBar(
          name,
          undefined,
          (bar) => downloadStream(session, name, Deno.stdout, { ...options, ...bar }),
        ),
    );
    printResult(result, false, console.error);
    return 0;
  }
  const summary = await interruptible(
    session,
    "run the same command again to resume: finished files are skipped and the one cut short continues from its .socketkit-part file",
    async () => {
      const plan = await planDownload(session, names, output);
      const result = await runDownloads(session, plan, {
        ...options,
        onFile: (file) => plan.batch && !json && console.log(describe(file)),
        onRefused: (refused) => note(`Refused ${refused.name}: ${refused.message}`),
      });
      return { result, batch: plan.batch };
    },
  );
  printBatch(summary.result, summary.batch, json);
  refusedAny(summary.result);
  return 0;
}

/** `connect files`. */
export async function filesMode(args: string[], context: ModeContext): Promise<number> {
  const parsed = parseFlags(FILES_SPEC, args);
  if (parsed.help) return help(FILES_SPEC);
  const given = parsed.optional("prefix");
  const prefix = given === undefined ? null : checkedName(given.replace(/\/+$/, ""));
  using session = await openSession(parsed, context);
  const client = await session.client();
  // Printed as it arrives (a listing of 100,000 files never sits in memory),
  // as the same text, or the same JSON object, as all at once would be.
  await using out = new TextOutput(Deno.stdout);
  const json = parsed.boolean("json");
  if (json) out.write(JSON.stringify({ server: client.where, prefix }).slice(0, -1) + ',"files":[');
  const table = new ListingWriter(
    client.where,
    prefix,
    { long: parsed.boolean("long"), columns: outputColumns() },
    (text) => out.write(text),
  );
  let count = 0;
  for await (const file of client.listing(prefix)) {
    if (json) out.write((count > 0 ? "," : "") + JSON.stringify(toJson(file)));
    else table.add(file);
    count++;
    await out.flushed();
    if (out.gone) return 0; // `connect files | head`: the reader has what it wanted
  }
  if (json) out.write("]}\n");
  else table.end();
  return 0;
}

/** `connect delete`. */
export async function deleteMode(args: string[], context: ModeContext): Promise<number> {
  const parsed = parseFlags(DELETE_SPEC, args);
  if (parsed.help) return help(DELETE_SPEC);
  if (parsed.positionals.length === 0) {
    throw new UsageError("Missing the NAME to delete", DELETE_SPEC.name);
  }
  const names = parsed.positionals.map(checkedName);
  const json = parsed.boolean("json");
  using session = await openSession(parsed, context);
  const client = await session.client();
  const { deleteNameOrFolder, describeDeleted } = await importLazily<
    typeof import("./delete_folder.ts")
  >(new URL("./delete_folder.ts", import.meta.url));
  const options = {
    yes: parsed.boolean("yes"),
    confirm: context.menu?.confirm ??
      (Deno.stdin.isTerminal() ? askYes : null),
    command: DELETE_SPEC.name,
  };
  const deleted: string[] = [];
  const folders: string[] = [];
  for (const name of names) {
    const outcome = await deleteNameOrFolder(client, name, options);
    if (outcome.kind === "file") deleted.push(name);
    if (outcome.kind === "folder") {
      folders.push(name);
      deleted.push(...outcome.files.map((file) => file.name));
    }
    if (!json) console.log(describeDeleted(outcome));
  }
  if (json) console.log(JSON.stringify({ server: client.where, deleted, folders }));
  return 0;
}

/** `connect rename`. */
export async function renameMode(args: string[], context: ModeContext): Promise<number> {
  const parsed = parseFlags(RENAME_SPEC, args);
  if (parsed.help) return help(RENAME_SPEC);
  const [from, to] = parsed.positionals;
  if (from === undefined || to === undefined) {
    throw new UsageError("Expected OLD and NEW names", RENAME_SPEC.name);
  }
  const old = checkedName(from);
  const renamed = checkedName(to);
  using session = await openSession(parsed, context);
  const client = await session.client();
  await client.move(old, renamed);
  if (parsed.boolean("json")) {
    console.log(JSON.stringify({ server: client.where, from: old, to: renamed }));
  } else {
    console.log(`Renamed ${quoteName(old)} to ${quoteName(renamed)}`);
  }
  return 0;
}

/**
 * A yes-or-no question on the terminal (asked on stderr, so stdout stays the
 * result); true only for "y" or "yes". A terminal hands over one line a read.
 */
async function askYes(question: string): Promise<boolean> {
  Deno.stderr.writeSync(new TextEncoder().encode(question));
  const buffer = new Uint8Array(1024);
  const n = await Deno.stdin.read(buffer);
  if (n === null) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  const answer = n === null ? "" : new TextDecoder().decode(buffer.subarray(0, n));
  return /^y(es)?$/i.test(answer.trim());
}

/** A name typed by the user, in NFC, checked as the server will. Throws RuntimeError. */
function checkedName(given: string): string {
  const name = canonicalName(given);
  checkName(name);
  return name;
}

function transferOptions(parsed: ParsedFlags): Omit<TransferOptions, "onStart" | "onBytes"> {
  return {
    force: parsed.boolean("force"),
    limitRate: readRate(parsed, "limit-rate"),
    note,
  };
}

/**
 * A progress display for one stream (total null: unknown), handed to `run`
 * as the transfer's onStart/onBytes.
 */
async function withBar<T>(
  label: string,
  total: number | null | undefined,
  run: (bar: Pick<TransferOptions, "onStart" | "onBytes">) => Promise<T>,
): Promise<T> {
  let progress: Progress | null = null;
  let done = 0;
  try {
    return await run({
      onStart: (_resumed, size) => {
        progress = new Progress({ label: quoteName(label), total: total ?? size });
      },
      onBytes: (bytes) => {
        done += bytes;
        progress?.update(done);
      },
    });
  } finally {
    (progress as Progress | null)?.finish();
  }
}

/**
 * Runs a transfer that Ctrl-C stops cleanly: the connection is closed, the
 * progress line cleared, and the error says `hint` (what a re-run does),
 * with exit code 130. `run` gets `stopped()`, which resolves to whether
 * Ctrl-C came (after giving a signal that is on its way a moment to land:
 * a pipe whose writer was killed by the same Ctrl-C ends first).
 */
async function interruptible<T>(
  session: FileSession,
  hint: string,
  run: (stopped: () => Promise<boolean>) => Promise<T>,
): Promise<T> {
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    session.close();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  const stopped = async () => {
    await new Promise((resolve) => setTimeout(resolve, 50));
    return interrupted;
  };
  try {
    return await run(stopped);
  } catch (error) {
    if (interrupted) {
      throw new RuntimeError(`Interrupted; ${hint}`, { exitCode: EXIT_INTERRUPTED });
    }
    throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

/**
 * The client's connection code loads here, and a transfer's (hashing, the
 * file system) in the modes that transfer, not with the flags: so every
 * mode's --help, and files, delete and rename, start fast.
 */
async function openSession(parsed: ParsedFlags, context: ModeContext): Promise<FileSession> {
  const { host, port, security } = server(parsed, context);
  const { FileSession } = await importLazily<typeof import("./file_client.ts")>(
    new URL("./file_client.ts", import.meta.url),
  );
  return new FileSession(host, port, security);
}

function server(
  parsed: ParsedFlags,
  context: ModeContext,
): { host: string; port: number; security: ClientSecurity } {
  return {
    ...serverAddress(parsed, "file-port"),
    security: securityFor(parsed, context),
  };
}

/** A batch in which some files were refused (each named on stderr) ends with exit status 1. */
function refusedAny(summary: { refused: unknown[]; count: number }): void {
  const refused = summary.refused.length;
  if (refused === 0) return;
  throw new RuntimeError(
    `${refused} of ${
      refused + summary.count
    } files were refused (each is named above); the others were done`,
  );
}

function note(line: string): void {
  console.error(printable(line));
}

function help(spec: CommandSpec): number {
  console.log(formatHelp(spec));
  return 0;
}
