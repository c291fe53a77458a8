/**
 * What a safe file name is. The server checks every name it is given, the
 * client checks before connecting, so a refusal reads the same from both.
 *
 * A name is a relative path: one or more segments joined by `/`, each a
 * plain file name. Names are compared in Unicode NFC: both ends normalise a
 * name before using it, so "é" typed as one code point or as "e" plus a
 * combining accent is one name, and a name on disk that is not in NFC is
 * never listed or served (it could not be asked for).
 */
import { RuntimeError } from "../base/errors.ts";
import { escapeCodePoint, lazyPattern, printable } from "../base/text.ts";

/** Longest segment in UTF-8 bytes (the usual file system limit, NAME_MAX). */
export const MAX_SEGMENT_BYTES = 255;

/** Longest whole name in UTF-8 bytes: a request line with two numbers still fits in 1024. */
export const MAX_NAME_BYTES = 900;

/** Deepest nesting: segments in one name. */
export const MAX_DEPTH = 32;

// C0 and C1 controls and DEL: they break the line protocol and terminals.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

// Characters that show nothing or look like a space: format characters
// (zero-width space and joiners, BOM, soft hyphen, word joiner, bidi marks,
// tag characters), every default-ignorable code point (variation selectors,
// Hangul fillers), private-use and lone surrogates, line and paragraph
// separators, and every kind of white space except the plain space (NBSP,
// the en and em spaces, the ideographic space). Any of them lets two names
// that look the same on a screen be different names.
const INVISIBLE_SOURCE = String
  .raw`[\p{Cf}\p{Co}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]|[^\S ]|[\u115f\u1160\u3164\uffa0]`;
const INVISIBLE = lazyPattern(INVISIBLE_SOURCE, "u");
const INVISIBLE_ALL = lazyPattern(INVISIBLE_SOURCE, "gu");

/** Space to tilde only: none of the characters the Unicode checks look for. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** The form names are compared in (NFC). */
export function canonicalName(name: string): string {
  return name.normalize("NFC");
}

/**
 * Why `name` is not an acceptable name, or null when it is. Refused: the
 * empty name, a leading or trailing `/` or an empty segment (`a//b`), `\`,
 * `..` anywhere, a segment starting with `.` (hidden files and the service's
 * own state), a segment starting or ending with a space, control characters,
 * invisible and format characters and white space other than the space,
 * U+FFFD (what undecodable bytes arrive as), a name not in NFC, a segment
 * over 255 UTF-8 bytes, a name over 900 bytes or 32 segments.
 */
export function nameRefusal(name: string): string | null {
  if (name === "") return "the name is empty";
  if (name.startsWith("/")) return "it starts with / (names are relative to the files directory)";
  if (name.endsWith("/")) return "it ends with / (a name ends with a file name)";
  if (name.includes("//")) return "it contains an empty segment (//)";
  if (name.includes("\\")) return "it contains a backslash (folders are separated by /)";
  if (name.includes("..")) return 'it contains ".."';
  if (name.includes("\0")) return "it contains a NUL byte";
  // Printable ASCII (most names) has no control, invisible or non-NFC character
  // and one byte per character: the checks below are for the rest (a listing
  // checks every name it walks, so this is its hot path).
  const ascii = PRINTABLE_ASCII.test(name);
  if (!ascii) {
    if (CONTROL.test(name)) return "it contains a control character";
    if (name.includes("\ufffd")) return "it is not valid UTF-8";
    const invisible = name.match(INVISIBLE())?.[0];
    if (invisible !== undefined) {
      return `it contains the invisible or space-like character ${escapeCodePoint(invisible)}`;
    }
    if (name !== canonicalName(name)) return "it is not in Unicode NFC form";
  }
  const segments = name.split("/");
  if (segments.length > MAX_DEPTH) {
    return `it has ${segments.length} segments (the limit is ${MAX_DEPTH})`;
  }
  for (const segment of segments) {
    // Made only for a refusal: a listing checks every name it walks.
    const where = () => segments.length > 1 ? ` (in "${printable(segment)}")` : "";
    if (segment.startsWith(".")) return `it starts with "." (hidden names are reserved)${where()}`;
    if (segment.startsWith(" ") || segment.endsWith(" ")) {
      return `it starts or ends with a space${where()}`;
    }
    const bytes = ascii ? segment.length : utf8Length(segment);
    if (bytes > MAX_SEGMENT_BYTES) {
      return `it is ${bytes} bytes long (the limit is ${MAX_SEGMENT_BYTES})${where()}`;
    }
  }
  const bytes = ascii ? name.length : utf8Length(name);
  if (bytes > MAX_NAME_BYTES) {
    return `it is ${bytes} bytes long (the limit for a whole name is ${MAX_NAME_BYTES})`;
  }
  return null;
}

/**
 * The one name check of both ends: throws when `name` is refused (see
 * nameRefusal), with the message `Name "x" refused: why`, so a refusal
 * reads the same from the client and from the server. `refuse` makes the
 * error from that message; default RuntimeError (the server's makes its
 * bad-name ERR).
 */
export function checkName(
  name: string,
  refuse: (message: string) => Error = (message) => new RuntimeError(message),
): void {
  const why = nameRefusal(name);
  if (why !== null) throw refuse(`Name ${quoteName(name)} refused: ${why}`);
}

/**
 * A name as it may be shown on a terminal: control characters escaped as by
 * printable(), and invisible or space-like characters as `\u200b`, so two
 * names that differ only there never look alike (the client shows what any
 * server sends this way).
 */
export function showName(name: string): string {
  return printable(name).replaceAll("\t", "\\x09").replace(INVISIBLE_ALL(), escapeCodePoint);
}

/** The printable form of a name for messages: see showName, quoted, cut at 80. */
export function quoteName(name: string): string {
  const shown = showName(name);
  const cut = shown.length > 80 ? shown.slice(0, 77) + "..." : shown;
  return `"${cut}"`;
}

const encoder = new TextEncoder();

function utf8Length(text: string): number {
  return encoder.encode(text).length;
}
