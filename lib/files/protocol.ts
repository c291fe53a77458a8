/**
 * The file service's wire protocol, shared by server, client and tests. One
 * request line, one reply line, and raw bytes where there are bytes; see
 * docs/files.md for the full description.
 *
 *   LIST                      -> OK <count>, then <count> entry lines
 *   STAT <name>               -> OK <size> <mtime-ms> <sha256|->
 *   GET <offset> <name>       -> OK <size> <mtime-ms> <sha256|->, bytes offset..size,
 *                                then SHA256 <hex of the whole file>
 *   PUT <size> new|force <name> -> READY <offset>; client sends bytes offset..size,
 *                                then SHA256 <hex of the whole file>; -> OK <hex>
 *   any failure               -> ERR <code> <message>
 */

import { printable } from "../base/text.ts";

export const FILE_LABEL = "[File Server]";

/** Read and write size for file and socket I/O: large chunks, few syscalls. */
export const CHUNK_SIZE = 1024 * 1024;

/** Longest request or reply line: a command, two numbers and a 255-byte name fit easily. */
export const MAX_LINE = 1024;

/** Machine-readable error codes, the second word of an ERR line. */
export const ERROR_CODES = [
  "bad-request",
  "bad-name",
  "not-found",
  "not-regular",
  "exists",
  "busy",
  "too-large",
  "bad-offset",
  "verify-failed",
  "no-space",
  "io",
] as const;
export type ErrorCode = typeof ERROR_CODES[number];

/** A parsed request line. */
export type Request =
  | { kind: "list" }
  | { kind: "stat"; name: string }
  | { kind: "get"; offset: number; name: string }
  | { kind: "put"; size: number; force: boolean; name: string };

/** A file as LIST, STAT and GET describe it. */
export interface FileEntry {
  name: string;
  size: number;
  /** Modification time, milliseconds since the epoch. */
  mtimeMs: number;
  /** Hex SHA-256 of the content, or null when the server does not know it. */
  sha256: string | null;
}

const NUMBER = "(\\d{1,16})";

/** Parses a request line; an error message (for ERR bad-request) when it is not one. */
export function parseRequest(line: string): Request | { error: string } {
  const space = line.indexOf(" ");
  const command = (space === -1 ? line : line.slice(0, space)).toUpperCase();
  const rest = space === -1 ? "" : line.slice(space + 1);
  let match: RegExpMatchArray | null;
  switch (command) {
    case "LIST":
      if (rest.trim() === "") return { kind: "list" };
      return { error: "LIST takes no arguments" };
    case "STAT":
      if (space === -1) return { error: "Expected STAT <name>" };
      return { kind: "stat", name: rest };
    case "GET":
      match = rest.match(new RegExp(`^${NUMBER} (.*)$`, "s"));
      if (!match) return { error: "Expected GET <offset> <name>" };
      return { kind: "get", offset: safeNumber(match[1]!), name: match[2]! };
    case "PUT":
      match = rest.match(new RegExp(`^${NUMBER} (new|force) (.*)$`, "si"));
      if (!match) return { error: "Expected PUT <size> new|force <name>" };
      return {
        kind: "put",
        size: safeNumber(match[1]!),
        force: match[2]!.toLowerCase() === "force",
        name: match[3]!,
      };
    default:
      return {
        // Echoed back to a terminal: escaped like everything else from the network.
        error: `Unknown command "${
          printable(Array.from(command).slice(0, 20).join(""))
        }": expected LIST, STAT, GET or PUT`,
      };
  }
}

function safeNumber(digits: string): number {
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER;
}

/** Request lines as the client sends them. */
export const request = {
  list: () => "LIST",
  stat: (name: string) => `STAT ${name}`,
  get: (offset: number, name: string) => `GET ${offset} ${name}`,
  put: (size: number, force: boolean, name: string) =>
    `PUT ${size} ${force ? "force" : "new"} ${name}`,
};

/** `ERR <code> <message>`. */
export function errorLine(code: ErrorCode, message: string): string {
  return `ERR ${code} ${message}`;
}

/** `<size> <mtime-ms> <sha256|->`: the description STAT and GET reply with. */
export function describeFile(entry: FileEntry): string {
  return `${entry.size} ${Math.round(entry.mtimeMs)} ${entry.sha256 ?? "-"}`;
}

/** One LIST line: the description, then the name (last, so it may hold spaces). */
export function entryLine(entry: FileEntry): string {
  return `${describeFile(entry)} ${entry.name}`;
}

/** Parses `<size> <mtime-ms> <sha256|->` plus, for a listing, ` <name>`. */
export function parseEntry(text: string, withName: boolean): FileEntry | null {
  const pattern = withName
    ? /^(\d{1,16}) (\d{1,16}) ([0-9a-f]{64}|-) (.+)$/s
    : /^(\d{1,16}) (\d{1,16}) ([0-9a-f]{64}|-)$/;
  const match = text.match(pattern);
  if (!match) return null;
  return {
    name: withName ? match[4]! : "",
    size: Number(match[1]),
    mtimeMs: Number(match[2]),
    sha256: match[3] === "-" ? null : match[3]!,
  };
}

/** A reply line split into OK/READY/SHA256 words or an error. */
export type Reply =
  | { ok: true; word: string; rest: string }
  | { ok: false; code: string; message: string };

/** Parses a reply line: `OK ...`, `READY ...`, `SHA256 ...` or `ERR <code> <message>`. */
export function parseReply(line: string): Reply {
  const space = line.indexOf(" ");
  const word = space === -1 ? line : line.slice(0, space);
  const rest = space === -1 ? "" : line.slice(space + 1);
  if (word !== "ERR") return { ok: true, word, rest };
  const codeEnd = rest.indexOf(" ");
  return codeEnd === -1
    ? { ok: false, code: rest, message: rest }
    : { ok: false, code: rest.slice(0, codeEnd), message: rest.slice(codeEnd + 1) };
}

/** The trailer after the bytes of a transfer. */
export function digestLine(hex: string): string {
  return `SHA256 ${hex}`;
}

/** The hex digest in a `SHA256 <hex>` line, or null. */
export function parseDigestLine(line: string): string | null {
  return line.match(/^SHA256 ([0-9a-fA-F]{64})$/)?.[1]?.toLowerCase() ?? null;
}
