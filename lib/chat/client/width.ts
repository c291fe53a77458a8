/**
 * How many terminal columns text takes: East Asian wide and fullwidth
 * characters and emoji take two, combining marks and other zero-width
 * characters none, the rest one (what wcwidth says, for the ranges that
 * matter in a chat). Measured per grapheme cluster (what a user sees as one
 * character: "e" + U+0301, a flag, a family emoji), via Intl.Segmenter.
 */
import { lazyPattern } from "../../base/text.ts";

// Made on first use: making one loads ICU's segmentation data, 40-60 ms of
// start-up that a client that never measures text (input from a pipe,
// --json) should not pay.
let segmenter: Intl.Segmenter | undefined;

// Wide (W) and fullwidth (F) blocks of Unicode's East Asian Width property.
const WIDE: [number, number][] = [
  [0x1100, 0x115f], // Hangul Jamo initials
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x23e9, 0x23ec],
  [0x23f0, 0x23f0],
  [0x23f3, 0x23f3],
  [0x25fd, 0x25fe],
  [0x2614, 0x2615],
  [0x2648, 0x2653],
  [0x267f, 0x267f],
  [0x2693, 0x2693],
  [0x26a1, 0x26a1],
  [0x26aa, 0x26ab],
  [0x26bd, 0x26be],
  [0x26c4, 0x26c5],
  [0x26ce, 0x26ce],
  [0x26d4, 0x26d4],
  [0x26ea, 0x26ea],
  [0x26f2, 0x26f3],
  [0x26f5, 0x26f5],
  [0x26fa, 0x26fa],
  [0x26fd, 0x26fd],
  [0x2705, 0x2705],
  [0x270a, 0x270b],
  [0x2728, 0x2728],
  [0x274c, 0x274c],
  [0x274e, 0x274e],
  [0x2753, 0x2755],
  [0x2757, 0x2757],
  [0x2795, 0x2797],
  [0x27b0, 0x27b0],
  [0x27bf, 0x27bf],
  [0x2b1b, 0x2b1c],
  [0x2b50, 0x2b50],
  [0x2b55, 0x2b55],
  [0x2e80, 0x303e], // CJK radicals, Kangxi, CJK symbols and punctuation
  [0x3041, 0x33ff], // Hiragana, Katakana, Bopomofo, Hangul compatibility, CJK compatibility
  [0x3400, 0x4dbf], // CJK extension A
  [0x4e00, 0x9fff], // CJK unified ideographs
  [0xa000, 0xa4cf], // Yi
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3], // Hangul syllables
  [0xf900, 0xfaff], // CJK compatibility ideographs
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60], // fullwidth forms
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18cff], // Tangut
  [0x1b000, 0x1b2ff], // Kana supplement and extensions
  [0x1f004, 0x1f004],
  [0x1f0cf, 0x1f0cf],
  [0x1f18e, 0x1f18e],
  [0x1f191, 0x1f19a],
  [0x1f200, 0x1f251],
  [0x1f300, 0x1f64f], // pictographs, emoticons
  [0x1f680, 0x1f6ff], // transport and map symbols
  [0x1f7e0, 0x1f7eb],
  [0x1f90c, 0x1f9ff], // supplemental symbols and pictographs
  [0x1fa70, 0x1faff],
  [0x20000, 0x3fffd], // CJK extensions B and later
];

const ZERO_WIDTH = lazyPattern(String.raw`^[\p{Mn}\p{Me}\p{Cf}\u1160-\u11ff]$`, "u");
const EMOJI_PRESENTATION = lazyPattern(String.raw`\p{Emoji_Presentation}|\uFE0F`, "u");

/** Columns one code point takes: 0, 1 or 2. */
export function codePointWidth(code: number): number {
  if (code < 0x20 || (code >= 0x7f && code < 0xa0)) return 0;
  if (code < 0x300) return 1;
  if (ZERO_WIDTH().test(String.fromCodePoint(code))) return 0;
  let low = 0;
  let high = WIDE.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const [start, end] = WIDE[mid]!;
    if (code < start) high = mid - 1;
    else if (code > end) low = mid + 1;
    else return 2;
  }
  return 1;
}

/** Columns one grapheme cluster takes (an emoji sequence is two, whatever it holds). */
export function graphemeWidth(grapheme: string): number {
  const first = grapheme.codePointAt(0);
  if (first === undefined) return 0;
  if (grapheme.length > 1 && EMOJI_PRESENTATION().test(grapheme)) return 2;
  let width = codePointWidth(first);
  // A base that takes no column (a lone combining mark) still shows as one.
  if (width === 0 && grapheme.length > 1) width = 1;
  return width;
}

/** The grapheme clusters of `text`, in order. */
export function graphemes(text: string): string[] {
  segmenter ??= new Intl.Segmenter(undefined, { granularity: "grapheme" });
  return Array.from(segmenter.segment(text), (segment) => segment.segment);
}

/** Columns `text` takes on a terminal. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const grapheme of graphemes(text)) width += graphemeWidth(grapheme);
  return width;
}
