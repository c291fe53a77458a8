/**
 * The messages between the listing workers' pool (listing_workers.ts) and a
 * worker (_listing_worker.ts). Each LIST is a job with its own id; a worker
 * runs any number of them, a chunk at a time.
 */

/** To a worker. */
export type ToWorker =
  /** Take the snapshot of `folder` ("" for all), then send the first chunk. */
  | { kind: "start"; id: number; root: string; metaDir: string; folder: string }
  /** Send the next chunk. */
  | { kind: "more"; id: number }
  /** Forget the job (done, or its client is gone). */
  | { kind: "end"; id: number };

/** From a worker. */
export type FromWorker =
  /** The worker has loaded (and bound libc, where it may); sent once, with id 0. */
  | { kind: "ready"; id: 0 }
  /** Lines of the reply (the first chunk starts with `OK <count>`); `done`: the last. */
  | { kind: "chunk"; id: number; bytes: Uint8Array; done: boolean }
  | { kind: "failed"; id: number; message: string };
