/**
 * The authentication wire protocol, shared by servers, clients and tests
 * (docs/security.md has the user's version).
 *
 * TCP, when the server has a token: the server's first line is AUTH_REQUIRED;
 * the client's first line must be `AUTH <token>`; the server answers `AUTH OK`
 * and the service's own protocol starts, or `AUTH FAILED: <reason>` and closes.
 *
 * UDP: a datagram starts with the line `AUTH <token>`; the rest is the
 * request. Without it (or with a wrong token) the server answers only the
 * short DATAGRAM_AUTH_REQUIRED / DATAGRAM_AUTH_FAILED, which are never larger
 * than a forged request plus the headers, so they cannot amplify traffic.
 */
import { decodeLenient, encode } from "../base/text.ts";
import { MAX_TOKEN_BYTES } from "./token.ts";

/** What every challenge and refusal starts with; a client recognises these. */
export const AUTH_REQUIRED = "AUTH REQUIRED";
export const AUTH_OK = "AUTH OK";
export const AUTH_FAILED = "AUTH FAILED";

/** The TCP server's first line when it has a token. */
export const AUTH_REQUIRED_LINE = `${AUTH_REQUIRED}: send "AUTH <token>" as the first line`;

/** The reply to a datagram without a token line. */
export const DATAGRAM_AUTH_REQUIRED = AUTH_REQUIRED;
/** The reply to a datagram with a wrong token. */
export const DATAGRAM_AUTH_FAILED = AUTH_FAILED;

/** Longest AUTH line the server reads: "AUTH ", the token, CR. */
export const MAX_AUTH_LINE = MAX_TOKEN_BYTES + 16;

/** `AUTH FAILED: <reason>`. */
export function authFailedLine(reason: string): string {
  return `${AUTH_FAILED}: ${reason}`;
}

/** The client's line for `token`, with its LF. */
export function authLine(token: string): Uint8Array {
  return encode(`AUTH ${token}\n`);
}

const A = 0x41;
const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;

/**
 * The token in an AUTH line (without its LF; a CR is dropped), or null when
 * the line is not `AUTH <something>`. The keyword is matched in any case.
 */
export function parseAuthLine(line: Uint8Array): Uint8Array | null {
  let end = line.length;
  if (end > 0 && line[end - 1] === CR) end--;
  if (end < 6 || decodeLenient(line.subarray(0, 5)).toUpperCase() !== "AUTH ") return null;
  let start = 5;
  while (start < end && (line[start] === SPACE || line[start] === TAB)) start++;
  while (end > start && (line[end - 1] === SPACE || line[end - 1] === TAB)) end--;
  return start < end ? line.subarray(start, end) : null;
}

/** True while `bytes` could still become the start of an AUTH line. */
export function couldBeAuth(bytes: Uint8Array): boolean {
  const keyword = "AUTH ";
  for (let i = 0; i < bytes.length && i < keyword.length; i++) {
    const byte = bytes[i]! >= 0x61 && bytes[i]! <= 0x7a ? bytes[i]! - 0x20 : bytes[i]!;
    if (byte !== keyword.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * True when a line or datagram starts like an AUTH line (`AUTH`, a space or a
 * tab, in any case, after any white space): what a service must never log
 * or echo, since the rest may be a token, even on a server without one.
 */
export function looksLikeAuth(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length && (bytes[i] === SPACE || bytes[i] === TAB)) i++;
  if (bytes.length - i < 5) return false;
  const after = bytes[i + 4];
  return (after === SPACE || after === TAB) && couldBeAuth(bytes.subarray(i, i + 4));
}

/** A datagram split into its AUTH line's token (if any) and the request after it. */
export interface SplitDatagram {
  /** The token, or null when the datagram does not start with an AUTH line. */
  token: Uint8Array | null;
  payload: Uint8Array;
}

/** Splits off a leading `AUTH <token>` line; a datagram without one is all payload. */
export function splitDatagram(data: Uint8Array): SplitDatagram {
  if (data.length < 6 || data[0] !== A && data[0] !== 0x61) return { token: null, payload: data };
  const newline = data.subarray(0, MAX_AUTH_LINE + 1).indexOf(LF);
  if (newline === -1) return { token: null, payload: data };
  const token = parseAuthLine(data.subarray(0, newline));
  return token === null
    ? { token: null, payload: data }
    : { token, payload: data.subarray(newline + 1) };
}

/** A request datagram carrying `token`. */
export function withToken(token: string, payload: Uint8Array): Uint8Array {
  const line = authLine(token);
  const out = new Uint8Array(line.length + payload.length);
  out.set(line);
  out.set(payload, line.length);
  return out;
}

/** What a client makes of a reply datagram: a refusal, or the service's answer. */
export function datagramRefusal(reply: Uint8Array): "required" | "failed" | null {
  if (reply.length > 32 || reply[0] !== A) return null;
  const text = decodeLenient(reply);
  if (text === DATAGRAM_AUTH_REQUIRED) return "required";
  if (text === DATAGRAM_AUTH_FAILED) return "failed";
  return null;
}
