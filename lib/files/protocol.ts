/**
 * The file service's wire protocol, shared by server, client and tests. One
 * request line, one reply line, and raw bytes where there are bytes; see
 * docs/files.md for the full description.
 *
 *   LIST [<folder>]           -> OK <count>, then <count> entry lines (recursive)
 *   STAT <name>               -> OK <size> <mtime-ms> <sha256|->
 *   GET <offset> <name>       -> OK <size> <mtime-ms> <sha256|->, bytes offset..size,
 *                                then SHA256 <hex of the whole file>
 *   PUT <size> new|force <name> -> READY <offset>; client sends bytes offset..size,
 *                                then SHA256 <hex of the whole file>; -> OK <hex>
 *   PUT - new|force <name>    -> READY 0; client sends chunks "<n>\n" + n bytes,
 *                                then "0\n", then SHA256 <hex>; -> OK <hex>
 *   DEL <name>                -> OK          (serve --allow-delete)
 *   MOVE <old>\t<new>         -> OK          (serve --allow-delete)
 *   PUTS new|force            -> READY; then files back to back, each a line
 *                                <size> <sha256> <name> and its bytes; an empty
 *                                line ends them. The server answers each file
 *                                in order (OK <hex> | ERR ...), then END <n>
 *   GETS                      -> READY; then names, one a line; an empty line
 *                                ends them. Each name is answered in order as
 *                                GET 0 <name> would be, then END <n>
 *   any failure               -> ERR <code> <message>
 */

import { printable } from "../base/text.ts";
import { canonicalName } from "./names.ts";

export const FILE_LABEL = "[File Server]";

/** Read and write size for file and socket I/O: large chunks, few syscalls. */
export const CHUNK_SIZE = 1024 * 1024;

/** Longest request or reply line: a command, two numbers and a 900-byte name fit. */
export const MAX_LINE = 1024;

/** Largest chunk of a streamed upload (`PUT -`). */
export const MAX_CHUNK = 16 * 1024 * 1024;

/** Largest file in a pipelined upload (`PUTS`); bigger ones go with `PUT`. */
export const MAX_BATCH_FILE = 16 * 1024 * 1024;

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
  "forbidden",
  "timeout",
  "too-slow",
  "io",
] as const;
export type ErrorCode = typeof ERROR_CODES[number];

/** A parsed request line. */
export type Request =
  | { kind: "list"; prefix: string | null }
  | { kind: "stat"; name: string }
  | { kind: "get"; offset: number; name: string }
  /** size null: streamed in chunks (`PUT -`), length unknown until the end. */
  | { kind: "put"; size: number | null; force: boolean; name: string }
  | { kind: "del"; name: string }
  | { kind: "move"; from: string; to: string }
  /** Many files up, pipelined. */
  | { kind: "puts"; force: boolean }
  /** Many files down, pipelined. */
  | { kind: "gets" };

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

/**
 * Parses a request line; an error message (for ERR bad-request) when it is
 * not one. Names come back in NFC (see names.ts), so two spellings of one
 * name are one name.
 */
export function parseRequest(line: string): Request | { error: string } {
  const space = line.indexOf(" ");
  const command = (space === -1 ? line : line.slice(0, space)).toUpperCase();
  const rest = space === -1 ? "" : canonicalName(line.slice(space + 1));
  let match: RegExpMatchArray | null;
  switch (command) {
    case "LIST": {
      const prefix = rest.replace(/\/+$/, ""); // "LIST photos/" is "LIST photos"
      return { kind: "list", prefix: prefix === "" ? null : prefix };
    }
    case "STAT":
      if (space === -1) return { error: "Expected STAT <name>" };
      return { kind: "stat", name: rest };
    case "GET":
      match = rest.match(new RegExp(`^${NUMBER} (.*)$`, "s"));
      if (!match) return { error: "Expected GET <offset> <name>" };
      return { kind: "get", offset: safeNumber(match[1]!), name: match[2]! };
    case "PUT":
      match = rest.match(new RegExp(`^(${NUMBER}|-) (new|force) (.*)$`, "si"));
      if (!match) return { error: "Expected PUT <size>|- new|force <name>" };
      return {
        kind: "put",
        size: match[1] === "-" ? null : safeNumber(match[1]!),
        force: match[3]!.toLowerCase() === "force",
        name: match[4]!,
      };
    case "DEL":
      if (space === -1) return { error: "Expected DEL <name>" };
      return { kind: "del", name: rest };
    case "MOVE": {
      const tab = rest.indexOf("\t");
      if (tab === -1) return { error: "Expected MOVE <old name><TAB><new name>" };
      return { kind: "move", from: rest.slice(0, tab), to: rest.slice(tab + 1) };
    }
    case "PUTS":
      match = rest.match(/^(new|force)$/i);
      if (!match) return { error: "Expected PUTS new|force" };
      return { kind: "puts", force: match[1]!.toLowerCase() === "force" };
    case "GETS":
      if (rest !== "") return { error: "Expected GETS alone on its line" };
      return { kind: "gets" };
    default:
      return {
        // Echoed back to a terminal: escaped like everything else from the network.
        error: `Unknown command "${
          printable(Array.from(command).slice(0, 20).join(""))
        }": expected LIST, STAT, GET, PUT, PUTS, GETS, DEL or MOVE`,
      };
  }
}

function safeNumber(digits: string): number {
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER;
}

/** Request lines as the client sends them. */
export const request = {
  list: (prefix: string | null = null) => (prefix === null ? "LIST" : `LIST ${prefix}`),
  stat: (name: string) => `STAT ${name}`,
  get: (offset: number, name: string) => `GET ${offset} ${name}`,
  /** size null: a streamed upload (`PUT -`). */
  put: (size: number | null, force: boolean, name: string) =>
    `PUT ${size ?? "-"} ${force ? "force" : "new"} ${name}`,
  del: (name: string) => `DEL ${name}`,
  move: (from: string, to: string) => `MOVE ${from}\t${to}`,
  puts: (force: boolean) => `PUTS ${force ? "force" : "new"}`,
  gets: () => "GETS",
};

/** One file of a pipelined upload: `<size> <sha256> <name>`, its bytes follow. */
export interface BatchFile {
  size: number;
  sha256: string;
  name: string;
}

/** The line before a file's bytes in `PUTS`. */
export function batchFileLine(file: BatchFile): string {
  return `${file.size} ${file.sha256} ${file.name}`;
}

/** Parses the line before a file's bytes in `PUTS` (name in NFC), or null. */
export function parseBatchFileLine(line: string): BatchFile | null {
  const match = line.match(/^(\d{1,9}) ([0-9a-f]{64}) (.+)$/s);
  if (!match) return null;
  const size = Number(match[1]);
  if (size > MAX_BATCH_FILE) return null;
  return { size, sha256: match[2]!, name: canonicalName(match[3]!) };
}

/** The last line of a `PUTS` or `GETS` answer: how many files it answered. */
export function endLine(count: number): string {
  return `END ${count}`;
}

/** The count in an `END <n>` line, or null when the line is not one. */
export function parseEndLine(line: string): number | null {
  const match = line.match(/^END (\d{1,16})$/);
  return match ? Number(match[1]) : null;
}

/** The header line of one chunk of a streamed upload; 0 ends the stream. */
export function chunkLine(length: number): string {
  return String(length);
}

/** The length in a chunk header line, or null when the line is not one. */
export function parseChunkLine(line: string): number | null {
  if (!/^\d{1,9}$/.test(line)) return null;
  const length = Number(line);
  return length <= MAX_CHUNK ? length : null;
}

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
