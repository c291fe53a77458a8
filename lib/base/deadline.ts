/** Racing a promise against a timer without leaving the timer behind. */

/** What {@link within} resolves to when time runs out. */
export const TIMED_OUT = Symbol("timed out");

/**
 * Resolves with `promise`'s value, or TIMED_OUT after `ms` milliseconds. The
 * promise itself is left running; the timer is always cleared.
 */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expiry = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, expiry]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One deadline shared by many awaits (a handshake read byte by byte): one
 * timer in all, cleared by clear().
 */
export class Deadline {
  #expired: Promise<typeof TIMED_OUT>;
  #timer: ReturnType<typeof setTimeout>;

  /** @param ms milliseconds from now */
  constructor(ms: number) {
    let fire!: (value: typeof TIMED_OUT) => void;
    this.#expired = new Promise((resolve) => (fire = resolve));
    this.#timer = setTimeout(() => fire(TIMED_OUT), ms);
  }

  /**
   * Resolves with `promise`'s value, or TIMED_OUT once the deadline passed.
   * A rejection of `promise` after the deadline is swallowed, not left unhandled.
   */
  race<T>(promise: Promise<T>): Promise<T | typeof TIMED_OUT> {
    promise.catch(() => {});
    return Promise.race([promise, this.#expired]);
  }

  /** Stops the timer. */
  clear(): void {
    clearTimeout(this.#timer);
  }
}
