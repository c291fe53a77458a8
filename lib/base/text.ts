/** Text helpers: lenient UTF-8 decoding and neutralising control characters. */

const decoder = new TextDecoder("utf-8", { fatal: false });
const encoder = new TextEncoder();

/** Decodes UTF-8, replacing invalid sequences with U+FFFD instead of throwing. */
export function decodeLenient(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Encodes a string as UTF-8. */
export function encode(text: string): Uint8Array {
  return encoder.encode(text);
}

// C0 and C1 controls and DEL, except tab: they can move a terminal's cursor or
// start an escape sequence, so nothing a peer sent may reach a console raw.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

// Bidirectional overrides and isolates can make a line read differently from
// what was sent ("Trojan source"); line and paragraph separators act as
// newlines in some terminals. Not controls, but just as able to mislead.
const FORMAT = /[\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Replaces control characters with visible escapes like `\x1b`, and bidi and
 * line-breaking format characters with ones like `\u202e`, so text from the
 * network is safe to print.
 */
export function printable(text: string): string {
  return text
    .replace(CONTROL, (ch) => "\\x" + ch.charCodeAt(0).toString(16).padStart(2, "0"))
    .replace(FORMAT, (ch) => "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0"));
}
