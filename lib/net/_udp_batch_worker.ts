/// <reference lib="deno.worker" />
/**
 * The waiting worker of the UDP batch engine (see _udp_batch_shared.ts): when
 * the main thread found nothing to read, this worker blocks in poll() on the
 * socket until a datagram is there, then tells the main thread. It never reads
 * or writes a datagram; the main thread creates, binds and closes the socket.
 *
 * The loop is synchronous, so the worker takes no messages once it runs;
 * control goes through the shared words. close() sets STOP and shuts the
 * socket's reading side down, which ends a blocked poll() at once; the poll
 * timeout (POLL_MS) is the safety net.
 *
 * The worker shares the process's permissions: when serve gives up FFI once
 * its engines are open, poll, already bound, stays callable, and no library
 * can be loaded here either.
 */
import { ARMED, POLL_MS, STOP, type WorkerReport, type WorkerStart } from "./_udp_batch_shared.ts";

const POLLIN = 0x1;
const READABLE: WorkerReport = { type: "readable" };

self.onmessage = (event: MessageEvent<WorkerStart>) => {
  self.onmessage = null;
  let report: WorkerReport;
  try {
    waitLoop(event.data);
    report = { type: "stopped" };
  } catch (error) {
    report = { type: "failed", message: error instanceof Error ? error.message : String(error) };
  }
  self.postMessage(report);
  self.close();
};

function waitLoop({ fd, control }: WorkerStart): void {
  const ctl = new Int32Array(control);
  const lib = Deno.dlopen(
    "libc.so.6",
    {
      poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
    } as const,
  );
  try {
    // struct pollfd { int fd; short events; short revents; }, off the V8 heap.
    const pollfd = new Uint8Array(128);
    const view = new DataView(pollfd.buffer);
    view.setInt32(0, fd, true);
    view.setInt16(4, POLLIN, true);
    self.postMessage({ type: "ready" } satisfies WorkerReport);

    // The last wait served: none yet (the main thread may already have
    // asked for the first, which reading the word now would lose).
    let served = 0;
    while (Atomics.load(ctl, STOP) === 0) {
      const armed = Atomics.load(ctl, ARMED);
      if (armed === served) {
        Atomics.wait(ctl, ARMED, served, POLL_MS); // woken by the main thread or close()
        continue;
      }
      // Readable, an error queued (an ICMP message for one peer), or the
      // shutdown of close(): the main thread looks in every case.
      if (lib.symbols.poll(pollfd, 1n, POLL_MS) === 0) continue;
      if (Atomics.load(ctl, STOP) !== 0) break;
      served = armed;
      self.postMessage(READABLE);
    }
  } finally {
    lib.close();
  }
}
