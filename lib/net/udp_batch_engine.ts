/**
 * The Linux UDP engine: many datagrams per system call. A libc socket
 * (socket, bind, a 4 MiB SO_RCVBUF asked for) is read with recvmmsg and
 * written with sendmmsg by the main thread itself, never blocking
 * (MSG_DONTWAIT), so under load a batch costs two system calls and no thread
 * hand-over. When there is nothing to read, a Worker blocked in poll() waits
 * for the next datagram and wakes the main thread (_udp_batch_shared.ts), so
 * the main event loop stays free. Every TURN_MS the engine lets the event loop
 * poll its other sockets, even with datagrams queued, so the other services'
 * I/O gets its turn during a flood.
 *
 * Needs Linux on x86_64 or aarch64, --allow-ffi to open (FFI lifts Deno's
 * sandbox: see docs/security.md), and, run from source, read access to the
 * worker module. Once open it needs the FFI permission no more: serve gives
 * it up after opening its engines (for the worker too: a process's workers
 * share its permissions).
 */
import { closeQuietly } from "../base/io.ts";
import {
  AF_INET,
  decodeSockaddr,
  EACCES,
  EADDRINUSE,
  EADDRNOTAVAIL,
  EAGAIN,
  ECONNREFUSED,
  EINTR,
  errno,
  errnoName,
  errorQueueDrainer,
  formatIPv6,
  IOVEC_SIZE,
  type Libc,
  type LibcHandle,
  MMSGHDR_SIZE,
  MSG_DONTWAIT,
  openLibc,
  parseSockaddr,
  pointerValue,
  POLLOUT,
  put64,
  SHUT_RD,
  SO_RCVBUF,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCKADDR_IN6_LEN,
  SOCKADDR_SLOT,
  SOL_SOCKET,
} from "./_udp_libc.ts";
import {
  ARMED,
  CONTROL_WORDS,
  STOP,
  type WorkerReport,
  type WorkerStart,
} from "./_udp_batch_shared.ts";
import type {
  Datagram,
  Reply,
  SendErrorHandler,
  UdpEngine,
  UdpEngineOptions,
} from "./udp_engine.ts";

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
/** Bytes per receive slot: any UDP datagram (65,507 over IPv4, 65,527 over IPv6) fits. */
const SLOT_SIZE = 65_536;
/** Bytes of replies one sendmmsg call carries at most (more go in further calls). */
const SEND_ARENA = 256 * 1024;
/** Peers whose addresses are kept decoded (each table); past that the table starts afresh. */
const ADDRESS_CACHE = 65_536;

const WORKER_URL = new URL("./_udp_batch_worker.ts", import.meta.url);

/** Options of {@link BatchUdpEngine.open}. */
export interface BatchEngineOptions extends UdpEngineOptions {
  /** Datagrams per recvmmsg and sendmmsg call, 1 to 1024. Default 64. */
  maxBatch?: number;
  /** SO_RCVBUF to ask for, bytes (the kernel caps it at net.core.rmem_max, then doubles it). Default 4 MiB. */
  receiveBuffer?: number;
}

/** What the batch engine counts. */
export interface BatchEngineStats {
  /** recvmmsg calls that returned datagrams. */
  batches: number;
  datagrams: number;
  /** Times the main thread waited for the worker's word. */
  waits: number;
  /** Times reading paused so the event loop could poll the other sockets. */
  pauses: number;
  receiveErrors: number;
  sent: number;
  sendErrors: number;
  /** The SO_RCVBUF the kernel granted, bytes (as getsockopt reports it). */
  receiveBuffer: number;
  /** The socket's file descriptor; -1 once closed. */
  fd: number;
}

/**
 * The batch engine cannot run here (not Linux, no FFI permission, the
 * worker did not start) or its socket failed; the message says why.
 */
export class BatchEngineError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BatchEngineError";
  }
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

/** A worker started ahead of open(), and why its start failed, if it did. */
interface WarmWorker {
  worker: Worker;
  failure: string | null;
}

