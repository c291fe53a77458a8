/** The file service's own flags of `socketkit serve`, and the rate flags both ends read. */
import { UsageError } from "../base/errors.ts";
import { type FlagSpec, type ParsedFlags, parseSize } from "../base/flags.ts";

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
  /** Of those, from one address. */
  maxTransfersPerIp: number;
  /** Milliseconds an interrupted upload is kept for resuming; 0 keeps it forever. */
  keepPartial: number;
  /** Bytes kept in interrupted uploads before the oldest go; 0: no limit. */
  maxPartial: number;
  /** Bytes the whole store may hold (files and uploads in progress); 0: no limit. */
  maxDirSize: number;
  /** DEL and MOVE are served (--allow-delete). */
  allowDelete: boolean;
  /** Bytes per second one connection's transfer may move; 0: no limit. */
  maxRatePerConn: number;
  /** Bytes per second a transfer must average over each window; 0: no floor. */
  minRate: number;
  /** That window, in milliseconds. */
  minRateWindow: number;
  /** Milliseconds from a request line's first byte to its newline. */
  requestTimeout: number;
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
  "max-dir-size": {
    type: "string",
    value: "SIZE",
    default: "0",
    help: "Bytes the file store may hold, uploads in progress included (0: no limit)",
  },
  "max-transfers": {
    type: "string",
    value: "N",
    default: "16",
    help: "File uploads and downloads running at once; more are refused as busy",
  },
  "max-transfers-per-ip": {
    type: "string",
    value: "N",
    default: "4",
    help: "Of those, running at once from one address",
  },
  "keep-partial": {
    type: "string",
    value: "TIME",
    default: "24h",
    help: "Keep an interrupted upload this long so it can resume (0: forever)",
  },
  "max-partial": {
    type: "string",
    value: "SIZE",
    default: "4GiB",
    help: "Bytes kept in interrupted uploads; past it the oldest are deleted (0: no limit)",
  },
  "allow-delete": {
    type: "boolean",
    help: "Let clients delete and rename files (with a token: authenticated clients only)",
  },
  "max-rate-per-conn": {
    type: "string",
    value: "RATE",
    default: "0",
    help: "Bytes per second one file transfer may move, e.g. 10M (0: no limit)",
  },
  "min-rate": {
    type: "string",
    value: "RATE",
    default: "1K",
    help: "End a file transfer slower than this over --min-rate-window (0: never)",
  },
  "min-rate-window": {
    type: "string",
    value: "TIME",
    default: "30s",
    help: "Window over which --min-rate is measured",
  },
  "request-timeout": {
    type: "string",
    value: "TIME",
    default: "10s",
    help: "Time a file request line may take from its first byte to its end",
  },
};

/** Reads the file flags; throws UsageError on bad values. */
export function parseFilesConfig(flags: ParsedFlags): FilesConfig {
  const config: FilesConfig = {
    port: flags.port("file-port"),
    dir: flags.string("files-dir"),
    maxFileSize: flags.size("max-file-size", 0),
    maxDirSize: flags.size("max-dir-size", 0),
    maxTransfers: flags.integer("max-transfers", 1),
    maxTransfersPerIp: flags.integer("max-transfers-per-ip", 1),
    keepPartial: flags.duration("keep-partial"),
    maxPartial: flags.size("max-partial", 0),
    allowDelete: flags.boolean("allow-delete"),
    maxRatePerConn: readRate(flags, "max-rate-per-conn"),
    minRate: readRate(flags, "min-rate"),
    minRateWindow: flags.duration("min-rate-window"),
    requestTimeout: flags.duration("request-timeout"),
  };
  if (config.maxRatePerConn > 0 && config.maxRatePerConn < config.minRate) {
    throw new UsageError(
      `--max-rate-per-conn ${flags.string("max-rate-per-conn")} is below --min-rate ${
        flags.string("min-rate")
      }: every transfer would be ended as too slow`,
      flags.command,
    );
  }
  if (config.minRate > 0 && config.minRateWindow === 0) {
    throw new UsageError(
      "--min-rate-window must be longer than 0 (or turn the floor off with --min-rate 0)",
      flags.command,
    );
  }
  if (config.requestTimeout === 0) {
    throw new UsageError("--request-timeout must be longer than 0", flags.command);
  }
  return config;
}

/**
 * A rate flag (--limit-rate, --max-rate-per-conn, --min-rate): bytes per
 * second as a size, "10M" or "10M/s" (K, M, G are powers of 1024); 0: none.
 */
export function readRate(flags: ParsedFlags, name: string): number {
  const value = flags.string(name);
  try {
    return parseSize(name, value.replace(/\/s$/i, ""), 0);
  } catch {
    throw new UsageError(
      `Invalid value "${value}" for --${name}: expected bytes per second, like 500K, 10M or 10M/s (0: no limit)`,
      flags.command,
    );
  }
}
