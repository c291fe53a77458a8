/**
 * A fixed-size latency histogram in microseconds: exact below 64 µs, then 32
 * buckets per power of two (about 3 % precision). Recording is an index
 * computation and an increment, so a load generator can record every message
 * without allocating.
 */

const EXACT = 64;
const SUB_BITS = 5; // 32 sub-buckets per power of two
const SUB = 1 << SUB_BITS;
const SIZE = EXACT + (32 - 6) * SUB;

/** Latency histogram; values in microseconds, up to about 35 minutes. */
export class Histogram {
  readonly counts: Uint32Array = new Uint32Array(SIZE);
  count = 0;

  /** Records one latency in microseconds (fractions are truncated). */
  record(micros: number): void {
    this.counts[indexOf(micros)]!++;
    this.count++;
  }

  /** Adds every count of `other`. */
  merge(other: Histogram): void {
    for (let i = 0; i < SIZE; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
  }

  /** The value at percentile `p` (0-100) in microseconds, or NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return valueOf(i);
    }
    return valueOf(SIZE - 1);
  }

  /** Sparse [index, count] pairs, for sending between processes as JSON. */
  toJSON(): [number, number][] {
    const pairs: [number, number][] = [];
    for (let i = 0; i < SIZE; i++) if (this.counts[i]! > 0) pairs.push([i, this.counts[i]!]);
    return pairs;
  }

  /** Rebuilds a histogram from {@link Histogram.toJSON} output. */
  static fromJSON(pairs: [number, number][]): Histogram {
    const histogram = new Histogram();
    for (const [index, count] of pairs) {
      if (index >= 0 && index < SIZE) {
        histogram.counts[index]! += count;
        histogram.count += count;
      }
    }
    return histogram;
  }
}

function indexOf(micros: number): number {
  const v = micros >= 1 ? Math.min(Math.trunc(micros), 0x7fffffff) : 0;
  if (v < EXACT) return v;
  const exponent = 31 - Math.clz32(v); // >= 6
  const mantissa = v >>> (exponent - SUB_BITS); // in [32, 64)
  return EXACT + (exponent - 6) * SUB + (mantissa - SUB);
}

// The middle of a bucket, so the error is at most half a bucket either way.
function valueOf(index: number): number {
  if (index < EXACT) return index;
  const exponent = Math.floor((index - EXACT) / SUB) + 6;
  const mantissa = ((index - EXACT) % SUB) + SUB;
  const low = mantissa * 2 ** (exponent - SUB_BITS);
  return low + 2 ** (exponent - SUB_BITS) / 2;
}