/** Workers from {@link prestartWorkers} that no engine has taken yet. */
const warmWorkers: WarmWorker[] = [];

function newWorker(): Worker {
  return new Worker(WORKER_URL, { type: "module", name: "socketkit udp batch engine" });
}

/**
 * Starts `count` of the engines' workers now, for the next opens to take. A
 * worker's start (a new isolate, then its module) takes tens of
 * milliseconds, and open() waits for it: started first, the workers start
 * while the server loads and binds everything else, instead of one after
 * the other at each open. Call it only where open() can run
 * ({@link batchEngineProblem} is null). Returns a function that ends the
 * workers no open() took (an open that failed, a fallback).
 */
export function prestartWorkers(count: number): () => void {
  const started: WarmWorker[] = [];
  for (let i = 0; i < count; i++) {
    const warm: WarmWorker = { worker: newWorker(), failure: null };
    // Kept for the open() that takes it, which reports it as its own failure.
    warm.worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      warm.failure = event.message;
    };
    started.push(warm);
  }
  warmWorkers.push(...started);
  return () => {
    for (const warm of started) {
      const at = warmWorkers.indexOf(warm);
      if (at === -1) continue;
      warmWorkers.splice(at, 1);
      warm.worker.terminate();
    }
  };
}

/** The recvmmsg/sendmmsg engine; see the module's note. */
export class BatchUdpEngine implements UdpEngine {
  readonly kind = "batch";
  readonly addr: Deno.NetAddr;
  #core: SocketCore;
  #worker: Worker;
  #control: Int32Array;
  #stopped: Promise<void>;
  #failure: Error | null = null;
  #closing: Promise<void> | null = null;
  /** Resolves the receive() waiting for the worker's word (also on close or failure). */
  #wake: (() => void) | null = null;
  #turnStarted = performance.now();
  /** Made at the first pause; null: none could be made. */
  #breather: Breather | null | undefined;
  #waits = 0;
  #pauses = 0;

  private constructor(
    core: SocketCore,
    worker: Worker,
    control: SharedArrayBuffer,
    stopped: Promise<void>,
  ) {
    this.#core = core;
    this.#worker = worker;
    this.#control = new Int32Array(control);
    this.#stopped = stopped;
    this.addr = core.addr;
  }

