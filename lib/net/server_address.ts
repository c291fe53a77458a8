/**
 * Where a client mode dials: `--host HOST[:PORT]` (or $SOCKETKIT_HOST) and
 * the mode's port flag (or its environment variable), read one way by every
 * mode.
 */
import { UsageError } from "../base/errors.ts";
import type { FlagSpec, ParsedFlags } from "../base/flags.ts";

/**
 * Splits "HOST", "HOST:PORT", "[IPV6]:PORT" or "[IPV6]"; an address with
 * more than one colon and no brackets ("::1", "fe80::1") is a host alone.
 * The port is returned as typed (checked by the caller).
 */
export function splitHostPort(value: string): { host: string; port?: string } {
  const bracketed = value.match(/^\[([^\]]*)\](?::(.*))?$/);
  if (bracketed) {
    return bracketed[2] === undefined
      ? { host: bracketed[1]! }
      : { host: bracketed[1]!, port: bracketed[2] };
  }
  const colon = value.indexOf(":");
  if (colon === -1 || value.indexOf(":", colon + 1) !== -1) return { host: value };
  return { host: value.slice(0, colon), port: value.slice(colon + 1) };
}

/**
 * The host and port a mode dials: the host from --host, and the port from
 * --host HOST:PORT when it holds one, else from `portFlag` (command line,
 * environment variable, default). Throws UsageError for an empty host, a bad
 * port, a port in $SOCKETKIT_HOST (it serves every mode, each with its own
 * port), or a --host port that contradicts the port flag given beside it.
 */
export function serverAddress(
  flags: ParsedFlags,
  portFlag: string,
): { host: string; port: number } {
  const { host, port } = splitHostPort(flags.string("host"));
  if (host === "") {
    throw new UsageError(
      `Invalid value "${flags.string("host")}" for ${
        flags.origin("host")
      }: expected HOST or HOST:PORT`,
      flags.command,
    );
  }
  if (port === undefined) return { host, port: flags.port(portFlag) };
  if (flags.source("host") === "env") {
    throw new UsageError(
      `${flags.origin("host")} is "${
        flags.string("host")
      }": give the host alone; each mode has its own port (--${portFlag})`,
      flags.command,
    );
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new UsageError(
      `Invalid port "${port}" in --host ${flags.string("host")}: expected a port from 1 to 65535`,
      flags.command,
    );
  }
  const dialled = Number(port);
  if (flags.source(portFlag) === "argv" && flags.port(portFlag) !== dialled) {
    throw new UsageError(
      `--host ${flags.string("host")} and --${portFlag} ${
        flags.string(portFlag)
      } name different ports: give one`,
      flags.command,
    );
  }
  return { host, port: dialled };
}

/** Every client mode's --host. */
export const HOST_FLAG: FlagSpec = {
  type: "string",
  value: "HOST[:PORT]",
  default: "127.0.0.1",
  env: "SOCKETKIT_HOST",
  help: "Server address; HOST:PORT also gives the port",
};

/** A client mode's port flag, e.g. "file-port", defaulting to $SOCKETKIT_FILE_PORT, else `port`. */
export function portFlag(flag: string, port: number, help: string): FlagSpec {
  return {
    type: "string",
    value: "PORT",
    default: String(port),
    env: `SOCKETKIT_${flag.toUpperCase().replaceAll("-", "_")}`,
    help,
  };
}
