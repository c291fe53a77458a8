/**
 * The libc side of the UDP batch engine (Linux on x86_64 and aarch64 only):
 * the FFI symbols, constants, the struct layouts recvmmsg and sendmmsg need,
 * and sockaddr <-> Deno.NetAddr conversion. Used by the main thread (socket,
 * bind, sendmmsg, close) and the receive worker (recvmmsg).
 *
 * FFI runs outside Deno's permission sandbox. These are the only libc
 * functions the engine binds (docs/security.md lists them). Every pointer
 * the engine needs is made while it opens: Deno checks the FFI permission
 * each time a pointer is made or read, and serve gives that permission up
 * once the engines are open; calls of bound functions are not checked.
 *
 * Struct layouts (LP64 Linux, glibc and musl alike):
 *   struct msghdr   { void *name; u32 namelen; (pad); iovec *iov; size_t iovlen;
 *                     void *control; size_t controllen; int flags; (pad) }  = 56
 *   struct mmsghdr  { msghdr hdr; u32 len; (pad) }                          = 64
 *   struct iovec    { void *base; size_t len; }                             = 16
 *   sockaddr_in     { u16 family; u16 port (BE); u8 addr[4]; u8 zero[8] }  = 16
 *   sockaddr_in6    { u16 family; u16 port (BE); u32 flow; u8 addr[16]; u32 scope } = 28
 */

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
export const SHUT_RD = 0;
export const MSG_DONTWAIT = 0x40;
export const MSG_ERRQUEUE = 0x2000;
export const POLLOUT = 0x4;

export const EINTR = 4;
export const EBADF = 9;
export const EAGAIN = 11;
export const EACCES = 13;
export const EADDRINUSE = 98;
export const EADDRNOTAVAIL = 99;
export const ECONNREFUSED = 111;

export const MMSGHDR_SIZE = 64;
export const IOVEC_SIZE = 16;
/** Room for either sockaddr, rounded up to 32 so slots stay 8-aligned. */
export const SOCKADDR_SLOT = 32;
export const SOCKADDR_IN_LEN = 16;
export const SOCKADDR_IN6_LEN = 28;

/** Every libc function the engine calls; both threads open these. */
export const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  recvmmsg: { parameters: ["i32", "pointer", "u32", "i32", "pointer"], result: "i32" },
  sendmmsg: { parameters: ["i32", "pointer", "u32", "i32"], result: "i32" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  inet_pton: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  // Reads errno: Deno's pointer views need the FFI permission at every use,
  // and the engine runs on after the permission is given up.
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

export type LibcHandle = Deno.DynamicLibrary<typeof SYMBOLS>;
export type Libc = LibcHandle["symbols"];

/** Opens libc (one handle per thread: the main thread and the worker each call this). */
export function openLibc(): LibcHandle {
  return Deno.dlopen("libc.so.6", SYMBOLS);
}

// Where errno is copied to (off the V8 heap: over 64 bytes).
const errnoCopy = new Int32Array(32);

/**
 * errno of the calling thread, read right after a call on this same thread.
 * Only FFI symbol calls: it works after the FFI permission was given up.
 */
export function errno(libc: Libc): number {
  libc.memcpy(errnoCopy, libc.__errno_location(), 4n);
  return errnoCopy[0]!;
}

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  [EINTR]: "EINTR",
  [EBADF]: "EBADF",
  [EAGAIN]: "EAGAIN",
  [EACCES]: "EACCES",
  22: "EINVAL",
  90: "EMSGSIZE",
  97: "EAFNOSUPPORT",
  [EADDRINUSE]: "EADDRINUSE",
  [EADDRNOTAVAIL]: "EADDRNOTAVAIL",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  [ECONNREFUSED]: "ECONNREFUSED",
  113: "EHOSTUNREACH",
};

/** "EADDRINUSE", or "errno 123" for the rest. */
export function errnoName(e: number): string {
  return ERRNO_NAMES[e] ?? `errno ${e}`;
}

/** The numeric value of a pointer (user-space addresses fit in 2^53 on LP64 Linux). */
export function pointerValue(p: Deno.PointerValue): number {
  return Number(Deno.UnsafePointer.value(p));
}

