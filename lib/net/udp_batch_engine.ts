/**
 * The Linux UDP engine: many datagrams per system call. A libc socket
 * (socket, bind, a 4 MiB SO_RCVBUF asked for) is read with recvmmsg and
 * written with sendmmsg by the main thread itself, never blocking
 * (MSG_DONTWAIT), so under load a batch costs two system calls and no thread
 * hand-over. When there is nothing to read, a Worker blocked in poll() waits
 * for the next datagram and wakes the main thread (_udp_batch_shared.ts), so
 * the main event loop stays free. Every TURN_MS the engine lets the event loop
 * poll its other sockets, even with datagrams queued, so the other services'
 * I/O gets its turn during a flood. The socket itself (binding, the
 * recvmmsg and sendmmsg arenas) is _udp_batch_socket.ts.
 *
 * Needs Linux on x86_64 or aarch64, --allow-ffi to open (FFI lifts Deno's
 * sandbox: see docs/security.md), and, run from source, read access to the
 * worker module. Once open it needs the FFI permission no more: serve gives
 * it up after opening its engines (for the worker too: a process's workers
 * share its permissions).
 */
import { within } from "../base/deadline.ts";
import { closeQuietly } from "../base/io.ts";
import { openLibc } from "./_udp_libc.ts";
import {
  BatchEngineError,
  bindSocket,
  type BoundSocket,
  SocketCore,
  type SocketStats,
} from "./_udp_batch_socket.ts";
import {
  ARMED,
  CONTROL_WORDS,
  STOP,
  type WorkerReport,
  type WorkerStart,
} from "./_udp_batch_shared.ts";
import type { Datagram, Reply, UdpEngine, UdpEngineOptions } from "./udp_engine.ts";

export { BatchEngineError } from "./_udp_batch_socket.ts";

/**
 * Milliseconds of reading (waits for the worker included) after which the
 * engine lets the event loop poll the other services' sockets once: a
 * datagram flood never leaves the socket empty, and this loop, whose reads
 * and sends are plain calls, would otherwise keep them waiting.
 */
const TURN_MS = 5;
/** A wait for the worker at least this long (ms) left the event loop idle, polling its sockets. */
const IDLE_MS = 1;
/** How long close() waits for the worker to stop before it is terminated. */
const STOP_WAIT_MS = 2000;
/** How long open waits for the worker to start. */
const START_WAIT_MS = 10_000;

const WORKER_URL = new URL("./_udp_batch_worker.ts", import.meta.url);

/** Options of {@link BatchUdpEngine.open}. */
export interface BatchEngineOptions extends UdpEngineOptions {
  /** Datagrams per recvmmsg and sendmmsg call, 1 to 1024. Default 64. */
  maxBatch?: number;
  /** SO_RCVBUF to ask for, bytes (the kernel caps it at net.core.rmem_max, then doubles it). Default 4 MiB. */
  receiveBuffer?: number;
}

/** What the batch engine counts: its socket's counts, and its turns. */
export interface BatchEngineStats extends SocketStats {
  /** Times the main thread waited for the worker's word. */
  waits: number;
  /** Times reading paused so the event loop could poll the other sockets. */
  pauses: number;
}

/**
 * Why the batch engine cannot run in this process, or null when it can.
 * Asks for no permission (a prompt would stop a server on a terminal).
 */
export function batchEngineProblem(): string | null {
  if (Deno.build.os !== "linux") return `it needs Linux (this is ${Deno.build.os})`;
  if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") {
    return `it needs 64-bit Linux (this is ${Deno.build.arch})`;
  }
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return "FFI is not permitted (run with --allow-ffi)";
  }
  // From source the worker module is read like any file; a compiled binary
  // serves it from its embedded files.
  if (WORKER_URL.protocol === "file:") {
    const path = decodeURIComponent(WORKER_URL.pathname);
    if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
      return `its worker module needs read access (--allow-read=${path})`;
    }
  }
  return null;
}

