/** A token bucket: `rate` lines per second on average, `burst` at once. */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  #tokens: number;
  #last: number;

  /** @param rate tokens per second; 0 means unlimited */
  constructor(rate: number, burst: number, now = performance.now()) {
    this.rate = rate;
    this.burst = Math.max(1, burst);
    this.#tokens = this.burst;
    this.#last = now;
  }

  /** Takes one token if there is one. */
  take(now = performance.now()): boolean {
    if (this.rate <= 0) return true;
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is available (0: now). */
  wait(now = performance.now()): number {
    if (this.rate <= 0) return 0;
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.rate) * 1000);
  }

  #refill(now: number): void {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.rate);
    this.#last = now;
  }
}
