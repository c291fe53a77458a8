/**
 * Per-source token buckets with a bounded table, so a UDP service can refuse
 * to be used as a traffic amplifier against a forged source address.
 */

/** Options of {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Tokens added per second to each source's bucket; 0 disables limiting. */
  rate: number;
  /** Bucket size: how many requests a quiet source may send back to back. */
  burst: number;
  /** Sources tracked at once (default 4096). */
  maxSources?: number;
  /** Clock in milliseconds (default performance.now), for tests. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date. */
  at: number;
}

/**
 * Decides, per source key, whether one more request may be answered now.
 *
 * The table is kept in least-recently-seen order (a Map re-inserted on every
 * use), so the oldest entry is also the one closest to a full bucket. Entries
 * that have refilled completely carry no information and are dropped. When the
 * table is full of sources that are still active, new sources share a single
 * overflow bucket instead of evicting an active one: evicting would hand that
 * source a fresh, full bucket, which is exactly what an attacker cycling
 * forged addresses would want.
 */
export class RateLimiter {
  #rate: number;
  #burst: number;
  #maxSources: number;
  #now: () => number;
  #refillMs: number;
  #buckets = new Map<string, Bucket>();
  #overflow: Bucket;

  constructor(options: RateLimiterOptions) {
    this.#rate = options.rate;
    this.#burst = Math.max(1, options.burst);
    this.#maxSources = Math.max(1, options.maxSources ?? 4096);
    this.#now = options.now ?? (() => performance.now());
    this.#refillMs = this.#rate > 0 ? (this.#burst / this.#rate) * 1000 : 0;
    this.#overflow = { tokens: this.#burst, at: this.#now() };
  }

  /** Sources tracked now (at most maxSources). */
  get size(): number {
    return this.#buckets.size;
  }

  /** True when a request from `source` may be answered; takes one token if so. */
  allow(source: string): boolean {
    if (this.#rate <= 0) return true;
    const now = this.#now();
    let bucket = this.#buckets.get(source);
    if (bucket) {
      this.#buckets.delete(source); // re-inserted below: most recently seen goes last
    } else {
      this.#forgetRefilled(now);
      if (this.#buckets.size >= this.#maxSources) return this.#take(this.#overflow, now);
      bucket = { tokens: this.#burst, at: now };
    }
    const allowed = this.#take(bucket, now);
    this.#buckets.set(source, bucket);
    return allowed;
  }

  /**
   * True when `source` has a token left now, without taking it. A source not
   * in the table has a full bucket.
   */
  peek(source: string): boolean {
    if (this.#rate <= 0) return true;
    const bucket = this.#buckets.get(source);
    if (!bucket) return true;
    const elapsed = Math.max(0, this.#now() - bucket.at);
    return Math.min(this.#burst, bucket.tokens + (elapsed * this.#rate) / 1000) >= 1;
  }

  #take(bucket: Bucket, now: number): boolean {
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (elapsed * this.#rate) / 1000);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  // Oldest first; the first entry not yet refilled means none after it is.
  #forgetRefilled(now: number): void {
    for (const [source, bucket] of this.#buckets) {
      if (now - bucket.at < this.#refillMs) return;
      this.#buckets.delete(source);
    }
  }
}
