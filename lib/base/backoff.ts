/** Retrying with exponential backoff and jitter, the one formula every reconnect uses. */

/** Options of {@link backoff}. */
export interface BackoffOptions {
  /** The first delay, in milliseconds. */
  firstMs: number;
  /** The longest delay before jitter, in milliseconds. */
  capMs: number;
  /**
   * The delay is multiplied by a random factor in [low, high], so many
   * clients that lost one server do not all come back at the same instant.
   */
  jitter: readonly [low: number, high: number];
}

/**
 * Milliseconds to wait before retry number `attempt` (0 for the first):
 * `firstMs` doubling each attempt, at most `capMs`, then jittered.
 */
export function backoff(attempt: number, options: BackoffOptions): number {
  const ceiling = Math.min(options.capMs, options.firstMs * 2 ** Math.min(attempt, 30));
  const [low, high] = options.jitter;
  return Math.round(ceiling * (low + Math.random() * (high - low)));
}