function newWorker(): Worker {
  return new Worker(WORKER_URL, { type: "module", name: "socketkit udp batch engine" });
}

/** The recvmmsg/sendmmsg engine; see the module's note. */
export class BatchUdpEngine implements UdpEngine {
  readonly kind = "batch";
  readonly addr: Deno.NetAddr;
  #core: SocketCore;
  /** Null until started (open() starts it, or its owner's DeferredStarts later). */
  #worker: Worker | null = null;
  #control: Int32Array;
  /** Resolves once the worker has stopped (or failed, or never started). */
  #stopped: Promise<void>;
  #markStopped!: () => void;
  #failure: Error | null = null;
  #closing: Promise<void> | null = null;
  /** Resolves the receive() waiting for the worker's word (also on close or failure). */
  #wake: (() => void) | null = null;
  #turnStarted = performance.now();
  /** Made at the first pause; null: none could be made. */
  #breather: Breather | null | undefined;
  #waits = 0;
  #pauses = 0;

  private constructor(core: SocketCore) {
    this.#core = core;
    this.#control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
    this.#stopped = new Promise<void>((resolve) => (this.#markStopped = resolve));
    this.addr = core.addr;
  }

  /**
   * Binds and starts the waiting worker; resolves once the worker is ready
   * (from then on nothing needs the FFI permission). With
   * `options.deferred`, resolves once bound and leaves the worker's start to
   * DeferredStarts.run() (the FFI permission must last until that resolves);
   * datagrams that come meanwhile wait in the socket. Throws BatchEngineError
   * when the engine cannot run here, and what Deno.listenDatagram would throw
   * when the address cannot be bound (Deno.errors.AddrInUse,
   * AddrNotAvailable, PermissionDenied).
   */
  static async open(
    hostname: string,
    port: number,
    options: BatchEngineOptions = {},
  ): Promise<BatchUdpEngine> {
    const problem = batchEngineProblem();
    if (problem !== null) throw new BatchEngineError(`The UDP batch engine cannot run: ${problem}`);
    const maxBatch = options.maxBatch ?? 64;
    if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 1024) {
      throw new RangeError(`maxBatch must be an integer from 1 to 1024, not ${maxBatch}`);
    }
    const lib = openLibc();
    let socket: BoundSocket;
    try {
      socket = bindSocket(lib.symbols, hostname, port, options.receiveBuffer ?? 4 << 20);
    } catch (error) {
      lib.close();
      throw error;
    }
    const engine = new BatchUdpEngine(new SocketCore(lib, socket, maxBatch, options));
    if (options.deferred?.defer(() => engine.#startWorker())) return engine;
    try {
      await engine.#startWorker();
    } catch (error) {
      engine.#core.close();
      throw error;
    }
    return engine;
  }

  /**
   * Starts the waiting worker; resolves once it is ready. A start that fails
   * rejects, and a receive() of an engine already in use throws it too.
   */
  #startWorker(): Promise<void> {
    if (this.#closing !== null) return Promise.resolve(); // closed before its start came
    const worker = newWorker();
    this.#worker = worker;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      const timer = setTimeout(
        () => fail(`did not start within ${START_WAIT_MS / 1000} s`),
        START_WAIT_MS,
      );
      const fail = (why: string) => {
        clearTimeout(timer);
        this.#markStopped();
        const error = new BatchEngineError(`The UDP batch engine's worker ${why}`);
        if (!started) {
          started = true;
          worker.terminate();
          reject(error);
        }
        this.#failure = error;
        this.#wakeReceiver();
      };
      worker.onmessage = (event: MessageEvent<WorkerReport>) => {
        const report = event.data;
        if (report.type === "readable") {
          this.#wakeReceiver();
        } else if (report.type === "ready") {
          clearTimeout(timer);
          started = true;
          resolve();
        } else if (report.type === "failed") {
          fail(`failed: ${report.message}`);
        } else {
          this.#markStopped();
        }
      };
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        fail(`failed: ${event.message}`);
      };
      const start: WorkerStart = {
        fd: this.#core.fd,
        control: this.#control.buffer as SharedArrayBuffer,
      };
      worker.postMessage(start);
    });
  }

  async receive(): Promise<Datagram[] | null> {
    while (this.#closing === null) {
      if (this.#failure !== null) {
        const failure = this.#failure;
        this.#failure = null;
        await this.close();
        throw failure;
      }
      if (performance.now() - this.#turnStarted >= TURN_MS) {
        await this.#pause();
        continue;
      }
      const batch = this.#core.read();
      if (batch === "again") {
        await this.#readable();
        continue;
      }
      // An empty batch: an error about one peer (reported by read()); read on.
      if (batch.length > 0) return batch;
    }
    return null;
  }

  /** Lets the event loop poll every other socket once (see {@link Breather}). */
  async #pause(): Promise<void> {
    this.#pauses++;
    if (this.#breather === undefined) this.#breather = Breather.open();
    if (this.#breather !== null) await this.#breather.breathe();
    // No loopback socket to be had: a timer pauses too, for a millisecond or more.
    else await new Promise((resolve) => setTimeout(resolve, 0));
    this.#turnStarted = performance.now();
  }

  /** Resolves once the worker saw the socket readable (or close() or a failure came). */
  async #readable(): Promise<void> {
    this.#waits++;
    const started = performance.now();
    const readable = new Promise<void>((resolve) => (this.#wake = resolve));
    Atomics.add(this.#control, ARMED, 1);
    Atomics.notify(this.#control, ARMED);
    await readable;
    // A wait that long left the event loop idle, polling every socket: a new
    // turn starts (and a datagram after a quiet spell is read without a pause).
    if (performance.now() - started >= IDLE_MS) this.#turnStarted = performance.now();
  }

  #wakeReceiver(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  send(replies: Reply[]): Promise<void> {
    try {
      this.#core.send(replies);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The engine's counters. */
  stats(): BatchEngineStats {
    return { ...this.#core.stats(), waits: this.#waits, pauses: this.#pauses };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      Atomics.store(this.#control, STOP, 1);
      Atomics.notify(this.#control, ARMED); // a worker waiting for a request
      this.#wakeReceiver();
      this.#core.wakeWaiter();
      // The worker answers within one poll (POLL_MS) even if the wake-up were
      // missed. Only then is the fd closed, so the worker can never poll a
      // reused descriptor number.
      if (this.#worker === null) this.#markStopped(); // never started: nothing to wait for
      await within(this.#stopped, STOP_WAIT_MS);
      this.#worker?.terminate();
      this.#breather?.close();
      this.#core.close();
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * One poll of the event loop's sockets, on demand. Awaiting a timer would
 * cost a millisecond or more, and awaiting anything that is ready at once
 * (a message, a finished operation) lets JavaScript go on without the event
 * loop looking at its sockets. So this sends a byte to a socket of Deno's
 * own and awaits it: the datagram can only be seen by that poll.
 */
class Breather {
  #socket: Deno.DatagramConn;
  #pending: Promise<unknown>;
  #byte = new Uint8Array(1);

  private constructor(socket: Deno.DatagramConn) {
    this.#socket = socket;
    this.#pending = this.#receive();
  }

  /** A breather on a loopback address, or null when neither 127.0.0.1 nor ::1 can be bound. */
  static open(): Breather | null {
    for (const hostname of ["127.0.0.1", "::1"]) {
      try {
        return new Breather(Deno.listenDatagram({ transport: "udp", hostname, port: 0 }));
      } catch {
        // try the other loopback
      }
    }
    return null;
  }

  async breathe(): Promise<void> {
    await this.#socket.send(this.#byte, this.#socket.addr);
    await this.#pending;
    this.#pending = this.#receive();
  }

  close(): void {
    closeQuietly(this.#socket);
  }

  #receive(): Promise<unknown> {
    const received = this.#socket.receive();
    received.catch(() => {}); // the close at the end
    return received;
  }
}
