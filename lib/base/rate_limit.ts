/**
 * Token buckets: one for a single sender (a chat member, a client pacing
 * itself, a file transfer's byte budget), and a bounded table of them keyed by source, so a UDP service can
 * refuse to be used as a traffic amplifier against a forged source address.
 */

/** `rate` tokens per second on average, `burst` at once. */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  #tokens: number;
  #at: number;

  /** @param rate tokens per second; 0 means unlimited */
  constructor(rate: number, burst: number, now = performance.now()) {
    this.rate = rate;
    this.burst = Math.max(1, burst);
    this.#tokens = this.burst;
    this.#at = now;
  }

  /** When the bucket was last brought up to date. */
  get touchedAt(): number {
    return this.#at;
  }

  /** Takes one token if there is one. */
  take(now = performance.now()): boolean {
    if (this.rate <= 0) return true;
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** True when a token is there now; changes nothing. */
  peek(now = performance.now()): boolean {
    return this.rate <= 0 || this.#tokensAt(now) >= 1;
  }

  /**
   * Spends `amount` tokens even if fewer are there: the bucket goes into
   * debt, so a chunk larger than the bucket still passes. Returns the
   * milliseconds until the debt is paid off (0: none), unrounded.
   */
  spend(amount: number, now = performance.now()): number {
    if (this.rate <= 0) return 0;
    this.#refill(now);
    this.#tokens -= amount;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.rate) * 1000;
  }

  /** Milliseconds until a token is available (0: now). */
  wait(now = performance.now()): number {
    if (this.rate <= 0) return 0;
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.rate) * 1000);
  }

  #refill(now: number): void {
    this.#tokens = this.#tokensAt(now);
    this.#at = now;
  }

  #tokensAt(now: number): number {
    const elapsed = Math.max(0, now - this.#at);
    return Math.min(this.burst, this.#tokens + (elapsed / 1000) * this.rate);
  }
}

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
  #buckets = new Map<string, TokenBucket>();
  #overflow: TokenBucket;

  constructor(options: RateLimiterOptions) {
    this.#rate = options.rate;
    this.#burst = Math.max(1, options.burst);
    this.#maxSources = Math.max(1, options.maxSources ?? 4096);
    this.#now = options.now ?? (() => performance.now());
    this.#refillMs = this.#rate > 0 ? (this.#burst / this.#rate) * 1000 : 0;
    this.#overflow = new TokenBucket(this.#rate, this.#burst, this.#now());
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
      if (this.#buckets.size >= this.#maxSources) return this.#overflow.take(now);
      bucket = new TokenBucket(this.#rate, this.#burst, now);
    }
    const allowed = bucket.take(now);
    this.#buckets.set(source, bucket);
    return allowed;
  }

  /**
   * True when `source` has a token left now, without taking it. A source not
   * in the table has a full bucket.
   */
  peek(source: string): boolean {
    return this.#buckets.get(source)?.peek(this.#now()) ?? true;
  }

  // Oldest first; the first entry not yet refilled means none after it is.
  #forgetRefilled(now: number): void {
    for (const [source, bucket] of this.#buckets) {
      if (now - bucket.touchedAt < this.#refillMs) return;
      this.#buckets.delete(source);
    }
  }
}

/**
 * The limiter a UDP service puts in front of its replies (--udp-rate,
 * --info-rate): `rate` replies a second per source address, bursts of twice
 * that (at least 1), 4,096 sources tracked (about 160 bytes each).
 */
export function perSourceReplies(rate: number): RateLimiter {
  return new RateLimiter({ rate, burst: Math.max(1, Math.ceil(rate * 2)), maxSources: 4096 });
}
