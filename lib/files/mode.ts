/**
 * `socketkit connect upload|download|files`: flags, help and output of the
 * file client. Results go to stdout (one JSON object each with --json);
 * progress and notes go to stderr.
 */
import { basename } from "node:path";
import { RuntimeError, UsageError } from "../base/errors.ts";
import { type CommandSpec, formatHelp, type ParsedFlags, parseFlags } from "../base/flags.ts";
import { formatBytes } from "../base/progress.ts";
import { printable } from "../base/text.ts";
import {
  CLIENT_SECURITY_FLAGS,
  type ClientSecurity,
  securityFor,
} from "../security/client_settings.ts";
import type { ModeContext } from "../service.ts";
import { FILE_PORT } from "./config.ts";
import { FileClient } from "./file_client.ts";
import { nameRefusal, quoteName } from "./names.ts";
import type { FileEntry } from "./protocol.ts";
import { downloadFile, type TransferSummary, uploadFile } from "./transfer.ts";

const SERVER_FLAGS = {
  host: { type: "string", value: "HOST", default: "127.0.0.1", help: "Server address" },
  "file-port": {
    type: "string",
    value: "PORT",
    default: String(FILE_PORT),
    help: "File service port",
  },
  json: { type: "boolean", help: "Print one JSON object per result and nothing else on stdout" },
  ...CLIENT_SECURITY_FLAGS,
} as const;

export const UPLOAD_SPEC: CommandSpec = {
  name: "socketkit connect upload",
  usage: ["socketkit connect upload PATH [--name NAME] [--force] [flags]"],
  summary: "Upload a file to the file service, verified with SHA-256; an interrupted upload " +
    "resumes when run again.",
  maxPositionals: 1,
  flags: {
    name: { type: "string", value: "NAME", help: "Name on the server (default: PATH's file name)" },
    force: { type: "boolean", help: "Replace a file of the same name on the server" },
    ...SERVER_FLAGS,
  },
  notes: `A progress bar is drawn on stderr when it is a terminal; otherwise only the
summary (size, time, rate, SHA-256) is printed.

Examples:
  socketkit connect upload ./report.pdf
  socketkit connect upload ./build/app.tar.gz --name app-1.2.tar.gz --force`,
};

export const DOWNLOAD_SPEC: CommandSpec = {
  name: "socketkit connect download",
  usage: ["socketkit connect download NAME [--output PATH] [--force] [flags]"],
  summary: "Download a file from the file service, verified with SHA-256; an interrupted " +
    "download resumes when run again.",
  maxPositionals: 1,
  flags: {
    output: {
      type: "string",
      value: "PATH",
      help: "File to write, or a directory to write NAME in (default: ./NAME)",
    },
    force: { type: "boolean", help: "Replace the output file if it exists" },
    ...SERVER_FLAGS,
  },
  notes: `The bytes go to a hidden ".NAME.socketkit-part" file beside the output, renamed
into place only once complete and verified; run the same command again after an
interruption to continue where it stopped.

Examples:
  socketkit connect download report.pdf
  socketkit connect download app-1.2.tar.gz --output /tmp/ --host 192.168.1.20`,
};

export const FILES_SPEC: CommandSpec = {
  name: "socketkit connect files",
  usage: ["socketkit connect files [flags]"],
  summary: "List the files on the file service: size, modification time, SHA-256 and name.",
  flags: { ...SERVER_FLAGS },
  notes: `Examples:
  socketkit connect files
  socketkit connect files --json`,
};

