/**
 * A read buffer that starts small and doubles each time a read fills it, up
 * to a maximum: an idle connection holds a little memory, a busy one soon
 * reads in large chunks.
 */
export class GrowingBuffer {
  #bytes: Uint8Array;
  #max: number;

  /**
   * @param initial first size in bytes
   * @param max largest size in bytes
   */
  constructor(initial: number, max: number) {
    this.#bytes = new Uint8Array(Math.min(initial, max));
    this.#max = max;
  }

  /** Where the next read goes. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /**
   * Reports a finished read of `n` bytes; grows the buffer if it was full.
   * Call only between reads, after the bytes have been consumed.
   */
  filled(n: number): void {
    if (n === this.#bytes.length && n < this.#max) {
      this.#bytes = new Uint8Array(Math.min(n * 2, this.#max));
    }
  }
}
