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
