/**
 * What the main thread and the waiting worker of the UDP batch engine share.
 *
 * The main thread reads and writes the socket itself, without ever blocking
 * (recvmmsg and sendmmsg with MSG_DONTWAIT). Only when the socket has nothing
 * to read does it need to wait, and that wait is the worker's: the main
 * thread bumps control[ARMED] (a word of a SharedArrayBuffer) and notifies;
 * the worker, blocked in Atomics.wait, then in poll(POLLIN) on the socket,
 * posts a "readable" message once a datagram is there. The message arrives
 * like any other I/O of the event loop (Atomics.waitAsync did not: its
 * wake-ups could wait behind a busy loop), so under load no thread hand-over
 * happens at all, and an idle socket costs a blocked worker, not a busy
 * main thread.
 */

/** Indices into the control Int32Array. */
export const STOP = 0;
/** Waits the main thread asked for. */
export const ARMED = 1;
export const CONTROL_WORDS = 2;

/** How long a poll() of the worker lasts before it looks at STOP again, ms. */
export const POLL_MS = 200;

/** The one message the main thread sends the worker. */
export interface WorkerStart {
  fd: number;
  control: SharedArrayBuffer;
}

/**
 * The worker's few reports: "ready" once it has libc open (from then on it
 * needs no permission), "stopped" or "failed" as its last word.
 */
export type WorkerReport =
  | { type: "ready" }
  | { type: "readable" }
  | { type: "stopped" }
  | { type: "failed"; message: string };
