/**
 * The process's open-file limit (RLIMIT_NOFILE). Deno has no API for it, so
 * it is read and raised through libc with FFI (`Deno.dlopen("libc.so.6")`),
 * which needs --allow-ffi. FFI runs outside Deno's permission sandbox: with
 * it granted, the process could call anything in libc. Only getrlimit and
 * setrlimit are bound here, only on Linux, and `serve` revokes the permission
 * right after calling this; without the permission (or on another system)
 * nothing is loaded and the limit is reported unknown.
 */

/** RLIMIT_NOFILE on Linux (x86-64 and arm64 alike). */
const RLIMIT_NOFILE = 7;

/** What {@link raiseFdLimit} found and did. */
export type FdLimit =
  | {
    known: true;
    /** The soft limit before. */
    before: number;
    /** The soft limit now (the hard limit, if raising it worked). */
    soft: number;
    hard: number;
    /** Why the soft limit could not be raised, when it could not. */
    problem?: string;
  }
  | {
    known: false;
    /** Why the limit could not be read: no --allow-ffi, not Linux, no libc.so.6. */
    why: string;
  };

/**
 * Raises the soft limit on open files to the hard limit (as nginx's
 * worker_rlimit_nofile and Go's runtime do); never throws. Without
 * --allow-ffi it asks nothing (a prompt would stop a server on a terminal).
 */
export function raiseFdLimit(): FdLimit {
  if (Deno.build.os !== "linux") return { known: false, why: `not on Linux (${Deno.build.os})` };
  let state: Deno.PermissionState;
  try {
    state = Deno.permissions.querySync({ name: "ffi" }).state;
  } catch {
    state = "denied";
  }
  if (state !== "granted") return { known: false, why: "--allow-ffi not granted" };
  let lib;
  try {
    lib = Deno.dlopen(
      "libc.so.6",
      {
        getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
        setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
      } as const,
    );
  } catch (error) {
    return { known: false, why: `cannot load libc.so.6: ${describe(error)}` };
  }
  try {
    // struct rlimit { rlim_t rlim_cur; rlim_t rlim_max; }: two 64-bit numbers.
    const limits = new BigUint64Array(2);
    const bytes = new Uint8Array(limits.buffer);
    if (lib.symbols.getrlimit(RLIMIT_NOFILE, bytes) !== 0) {
      return { known: false, why: "getrlimit failed" };
    }
    const before = toNumber(limits[0]!);
    const hard = toNumber(limits[1]!);
    if (before >= hard) return { known: true, before, soft: before, hard };
    limits[0] = limits[1]!;
    if (lib.symbols.setrlimit(RLIMIT_NOFILE, bytes) !== 0) {
      return { known: true, before, soft: before, hard, problem: "setrlimit failed" };
    }
    return { known: true, before, soft: hard, hard };
  } finally {
    lib.close();
  }
}

// RLIM_INFINITY is all ones; anything past 2^53 is "more than we will use".
function toNumber(value: bigint): number {
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Descriptors kept back for the process itself: stdio, the log, Deno's own. */
export const FD_RESERVE_BASE = 64;
/** Kept back per running service: its sockets, connections being refused at the cap. */
export const FD_RESERVE_PER_SERVICE = 32;

/** What shares the open-file limit; see {@link connectionsThatFit}. */
export interface FdPlan {
  /** Services running (TCP and UDP). */
  services: number;
  /** TCP services among them: each may hold --max-conns connections. */
  tcpServices: number;
  /**
   * Descriptors one allowed connection may stand for: 2 with TLS, where as many
   * refused connections as --max-conns may wait for their handshake to settle.
   */
  perConnection: number;
  /** Other descriptors the services hold at most (the file service's open files). */
  extra: number;
}

/** Descriptors the plan needs besides client connections. */
export function fdReserve(plan: FdPlan): number {
  return FD_RESERVE_BASE + FD_RESERVE_PER_SERVICE * plan.services + plan.extra;
}

/** Descriptors the plan needs with `maxConns` connections per TCP service. */
export function fdNeeded(plan: FdPlan, maxConns: number): number {
  return fdReserve(plan) + maxConns * plan.tcpServices * plan.perConnection;
}

/** The most connections per TCP service that fit in `limit` with the reserve kept (may be 0). */
export function connectionsThatFit(plan: FdPlan, limit: number): number {
  if (plan.tcpServices === 0) return Number.MAX_SAFE_INTEGER;
  const left = limit - fdReserve(plan);
  return Math.max(0, Math.floor(left / (plan.tcpServices * plan.perConnection)));
}