  /**
   * Binds and starts the waiting worker; resolves once the worker is ready
   * (from then on nothing needs the FFI permission). Throws BatchEngineError
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
    const core = new SocketCore(lib, socket, maxBatch, options);
    try {
      return await BatchUdpEngine.#start(core);
    } catch (error) {
      core.close();
      throw error;
    }
  }

  static #start(core: SocketCore): Promise<BatchUdpEngine> {
    const control = new SharedArrayBuffer(CONTROL_WORDS * 4);
    const warm = warmWorkers.shift();
    const worker = warm?.worker ?? newWorker();
    let stoppedResolve!: () => void;
    const stopped = new Promise<void>((resolve) => (stoppedResolve = resolve));
    const engine = new BatchUdpEngine(core, worker, control, stopped);
    return new Promise<BatchUdpEngine>((resolve, reject) => {
      let started = false;
      const timer = setTimeout(
        () => fail(`did not start within ${START_WAIT_MS / 1000} s`),
        START_WAIT_MS,
      );
      const fail = (why: string) => {
        clearTimeout(timer);
        stoppedResolve();
        const error = new BatchEngineError(`The UDP batch engine's worker ${why}`);
        if (!started) {
          started = true;
          worker.terminate();
          reject(error);
          return;
        }
        engine.#failure = error;
        engine.#wakeReceiver();
      };
      worker.onmessage = (event: MessageEvent<WorkerReport>) => {
        const report = event.data;
        if (report.type === "readable") {
          engine.#wakeReceiver();
        } else if (report.type === "ready") {
          clearTimeout(timer);
          started = true;
          resolve(engine);
        } else if (report.type === "failed") {
          fail(`failed: ${report.message}`);
        } else {
          stoppedResolve();
        }
      };
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        fail(`failed: ${event.message}`);
      };
      if (warm !== undefined && warm.failure !== null) {
        fail(`failed: ${warm.failure}`);
        return;
      }
      const start: WorkerStart = { fd: core.fd, control };
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
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#stopped,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS))),
      ]);
      clearTimeout(timer);
      this.#worker.terminate();
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

/** The socket, as bound. */
interface BoundSocket {
  fd: number;
  family: number;
  addr: Deno.NetAddr;
  receiveBuffer: number;
}

/** socket, setsockopt, bind, getsockname; closes the fd on any failure. */
function bindSocket(libc: Libc, hostname: string, port: number, rcvbuf: number): BoundSocket {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Invalid port ${port}`);
  }
  const sa = parseSockaddr(libc, hostname, port);
  if (sa === null) {
    throw new BatchEngineError(
      `The UDP batch engine binds IP addresses only, and "${hostname}" is not one`,
    );
  }
  const family = sa[0]!;
  const fd = libc.socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new BatchEngineError(`socket(): ${errnoName(errno(libc))}`);
  try {
    const int = new Uint8Array(4);
    const view = new DataView(int.buffer);
    view.setInt32(0, rcvbuf, true);
    libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, int, 4); // best effort: capped by rmem_max
    if (libc.bind(fd, sa, sa.length) !== 0) throw bindError(errno(libc), hostname, port);
    const bound = new Uint8Array(SOCKADDR_IN6_LEN);
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, SOCKADDR_IN6_LEN, true);
    if (libc.getsockname(fd, bound, length) !== 0) {
      throw new BatchEngineError(`getsockname(): ${errnoName(errno(libc))}`);
    }
    const local = decodeSockaddr(bound, 0);
    new DataView(length.buffer).setUint32(0, 4, true);
    libc.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, int, length);
    return {
      fd,
      family,
      addr: { transport: "udp", hostname: local.hostname, port: local.port },
      receiveBuffer: view.getInt32(0, true),
    };
  } catch (error) {
    libc.close(fd);
    throw error;
  }
}

/** A failed bind, as the error class Deno.listenDatagram throws for it. */
function bindError(e: number, hostname: string, port: number): Error {
  const where = hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  const message = `bind ${where}: ${errnoName(e)}`;
  if (e === EADDRINUSE) return new Deno.errors.AddrInUse(message);
  if (e === EADDRNOTAVAIL) return new Deno.errors.AddrNotAvailable(message);
  if (e === EACCES) return new Deno.errors.PermissionDenied(message);
  return new BatchEngineError(message);
}

/** A private slot on the NetAddr objects the engine makes: their packed sockaddr. */
const SOCKADDR = Symbol("sockaddr");
interface KnownAddr extends Deno.NetAddr {
  /** 7 words of sockaddr, then its length. */
  [SOCKADDR]: Uint32Array;
}

/**
 * The main thread's side of the socket: the fd, the recvmmsg reader and the
 * sendmmsg sender, and sockaddr <-> NetAddr caching.
 */
class SocketCore {
  readonly libc: Libc;
  fd: number;
  readonly family: number;
  readonly addr: Deno.NetAddr;
  readonly maxBatch: number;
  readonly receiveBuffer: number;
  closed = false;
  #lib: LibcHandle;
  #onSendError: SendErrorHandler | null;
  #onReceiveError: ((error: Error) => void) | null;
  #counts = { batches: 0, datagrams: 0, receiveErrors: 0, sent: 0, sendErrors: 0 };
  // The receive arena: mmsghdr[B] | iovec[B] | sockaddr[B] | data slots[B].
  #in8: Uint8Array;
  #in32: Uint32Array;
  #inMessages: Deno.PointerValue;
  #inSaAt: number;
  #inDataAt: number;
  #drainErrors: () => number;
  // Senders' addresses: IPv4 keyed by address * 65536 + port, IPv6 by a string.
  #v4 = new Map<number, KnownAddr>();
  #v6 = new Map<string, KnownAddr>();
  // Reply destinations the engine did not make, by "host|port" (null: not an address).
  #parsed = new Map<string, Uint32Array | null>();
  // The send arena: mmsghdr[B] | iovec[B] | sockaddr[B] | reply bytes.
  #u8: Uint8Array;
  #u32: Uint32Array;
  #messages: Deno.PointerValue[] = [];
  #iovAt: number;
  #saAt: number;
  #dataAt: number;
  #dataBase: number;
  #pending: Deno.NetAddr[] = [];
  #pollfd = new Uint8Array(80); // struct pollfd (8 bytes), off the V8 heap

  constructor(lib: LibcHandle, socket: BoundSocket, maxBatch: number, options: UdpEngineOptions) {
    this.#lib = lib;
    this.libc = lib.symbols;
    this.fd = socket.fd;
    this.family = socket.family;
    this.addr = socket.addr;
    this.receiveBuffer = socket.receiveBuffer;
    this.maxBatch = maxBatch;
    this.#onSendError = options.onSendError ?? null;
    this.#onReceiveError = options.onReceiveError ?? null;
    // Every pointer is made here, while the FFI permission is still held.
    const inIov = maxBatch * MMSGHDR_SIZE;
    this.#inSaAt = inIov + maxBatch * IOVEC_SIZE;
    this.#inDataAt = this.#inSaAt + maxBatch * SOCKADDR_SLOT;
    const input = new ArrayBuffer(this.#inDataAt + maxBatch * SLOT_SIZE);
    this.#in8 = new Uint8Array(input);
    this.#in32 = new Uint32Array(input);
    this.#inMessages = Deno.UnsafePointer.of(input);
    const inBase = pointerValue(this.#inMessages);
    for (let i = 0; i < maxBatch; i++) {
      const m = i * MMSGHDR_SIZE;
      const iov = inIov + i * IOVEC_SIZE;
      put64(this.#in32, m, inBase + this.#inSaAt + i * SOCKADDR_SLOT); // msg_name
      this.#in32[(m + 8) >>> 2] = SOCKADDR_IN6_LEN; // msg_namelen (in and out)
      put64(this.#in32, m + 16, inBase + iov); // msg_iov
      put64(this.#in32, m + 24, 1); // msg_iovlen
      put64(this.#in32, iov, inBase + this.#inDataAt + i * SLOT_SIZE); // iov_base
      put64(this.#in32, iov + 8, SLOT_SIZE); // iov_len
    }
    this.#drainErrors = errorQueueDrainer(this.libc, this.fd);
    this.#iovAt = maxBatch * MMSGHDR_SIZE;
    this.#saAt = this.#iovAt + maxBatch * IOVEC_SIZE;
    this.#dataAt = this.#saAt + maxBatch * SOCKADDR_SLOT;
    const arena = new ArrayBuffer(this.#dataAt + SEND_ARENA);
    this.#u8 = new Uint8Array(arena);
    this.#u32 = new Uint32Array(arena);
    const messages = Deno.UnsafePointer.of(arena);
    const base = pointerValue(messages);
    this.#dataBase = base + this.#dataAt;
    for (let i = 0; i < maxBatch; i++) {
      const m = i * MMSGHDR_SIZE;
      put64(this.#u32, m, base + this.#saAt + i * SOCKADDR_SLOT); // msg_name
      put64(this.#u32, m + 16, base + this.#iovAt + i * IOVEC_SIZE); // msg_iov
      put64(this.#u32, m + 24, 1); // msg_iovlen
      this.#messages.push(Deno.UnsafePointer.offset(messages!, m));
    }
    const poll = new DataView(this.#pollfd.buffer);
    poll.setInt32(0, this.fd, true);
    poll.setInt16(4, POLLOUT, true);
  }

  /**
   * Reads what is queued, up to maxBatch datagrams, without blocking. The
   * payloads are views of the receive arena, valid until the next read.
   * "again": nothing queued. An empty batch: a receive error about one peer
   * (an ICMP message surfacing on the socket), reported and cleared.
   */
  read(): Datagram[] | "again" {
    if (this.closed) return "again";
    const n = this.libc.recvmmsg(this.fd, this.#inMessages, this.maxBatch, MSG_DONTWAIT, null);
    if (n <= 0) {
      if (n === 0) return "again";
      const e = errno(this.libc);
      if (e === EAGAIN || e === EINTR) return "again";
      this.#counts.receiveErrors++;
      this.#drainErrors();
      this.#onReceiveError?.(new Error(`recvmmsg: ${errnoName(e)}`));
      return [];
    }
    this.#counts.batches++;
    this.#counts.datagrams += n;
    const u8 = this.#in8;
    const u32 = this.#in32;
    const out: Datagram[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const m = (i * MMSGHDR_SIZE) >>> 2;
      const from = this.#inDataAt + i * SLOT_SIZE;
      out[i] = {
        data: u8.subarray(from, from + u32[m + 14]!), // msg_len
        from: this.netAddr(u32, (this.#inSaAt + i * SOCKADDR_SLOT) >>> 2, u32[m + 2]!),
      };
      u32[m + 2] = SOCKADDR_IN6_LEN; // the kernel wrote the real msg_namelen: reset it
    }
    return out;
  }

  /** The counters of reads and sends. */
  stats(): Omit<BatchEngineStats, "waits" | "pauses"> {
    return { ...this.#counts, receiveBuffer: this.receiveBuffer, fd: this.fd };
  }

  /**
   * The NetAddr for the sockaddr at words `w[at..at+7]`, cached so a peer
   * sending many datagrams costs one lookup, not a formatted string.
   */
  netAddr(w: Uint32Array, at: number, namelen: number): Deno.NetAddr {
    const w0 = w[at]!;
    const port = ((w0 >>> 8) & 0xff00) | (w0 >>> 24);
    if ((w0 & 0xffff) === AF_INET) {
      const a = w[at + 1]!;
      const key = a * 65536 + port;
      let known = this.#v4.get(key);
      if (known === undefined) {
        if (this.#v4.size >= ADDRESS_CACHE) this.#v4.clear();
        const hostname = `${a & 255}.${(a >>> 8) & 255}.${(a >>> 16) & 255}.${a >>> 24}`;
        known = remember(w, at, namelen, hostname, port);
        this.#v4.set(key, known);
      }
      return known;
    }
    const key = `${w[at + 2]},${w[at + 3]},${w[at + 4]},${w[at + 5]},${port},${w[at + 6]}`;
    let known = this.#v6.get(key);
    if (known === undefined) {
      if (this.#v6.size >= ADDRESS_CACHE) this.#v6.clear();
      const bytes = new Uint8Array(w.buffer, w.byteOffset + at * 4, 28);
      known = remember(w, at, namelen, formatIPv6(bytes, 8), port);
      this.#v6.set(key, known);
    }
    return known;
  }

  /** The packed sockaddr for a destination: one the engine made, or any IP literal. */
  #sockaddrOf(to: Deno.NetAddr): Uint32Array | null {
    const own = (to as Partial<KnownAddr>)[SOCKADDR];
    if (own !== undefined) return own;
    const key = `${to.hostname}|${to.port}`;
    let sa = this.#parsed.get(key);
    if (sa === undefined) {
      const bytes = parseSockaddr(this.libc, to.hostname, to.port, this.family);
      if (bytes === null) {
        sa = null;
      } else {
        sa = new Uint32Array(8);
        new Uint8Array(sa.buffer).set(bytes);
        sa[7] = bytes.length;
      }
      if (this.#parsed.size >= 4096) this.#parsed.clear();
      this.#parsed.set(key, sa);
    }
    return sa;
  }

  /** Sends replies with as few sendmmsg calls as the arena allows. */
  send(replies: Reply[]): void {
    if (this.closed) throw new Deno.errors.BadResource("The UDP engine is closed");
    const u8 = this.#u8;
    const u32 = this.#u32;
    let n = 0;
    let used = 0;
    let lastData: Uint8Array | null = null;
    let lastAt = 0;
    for (const { data, to } of replies) {
      const sa = this.#sockaddrOf(to);
      if (sa === null) {
        this.#failed(to, new TypeError(`Not an IP address: "${to.hostname}"`));
        continue;
      }
      const length = data.length;
      if (length > 65_535) {
        this.#failed(to, new RangeError(`A ${length}-byte reply cannot be one UDP datagram`));
        continue;
      }
      if (n === this.maxBatch || (data !== lastData && used + length > SEND_ARENA)) {
        this.#flush(n);
        n = 0;
        used = 0;
        lastData = null;
      }
      // The same reply bytes for many peers (the usual acknowledgement) are copied once.
      if (data !== lastData) {
        lastAt = used;
        if (length <= 64) {
          for (let b = 0; b < length; b++) u8[this.#dataAt + lastAt + b] = data[b]!;
        } else {
          u8.set(data, this.#dataAt + lastAt);
        }
        used += (length + 7) & ~7;
        lastData = data;
      }
      const iov = this.#iovAt + n * IOVEC_SIZE;
      put64(u32, iov, this.#dataBase + lastAt);
      put64(u32, iov + 8, length);
      const s = (this.#saAt + n * SOCKADDR_SLOT) >>> 2;
      for (let i = 0; i < 7; i++) u32[s + i] = sa[i]!;
      u32[(n * MMSGHDR_SIZE + 8) >>> 2] = sa[7]!; // msg_namelen
      this.#pending[n] = to;
      n++;
    }
    this.#flush(n);
  }

  #flush(n: number): void {
    let start = 0;
    let again = 0;
    let refusedRetry = false;
    while (start < n) {
      const k = this.libc.sendmmsg(this.fd, this.#messages[start]!, n - start, MSG_DONTWAIT);
      if (k > 0) {
        start += k;
        this.#counts.sent += k;
        refusedRetry = false;
        continue;
      }
      const e = k < 0 ? errno(this.libc) : EAGAIN;
      if (e === EINTR) continue;
      if (e === EAGAIN && again++ < 3) {
        // The send buffer is full: wait for room (3 x 5 ms at most), then drop the rest.
        this.libc.poll(this.#pollfd, 1n, 5);
        continue;
      }
      // A pending ICMP error is reported by whichever call comes next: it is
      // not this datagram's, so this one is tried once more.
      if (e === ECONNREFUSED && !refusedRetry) {
        refusedRetry = true;
        continue;
      }
      if (e === EAGAIN) {
        for (; start < n; start++) {
          this.#failed(this.#pending[start]!, new Error("send buffer full"));
        }
        break;
      }
      this.#failed(this.#pending[start]!, new Error(`sendmmsg: ${errnoName(e)}`));
      start++;
      refusedRetry = false;
    }
    this.#pending.length = 0;
  }

  #failed(to: Deno.NetAddr, error: Error): void {
    this.#counts.sendErrors++;
    this.#onSendError?.(to, error);
  }

  /**
   * Ends the worker's poll(): on Linux, shutdown() of a UDP socket fails
   * (ENOTCONN) but still wakes whoever waits on it.
   */
  wakeWaiter(): void {
    if (this.fd >= 0) this.libc.shutdown(this.fd, SHUT_RD);
  }

  /** Closes the fd (once nothing reads it any more) and the library. */
  close(): void {
    this.closed = true;
    if (this.fd >= 0) {
      this.libc.close(this.fd);
      this.fd = -1;
    }
    this.#lib.close();
  }
}

/** A NetAddr carrying its packed sockaddr, frozen: every datagram from this peer shares it. */
function remember(
  w: Uint32Array,
  at: number,
  namelen: number,
  hostname: string,
  port: number,
): KnownAddr {
  const sa = new Uint32Array(8);
  for (let i = 0; i < 7; i++) sa[i] = w[at + i]!;
  sa[7] = namelen;
  const addr = { transport: "udp", hostname, port } as KnownAddr;
  Object.defineProperty(addr, SOCKADDR, { value: sa, enumerable: false });
  return Object.freeze(addr);
}
