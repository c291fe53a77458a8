/**
 * Transfer speed, both ways: a ceiling (the client's --limit-rate, the
 * server's --max-rate-per-conn), by pacing the writes of a copy, and a floor
 * (the server's --min-rate), by watching the bytes a transfer moves per
 * window and ending one that stays below it.
 */
import type { Writer } from "../base/io.ts";
import { TokenBucket } from "../base/rate_limit.ts";
import { CHUNK_SIZE } from "./protocol.ts";

/** Smallest chunk a paced copy uses, so a low rate still moves in small steps. */
const MIN_PACED_CHUNK = 1024;

/** Options of {@link Throttle}. */
export interface ThrottleOptions {
  /** Clock in milliseconds (default performance.now), for tests. */
  now?: () => number;
}

/**
 * A byte budget of `rate` bytes per second on average: a token bucket that
 * may go into debt, so a chunk larger than the bucket still passes and the
 * next waits for it to be paid off.
 */
export class Throttle {
  readonly rate: number;
  /** Bytes per read and write that keep the pace smooth (about 8 steps a second). */
  readonly chunkSize: number;
  #bucket: TokenBucket;
  #now: () => number;

  /** @param rate bytes per second (> 0) */
  constructor(rate: number, options: ThrottleOptions = {}) {
    this.rate = rate;
    this.chunkSize = Math.max(MIN_PACED_CHUNK, Math.min(CHUNK_SIZE, Math.floor(rate / 8)));
    this.#now = options.now ?? (() => performance.now());
    // One chunk to start with; room for a second, so a timer that fires late
    // (a busy machine) is made up for on the next step instead of lost.
    const now = this.#now();
    this.#bucket = new TokenBucket(rate, 2 * this.chunkSize, now);
    this.#bucket.spend(this.chunkSize, now);
  }

  /** Milliseconds to wait after spending `bytes` (0: the budget allows the next write now). */
  debt(bytes: number): number {
    return this.#bucket.spend(bytes, this.#now());
  }

  /** Spends `bytes`; resolves once the budget allows the next write. */
  async spend(bytes: number): Promise<void> {
    const ms = this.debt(bytes);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }
}

/**
 * `writer` paced by `throttle` (the write goes out, then the budget is paid,
 * so a short write is never counted twice). No throttle: `writer` itself.
 */
export function paced(writer: Writer, throttle: Throttle | null): Writer {
  if (throttle === null) return writer;
  return {
    write: async (bytes) => {
      const n = await writer.write(bytes);
      await throttle.spend(n);
      return n;
    },
  };
}

/**
 * The pacing of one transfer: the slower of two ceilings in bytes per
 * second (0: none), or null when neither applies.
 */
export function throttleFor(...rates: number[]): Throttle | null {
  const set = rates.filter((rate) => rate > 0);
  return set.length === 0 ? null : new Throttle(Math.min(...set));
}

/** Options of {@link RateFloor}. */
export interface RateFloorOptions {
  /** Bytes per second a transfer must average over each window; 0: no floor. */
  minRate: number;
  /** The window, in milliseconds. */
  windowMs: number;
  /** Called once when a window ends below the floor, with the bytes it moved. */
  onSlow(moved: number): void;
}

/**
 * Watches one transfer: every window it must have moved at least
 * minRate × window bytes, or onSlow is called (once) to end it. A transfer
 * that waits on the other side (a client that stops reading, an upload that
 * trickles) moves nothing and is caught the same way.
 */
export class RateFloor implements Disposable {
  #moved = 0;
  #atLastCheck = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: RateFloorOptions) {
    const { minRate, windowMs, onSlow } = options;
    if (minRate <= 0 || windowMs <= 0) return;
    const least = (minRate * windowMs) / 1000;
    this.#timer = setInterval(() => {
      const moved = this.#moved - this.#atLastCheck;
      this.#atLastCheck = this.#moved;
      if (moved >= least) return;
      this.stop();
      onSlow(moved);
    }, windowMs);
  }

  /** Counts bytes moved. */
  add(bytes: number): void {
    this.#moved += bytes;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}
