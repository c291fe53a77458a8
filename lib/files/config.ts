/** The file service's own flags of `socketkit serve`. */
import type { FlagSpec, ParsedFlags } from "../base/flags.ts";

/** Where the file service listens unless told otherwise. */
export const FILE_PORT = 9003;

/** The file service's settings after flag parsing. */
export interface FilesConfig {
  port: number;
  /** --files-dir, created if missing. */
  dir: string;
  /** Largest file the service accepts, in bytes. */
  maxFileSize: number;
  /** Uploads and downloads running at once. */
  maxTransfers: number;
  /** Milliseconds an interrupted upload is kept for resuming; 0 keeps it forever. */
  keepPartial: number;
}

/** The file rows of SERVE_SPEC's flag table. */
export const FILE_FLAGS: Record<string, FlagSpec> = {
  "file-port": {
    type: "string",
    value: "PORT",
    default: String(FILE_PORT),
    help: "File service port",
  },
  "files-dir": {
    type: "string",
    value: "DIR",
    default: "./socketkit-files",
    help: "Directory the file service stores files in (created if missing)",
  },
  "max-file-size": {
    type: "string",
    value: "SIZE",
    default: "4GiB",
    help: "Largest file the file service accepts",
  },
  "max-transfers": {
    type: "string",
    value: "N",
    default: "16",
    help: "File uploads and downloads running at once; more are refused as busy",
  },
  "keep-partial": {
    type: "string",
    value: "TIME",
    default: "24h",
    help: "Keep an interrupted upload this long so it can resume (0: forever)",
  },
};

/** Reads the file flags; throws UsageError on bad values. */
export function parseFilesConfig(flags: ParsedFlags): FilesConfig {
  return {
    port: flags.port("file-port"),
    dir: flags.string("files-dir"),
    maxFileSize: flags.size("max-file-size", 0),
    maxTransfers: flags.integer("max-transfers", 1),
    keepPartial: flags.duration("keep-partial"),
  };
}
