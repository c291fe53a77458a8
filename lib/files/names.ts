/**
 * What a safe file name is. The server checks every name it is given, the
 * client checks before connecting, so a refusal reads the same from both.
 */
import { printable } from "../base/text.ts";

/** Longest name in UTF-8 bytes (the usual file system limit, NAME_MAX). */
export const MAX_NAME_BYTES = 255;

// C0 and C1 controls and DEL: they break the line protocol and terminals.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Why `name` is not a plain file name, or null when it is acceptable. Refused:
 * empty, `/`, `\`, `..` anywhere, a leading `.` (hidden files and the
 * service's own state), NUL and control characters, over 255 UTF-8 bytes,
 * and U+FFFD (what undecodable bytes arrive as).
 */
export function nameRefusal(name: string): string | null {
  if (name === "") return "the name is empty";
  if (name.includes("/") || name.includes("\\")) {
    return "it contains a path separator (only a plain file name is allowed)";
  }
  if (name.includes("..")) return 'it contains ".."';
  if (name.startsWith(".")) return 'it starts with "." (hidden names are reserved)';
  if (name.includes("\0")) return "it contains a NUL byte";
  if (CONTROL.test(name)) return "it contains a control character";
  if (name.includes("\ufffd")) return "it is not valid UTF-8";
  const bytes = new TextEncoder().encode(name).length;
  if (bytes > MAX_NAME_BYTES) return `it is ${bytes} bytes long (the limit is ${MAX_NAME_BYTES})`;
  return null;
}

/** The printable form of a name for messages: control characters escaped, quoted, cut at 80. */
export function quoteName(name: string): string {
  const shown = printable(name).replaceAll("\t", "\\x09");
  const cut = shown.length > 80 ? shown.slice(0, 77) + "..." : shown;
  return `"${cut}"`;
}
