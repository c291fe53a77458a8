/** A latency histogram that merges across processes: 0.1 ms buckets up to 2 s. */

const BUCKET_MS = 0.1;
const BUCKETS = 20_000;

/** Counts per bucket; the last bucket holds everything slower. */
export interface LatencyHistogram {
  counts: number[];
  add(ms: number): void;
}

/** An empty histogram. */
export function latencyHistogram(): LatencyHistogram {
  const counts = new Array<number>(BUCKETS + 1).fill(0);
  return {
    counts,
    add(ms: number) {
      counts[Math.min(BUCKETS, Math.max(0, Math.floor(ms / BUCKET_MS)))]! += 1;
    },
  };
}

/** Sums histograms from several generators. */
export function mergeCounts(all: number[][]): number[] {
  const merged = new Array<number>(BUCKETS + 1).fill(0);
  for (const counts of all) counts.forEach((n, i) => (merged[i]! += n));
  return merged;
}

/** The latency (upper edge of its bucket, in ms) below which `p` of the samples fall. */
export function percentile(counts: number[], p: number): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return NaN;
  const target = Math.ceil(total * p);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= target) return (i + 1) * BUCKET_MS;
  }
  return NaN;
}
