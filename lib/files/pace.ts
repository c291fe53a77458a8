/**
 * Transfer speed, both ways: a ceiling (the client's --limit-rate, the
 * server's --max-rate-per-conn), by pacing the writes of a copy, and a floor
 * (the server's --min-rate), by watching the bytes a transfer moves per
 * window and ending one that stays below it.
 */
import type { Writer } from "../base/io.ts";
import { CHUNK_SIZE } from "./protocol.ts";

/** Smallest chunk a paced copy uses, so a low rate still moves in small steps. */
const MIN_PACED_CHUNK = 1024;

/**
 * A byte budget of `rate` bytes per second on average: a token bucket that
 * may go into debt, so a chunk larger than the bucket still passes and the
 * next waits for it to be paid off.
 */
export class Throttle {
  readonly rate: number;
  /** Bytes per read and write that keep the pace smooth (about 8 steps a second). */
  readonly chunkSize: number;
  #tokens: number;
  #capacity: number;
  #at = performance.now();

  /** @param rate bytes per second (> 0) */
  constructor(rate: number) {
    this.rate = rate;
    this.chunkSize = Math.max(MIN_PACED_CHUNK, Math.min(CHUNK_SIZE, Math.floor(rate / 8)));
    // One chunk to start with; room for a second, so a timer that fires late
    // (a busy machine) is made up for on the next step instead of lost.
    this.#tokens = this.chunkSize;
    this.#capacity = 2 * this.chunkSize;
  }

  /** Spends `bytes`; resolves once the budget allows the next write. */
  async spend(bytes: number): Promise<void> {
    const now = performance.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    this.#tokens -= bytes;
    if (this.#tokens >= 0) return;
    const ms = (-this.#tokens / this.rate) * 1000;
    await new Promise((resolve) => setTimeout(resolve, ms));
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