/** `connect upload`. */
export async function uploadMode(args: string[], context: ModeContext): Promise<number> {
  const parsed = parseFlags(UPLOAD_SPEC, args);
  if (parsed.help) return help(UPLOAD_SPEC);
  const path = parsed.positionals[0];
  if (path === undefined) throw new UsageError("Missing the PATH to upload", UPLOAD_SPEC.name);
  const given = parsed.optional("name");
  const name = given ?? basename(path);
  const why = nameRefusal(name);
  if (why !== null) {
    const hint = given !== undefined ? "" : "; choose a name on the server with --name";
    throw new RuntimeError(`Name ${quoteName(name)} refused: ${why}${hint}`);
  }
  const json = parsed.boolean("json");
  const result = await uploadFile(path, name, {
    ...server(parsed, context),
    force: parsed.boolean("force"),
    note,
  });
  printSummary(result, json);
  return 0;
}

/** `connect download`. */
export async function downloadMode(args: string[], context: ModeContext): Promise<number> {
  const parsed = parseFlags(DOWNLOAD_SPEC, args);
  if (parsed.help) return help(DOWNLOAD_SPEC);
  const name = parsed.positionals[0];
  if (name === undefined) {
    throw new UsageError("Missing the NAME to download", DOWNLOAD_SPEC.name);
  }
  const output = parsed.optional("output") ?? name;
  const result = await downloadFile(name, output, {
    ...server(parsed, context),
    force: parsed.boolean("force"),
    note,
  });
  printSummary(result, parsed.boolean("json"));
  return 0;
}

/** `connect files`. */
export async function filesMode(args: string[], context: ModeContext): Promise<number> {
  const parsed = parseFlags(FILES_SPEC, args);
  if (parsed.help) return help(FILES_SPEC);
  const { host, port, security } = server(parsed, context);
  using client = await FileClient.connect(host, port, security);
  const files = await client.list();
  if (parsed.boolean("json")) {
    console.log(JSON.stringify({ server: client.where, files: files.map(toJson) }));
  } else {
    console.log(formatListing(files, client.where));
  }
  return 0;
}

/** The human listing: one row per file, the name last (it may hold spaces). */
export function formatListing(files: FileEntry[], where: string): string {
  if (files.length === 0) return `No files on ${where}`;
  const rows = files.map((file) =>
    [
      formatBytes(file.size).padStart(10),
      new Date(file.mtimeMs).toISOString().slice(0, 19).replace("T", " "),
      (file.sha256 ?? "-").padEnd(64),
      printable(file.name),
    ].join("  ")
  );
  const header = ["SIZE".padStart(10), "MODIFIED (UTC)".padEnd(19), "SHA-256".padEnd(64), "NAME"]
    .join("  ");
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const count = `${files.length} file${files.length === 1 ? "" : "s"}, ${formatBytes(total)}`;
  return [header, ...rows, count].join("\n");
}

function toJson(file: FileEntry) {
  return {
    name: file.name,
    size: file.size,
    modified: new Date(file.mtimeMs).toISOString(),
    mtimeMs: file.mtimeMs,
    sha256: file.sha256,
  };
}

function printSummary(result: TransferSummary, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(result));
    return;
  }
  const verb = result.action === "upload" ? "Uploaded" : "Downloaded";
  const where = result.action === "upload"
    ? `${printable(result.path)} as "${printable(result.name)}"`
    : `"${printable(result.name)}" to ${printable(result.path)}`;
  const resumed = result.resumedFrom > 0
    ? ` (resumed from byte ${result.resumedFrom}; ${formatBytes(result.transferred)} sent)`
    : "";
  console.log(
    `${verb} ${where}: ${formatBytes(result.size)} in ${result.seconds.toFixed(2)} s, ` +
      `${formatBytes(result.bytesPerSecond)}/s${resumed}, SHA-256 ${result.sha256}`,
  );
}

function server(
  parsed: ParsedFlags,
  context: ModeContext,
): { host: string; port: number; security: ClientSecurity } {
  return {
    host: parsed.string("host"),
    port: parsed.port("file-port"),
    security: securityFor(parsed, context),
  };
}

function note(line: string): void {
  console.error(printable(line));
}

function help(spec: CommandSpec): number {
  console.log(formatHelp(spec));
  return 0;
}
