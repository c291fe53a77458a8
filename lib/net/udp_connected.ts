/**
 * A UDP socket connected to one server address, through libc (FFI). Deno's
 * UDP sockets are never connected, and an unconnected socket is never told of
 * the ICMP "port unreachable" a host sends back when nothing listens on the
 * port; a connected one is, so a client can say so at once instead of
 * waiting out every try.
 *
 * Used only where it can be: on Linux, and only when the process was granted
 * `--allow-ffi`. FFI lifts Deno's sandbox for the whole process (native code
 * can do anything), which is why `serve` gives the permission up at start-up
 * and the client calls nothing but socket, connect, send, recv, poll,
 * close and __errno_location (see docs/security.md). Everywhere else the caller
 * falls back to Deno's own UDP socket and its timeouts.
 */
import { parseIp } from "./ip.ts";

/** The host answered that nothing listens on the port (ICMP port unreachable). */
export class PortUnreachable extends Error {
  constructor(where: string) {
    super(`Nothing listens on UDP ${where}: the host answered "port unreachable"`);
    this.name = "PortUnreachable";
  }
}

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  // On a thread of its own, so waiting for a datagram never blocks the event loop.
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

// Linux values (the same on x86-64 and arm64).
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const POLLIN = 0x1;
const ECONNREFUSED = 111;
const EAGAIN = 11;

/** The largest UDP payload, and so the largest reply kept. */
const MAX_DATAGRAM = 65_535;

/** Whether this process may and can use a connected socket. */
export function connectedUdpAvailable(): boolean {
  return Deno.build.os === "linux" &&
    Deno.permissions.querySync({ name: "ffi" }).state === "granted";
}

/** A UDP socket connected to one address; see the module's note. */
export class ConnectedUdp {
  #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  #fd: number;
  #where: string;
  #buffer = new Uint8Array(MAX_DATAGRAM);
  #pending: Promise<number> | null = null;
  #closed = false;

  private constructor(lib: Deno.DynamicLibrary<typeof SYMBOLS>, fd: number, where: string) {
    this.#lib = lib;
    this.#fd = fd;
    this.#where = where;
  }

  /**
   * Opens a socket connected to `hostname`:`port` (`where` names it in
   * errors), or null where that is not possible: not Linux, no FFI
   * permission, no libc, a name that does not resolve. Never throws.
   */
  static async open(hostname: string, port: number, where: string): Promise<ConnectedUdp | null> {
    if (!connectedUdpAvailable()) return null;
    const address = await resolve(hostname);
    if (address === null) return null;
    let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      lib = Deno.dlopen("libc.so.6", SYMBOLS);
    } catch {
      return null; // not glibc (e.g. musl without the name): fall back
    }
    const sockaddr = socketAddress(address, port);
    const fd = lib.symbols.socket(
      address.family === 4 ? AF_INET : AF_INET6,
      SOCK_DGRAM | SOCK_CLOEXEC,
      0,
    );
    if (fd < 0) {
      lib.close();
      return null;
    }
    if (lib.symbols.connect(fd, sockaddr, sockaddr.length) !== 0) {
      lib.symbols.close(fd);
      lib.close();
      return null;
    }
    return new ConnectedUdp(lib, fd, where);
  }

  /** Sends one datagram. Throws PortUnreachable after an earlier try was refused. */
  send(bytes: Uint8Array): void {
    const sent = this.#lib.symbols.send(this.#fd, bytes, BigInt(bytes.length), MSG_DONTWAIT);
    if (sent >= 0) return;
    const error = this.#errno();
    if (error === ECONNREFUSED) throw new PortUnreachable(this.#where);
    // A full send buffer (EAGAIN) is a lost datagram, as UDP allows; the rest say why.
    if (error !== EAGAIN) {
      throw new Error(`send failed (errno ${error})`);
    }
  }

  /**
   * The next datagram from the server, or null when none comes within `ms`.
   * Throws PortUnreachable when the host answered that nothing listens.
   */
  async receive(ms: number): Promise<Uint8Array | null> {
    const deadline = Date.now() + ms;
    while (!this.#closed) {
      const data = this.#tryReceive();
      if (data !== null) return data;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      // poll() wakes for a datagram (POLLIN) or a queued ICMP error (POLLERR, always watched).
      const pollfd = new Uint8Array(8);
      const view = new DataView(pollfd.buffer);
      view.setInt32(0, this.#fd, true);
      view.setInt16(4, POLLIN, true);
      this.#pending = this.#lib.symbols.poll(pollfd, 1n, Math.min(left, 1000));
      await this.#pending;
      this.#pending = null;
    }
    return null;
  }

  /**
   * Closes the socket; one a poll is still watching is closed when the poll
   * returns (within a second), so the descriptor is never reused under it.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const release = () => {
      this.#lib.symbols.close(this.#fd);
      this.#lib.close();
    };
    if (this.#pending === null) release();
    else void this.#pending.then(release, release);
  }

  // A datagram waiting now, or null; PortUnreachable for a queued refusal.
  #tryReceive(): Uint8Array | null {
    const buffer = this.#buffer;
    const n = Number(
      this.#lib.symbols.recv(this.#fd, buffer, BigInt(buffer.length), MSG_DONTWAIT),
    );
    if (n >= 0) return buffer.slice(0, n);
    // recv() reports the error an ICMP message left on the socket, and clears it.
    if (this.#errno() === ECONNREFUSED) throw new PortUnreachable(this.#where);
    return null; // nothing yet (EAGAIN), or an ICMP error that is not a refusal
  }

  // errno of the call just made: synchronous FFI calls run on this thread,
  // and nothing runs between the call and this read.
  #errno(): number {
    const pointer = this.#lib.symbols.__errno_location();
    return pointer === null ? -1 : new Deno.UnsafePointerView(pointer).getInt32();
  }
}

async function resolve(hostname: string): Promise<{ family: 4 | 6; bytes: Uint8Array } | null> {
  if (hostname.includes("%")) return null; // a zone (fe80::1%eth0): leave it to Deno
  const literal = parseIp(hostname);
  if (literal !== null) return literal;
  try {
    const { lookup } = await import("node:dns/promises");
    const { address } = await lookup(hostname);
    return parseIp(address);
  } catch {
    return null;
  }
}

// struct sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes); family in host
// order (little-endian on every Linux Deno runs on), port in network order.
function socketAddress(address: { family: 4 | 6; bytes: Uint8Array }, port: number): Uint8Array {
  const out = new Uint8Array(address.family === 4 ? 16 : 28);
  const view = new DataView(out.buffer);
  view.setUint16(0, address.family === 4 ? AF_INET : AF_INET6, true);
  view.setUint16(2, port, false);
  out.set(address.bytes, address.family === 4 ? 4 : 8);
  return out;
}
