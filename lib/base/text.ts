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

/**
 * A regular expression built on first use. V8 parses a literal with Unicode
 * property classes (\p{...}) as its module loads, milliseconds each, which
 * every command would pay at start-up whether it prints such text or not.
 */
export function lazyPattern(source: string, flags: string): () => RegExp {
  let pattern: RegExp | undefined;
  return () => pattern ??= new RegExp(source, flags);
}

// Characters that show nothing, or change how their neighbours show, so two
// different texts can look the same ("al\u200dice" and "alice", a token in
// invisible tag characters, "Trojan source" reordering): every format
// character (Cf: soft hyphen, zero-width space and joiners, word joiner, BOM,
// bidi overrides and isolates, tags U+E0000-E007F), every default-ignorable
// one (variation selectors, Hangul fillers, the combining grapheme joiner) and
// the line and paragraph separators, which act as newlines in some terminals.
const INVISIBLE = lazyPattern(
  String.raw`[\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]`,
  "gu",
);

// The few places where such a character is part of what a reader sees: an
// emoji's presentation selector and the joiner inside an emoji sequence
// ("❤️", "👩‍💻"), and the joiners that shape Arabic and Indic words.
const PICTOGRAPH = lazyPattern(String.raw`[\p{Extended_Pictographic}\p{Emoji_Modifier}]`, "u");
const KEYCAP_BASE = /[0-9#*]/;
const JOINING_SCRIPT = lazyPattern(
  String
    .raw`[\p{Script=Arabic}\p{Script=Syriac}\p{Script=Nko}\p{Script=Devanagari}\p{Script=Bengali}\p{Script=Gurmukhi}\p{Script=Gujarati}\p{Script=Oriya}\p{Script=Tamil}\p{Script=Telugu}\p{Script=Kannada}\p{Script=Malayalam}\p{Script=Sinhala}]`,
  "u",
);

/**
 * Replaces control characters with visible escapes like `\x1b`, and invisible
 * and format characters with ones like `\u200b` (`\u{e0041}` beyond U+FFFF),
 * so text from the network is safe to print and cannot pass for other text.
 * Emoji sequences and the joiners of Arabic and Indic words are left whole.
 */
export function printable(text: string): string {
  return text
    .replace(CONTROL, (ch) => "\\x" + ch.charCodeAt(0).toString(16).padStart(2, "0"))
    .replace(INVISIBLE(), (ch, at: number, all: string) => {
      return shownAsPartOfNeighbours(ch, all, at) ? ch : escapeCodePoint(ch);
    });
}

/** One character as an escape: `\u200b`, or `\u{e0041}` beyond U+FFFF. */
export function escapeCodePoint(ch: string): string {
  const code = ch.codePointAt(0)!;
  return code > 0xffff ? `\\u{${code.toString(16)}}` : "\\u" + code.toString(16).padStart(4, "0");
}

function shownAsPartOfNeighbours(ch: string, text: string, at: number): boolean {
  const before = codePointBefore(text, at);
  const after = codePointAt(text, at + ch.length);
  switch (ch) {
    case "\ufe0e":
    case "\ufe0f": // text or emoji presentation of the character before it
      return PICTOGRAPH().test(before) || (KEYCAP_BASE.test(before) && after === "\u20e3");
    case "\u200d": // zero-width joiner
      if (PICTOGRAPH().test(after)) {
        const base = before === "\ufe0f" ? codePointBefore(text, at - 1) : before;
        if (PICTOGRAPH().test(base)) return true;
      }
      return JOINING_SCRIPT().test(before) && JOINING_SCRIPT().test(after);
    case "\u200c": // zero-width non-joiner
      return JOINING_SCRIPT().test(before) && JOINING_SCRIPT().test(after);
    default:
      return false;
  }
}

function codePointBefore(text: string, at: number): string {
  if (at <= 0) return "";
  const low = text.charCodeAt(at - 1);
  const start = low >= 0xdc00 && low <= 0xdfff && at >= 2 ? at - 2 : at - 1;
  return String.fromCodePoint(text.codePointAt(start)!);
}

function codePointAt(text: string, at: number): string {
  const code = text.codePointAt(at);
  return code === undefined ? "" : String.fromCodePoint(code);
}

/** "1 member", "2 members", "0 members": a count with its noun, plural unless 1. */
export function counted(n: number, noun: string, plural = noun + "s"): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