/** Writes a 64-bit pointer or size at byte offset `off` (8-aligned) through a Uint32Array. */
export function put64(u32: Uint32Array, off: number, value: number): void {
  const i = off >>> 2;
  u32[i] = value % 0x1_0000_0000;
  u32[i + 1] = Math.floor(value / 0x1_0000_0000);
}

const utf8 = new TextEncoder();

/**
 * Parses an IP literal (or "localhost") into a sockaddr; with `family`
 * AF_INET6, an IPv4 address becomes ::ffff:a.b.c.d (a destination on an IPv6
 * socket). Returns its bytes (16 or 28), or null when `hostname` is not an
 * address literal (the engine does not resolve names).
 */
export function parseSockaddr(
  libc: Libc,
  hostname: string,
  port: number,
  family: number | null = null,
): Uint8Array | null {
  let host = hostname === "localhost" ? "127.0.0.1" : hostname;
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  // Numeric scope ids only (fe80::1%2); names are not resolved.
  const zone = host.indexOf("%");
  let scope = 0;
  if (zone >= 0) {
    scope = Number(host.slice(zone + 1)) >>> 0;
    host = host.slice(0, zone);
  }
  const text = utf8.encode(host + "\0");
  const raw = new Uint8Array(16);
  if (libc.inet_pton(AF_INET, text, raw) === 1) {
    if (family === AF_INET6) {
      const sa = new Uint8Array(SOCKADDR_IN6_LEN);
      sa[0] = AF_INET6;
      sa[2] = port >> 8;
      sa[3] = port & 255;
      sa[18] = 0xff;
      sa[19] = 0xff;
      sa.set(raw.subarray(0, 4), 20);
      return sa;
    }
    const sa = new Uint8Array(SOCKADDR_IN_LEN);
    sa[0] = AF_INET;
    sa[2] = port >> 8;
    sa[3] = port & 255;
    sa.set(raw.subarray(0, 4), 4);
    return sa;
  }
  if (family !== AF_INET && libc.inet_pton(AF_INET6, text, raw) === 1) {
    const sa = new Uint8Array(SOCKADDR_IN6_LEN);
    sa[0] = AF_INET6;
    sa[2] = port >> 8;
    sa[3] = port & 255;
    sa.set(raw, 8);
    new DataView(sa.buffer).setUint32(24, scope, true);
    return sa;
  }
  return null;
}

/** The IPv4 address held in 4 bytes at `off`. */
export function formatIPv4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/**
 * The 16 bytes at `off` as Deno writes an IPv6 address (Rust's Ipv6Addr):
 * lowercase hex, the longest run of two or more zero groups as "::", and
 * IPv4-mapped addresses as ::ffff:a.b.c.d.
 */
export function formatIPv6(b: Uint8Array, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIPv4(b, off + 12)}`;
  }
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(":");
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLength, 8)}`;
}

/** Decodes the sockaddr (IPv4 or IPv6) at `off`. */
export function decodeSockaddr(b: Uint8Array, off: number): { hostname: string; port: number } {
  const family = b[off]! | (b[off + 1]! << 8);
  const port = (b[off + 2]! << 8) | b[off + 3]!;
  if (family === AF_INET) return { hostname: formatIPv4(b, off + 4), port };
  if (family === AF_INET6) return { hostname: formatIPv6(b, off + 8), port };
  return { hostname: "", port: 0 };
}

/**
 * A function that empties the socket's error queue (ICMP errors land there
 * only with IP_RECVERR on) and says how many entries it removed, at most 64.
 * A queue left full would take receive buffer space from real datagrams.
 */
export function errorQueueDrainer(libc: Libc, fd: number): () => number {
  // msghdr (56) at 0, iovec (16) at 64, payload at 128, control at 384: one
  // off-heap buffer (over 64 bytes, so V8 never moves it).
  const memory = new Uint8Array(640);
  const m32 = new Uint32Array(memory.buffer);
  const p = pointerValue(Deno.UnsafePointer.of(memory));
  put64(m32, 16, p + 64); // msg_iov
  put64(m32, 24, 1); // msg_iovlen
  put64(m32, 32, p + 384); // msg_control
  put64(m32, 64, p + 128); // iov_base
  put64(m32, 72, 256); // iov_len
  return () => {
    let drained = 0;
    for (; drained < 64; drained++) {
      put64(m32, 40, 256); // msg_controllen is in and out
      if (libc.recvmsg(fd, memory, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;
    }
    return drained;
  };
}
