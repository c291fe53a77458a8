/** The process signals that end or quit the chat client. */

/**
 * SIGINT, SIGTERM and SIGHUP for the client's whole life. Before the join
 * they end it at once (`fired`); after it, `onSignal` makes them a quit.
 */
export class Signals implements Disposable {
  /** The first signal while `onSignal` is unset. */
  readonly fired: Promise<Deno.Signal>;
  /** Set once joined: a signal becomes a quit instead of ending the client. */
  onSignal: ((signal: Deno.Signal) => void) | null = null;
  #listeners: [Deno.Signal, () => void][] = [];

  constructor() {
    let fire!: (signal: Deno.Signal) => void;
    this.fired = new Promise((resolve) => (fire = resolve));
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      const listener = () => (this.onSignal ? this.onSignal(signal) : fire(signal));
      try {
        Deno.addSignalListener(signal, listener);
        this.#listeners.push([signal, listener]);
      } catch {
        // Not available on this platform (SIGHUP on Windows).
      }
    }
  }

  [Symbol.dispose](): void {
    for (const [signal, listener] of this.#listeners) Deno.removeSignalListener(signal, listener);
  }
}
