/**
 * The libc calls that make durability cheap for many small files (Linux
 * only, through FFI, which needs --allow-ffi): `syncfs` flushes every dirty
 * file of one file system in one call, so a group of files costs one sync
 * instead of one fsync each; `renameat2(RENAME_NOREPLACE)` makes a file
 * visible under a name only if the name is free, in one call instead of
 * link + unlink. `serve` calls {@link loadFsLibc} before it gives up the FFI
 * permission (calls of bound functions are not checked afterwards); without
 * FFI (or off Linux) nothing is bound and callers fall back to concurrent
 * fdatasync and link + unlink, with the same guarantees. FFI runs outside
 * Deno's sandbox: the functions below and memcpy (to read errno) are all
 * that is bound.
 */

const AT_FDCWD = -100;
const RENAME_NOREPLACE = 1;
const O_RDONLY_DIRECTORY_CLOEXEC = 0o200000 | 0o2000000;
const ENOENT = 2;
const EEXIST = 17;
const EINVAL = 22;
const ENOSYS = 38;
const F_OK = 0;
const AT_SYMLINK_NOFOLLOW = 0x100;
const EPERM = 1;
const ENOTSUP = 95;

const SYMBOLS = {
  // Blocking calls run on Deno's thread pool: the event loop goes on meanwhile.
  syncfs: { parameters: ["i32"], result: "i32", nonblocking: true },
  fsync: { parameters: ["i32"], result: "i32", nonblocking: true },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  renameat2: { parameters: ["i32", "buffer", "i32", "buffer", "u32"], result: "i32" },
  faccessat: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  __errno_location: { parameters: [], result: "pointer" },
  // Reads errno: pointer views need the FFI permission, which serve gives up.
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

type Bound = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let bound: Bound | null | undefined;
let renameWorks = true;
let attributesWork = true;
/** Room for one attribute value (a digest record is about 120 bytes). */
const attributeBuffer = new Uint8Array(1024);
const decoder = new TextDecoder();
const errnoCopy = new Int32Array(1);
const errnoBytes = new Uint8Array(errnoCopy.buffer);

/**
 * Binds the functions once, if FFI is granted and this is Linux; never
 * throws and never prompts. Returns whether they are bound.
 */
export function loadFsLibc(): boolean {
  if (bound !== undefined) return bound !== null;
  bound = null;
  if (Deno.build.os !== "linux") return false;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return false;
    bound = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch {
    bound = null;
  }
  return bound !== null;
}

/**
 * Flushes every dirty file and directory of the file system holding `path`
 * (syncfs(2)): true when done, false when syncfs is not bound here (the
 * caller syncs each file). Throws when the sync fails.
 */
export async function syncFileSystem(path: string): Promise<boolean> {
  if (!loadFsLibc()) return false;
  const fd = openDir(path);
  try {
    if ((await bound!.syncfs(fd)) !== 0) {
      throw new Error(`syncfs "${path}" failed (errno ${errno()})`);
    }
  } finally {
    bound!.close(fd);
  }
  return true;
}

/**
 * fsync of a directory, so the names made or removed in it are on disk.
 * Without FFI, Deno opens the directory and syncs it. Throws when it fails.
 */
export async function syncDirectory(path: string): Promise<void> {
  if (!loadFsLibc()) {
    using dir = await Deno.open(path, { read: true });
    await dir.sync();
    return;
  }
  const fd = openDir(path);
  try {
    if ((await bound!.fsync(fd)) !== 0) {
      throw new Error(`fsync "${path}" failed (errno ${errno()})`);
    }
  } finally {
    bound!.close(fd);
  }
}

/**
 * Renames `from` to `to` only if `to` does not exist: true when done,
 * false when renameat2 is not available here (the caller links instead).
 * Throws Deno.errors.AlreadyExists when `to` exists, Deno.errors.NotFound
 * when a folder on the way is missing, an Error with the errno otherwise.
 */
export function renameNoReplace(from: string, to: string): boolean {
  if (!renameWorks || !loadFsLibc()) return false;
  if (bound!.renameat2(AT_FDCWD, cString(from), AT_FDCWD, cString(to), RENAME_NOREPLACE) === 0) {
    return true;
  }
  const code = errno();
  if (code === EEXIST) throw new Deno.errors.AlreadyExists(`"${to}" exists`);
  if (code === ENOENT) throw new Deno.errors.NotFound(`"${from}" or the folder of "${to}"`);
  if (code === ENOSYS || code === EINVAL) {
    renameWorks = false; // an old kernel or a file system without it: link instead
    return false;
  }
  throw new Error(`renameat2 "${from}" -> "${to}" failed (errno ${code})`);
}

/**
 * Sets the extended attribute `name` (e.g. "user.socketkit") of the file at
 * `path` (a symlink itself, not followed) to `value`: metadata of the
 * inode, so no file is created for it. False when it cannot be done here
 * (no FFI, or a file system without user attributes): the caller keeps the
 * value elsewhere. Throws an Error with the errno for other failures.
 */
export function setAttribute(path: string, name: string, value: string): boolean {
  if (!attributesWork || !loadFsLibc()) return false;
  const bytes = encoder.encode(value);
  if (bound!.lsetxattr(cString(path), cString(name), bytes, BigInt(bytes.length), 0) === 0) {
    return true;
  }
  const code = errno();
  if (code === ENOTSUP || code === EPERM) {
    attributesWork = false;
    return false;
  }
  throw new Error(`setxattr "${path}" failed (errno ${code})`);
}

/** The extended attribute `name` of the file at `path`, or null when it has none (or cannot be read). */
export function getAttribute(path: string, name: string): string | null {
  if (!loadFsLibc()) return null;
  const size = Number(
    bound!.lgetxattr(cString(path), cString(name), attributeBuffer, BigInt(attributeBuffer.length)),
  );
  if (size < 0) return null;
  return decoder.decode(attributeBuffer.subarray(0, size));
}

/**
 * Whether anything (a symlink itself included) is at `path`; null when it
 * cannot be told here without an exception (no FFI: use lstat).
 */
export function pathExists(path: string): boolean | null {
  if (!loadFsLibc()) return null;
  return bound!.faccessat(AT_FDCWD, cString(path), F_OK, AT_SYMLINK_NOFOLLOW) === 0;
}

function openDir(path: string): number {
  const fd = bound!.open(cString(path), O_RDONLY_DIRECTORY_CLOEXEC);
  if (fd < 0) throw new Error(`Cannot open "${path}" (errno ${errno()})`);
  return fd;
}

function errno(): number {
  const where = bound!.__errno_location();
  if (where === null) return 0;
  bound!.memcpy(errnoBytes, where, 4n);
  return errnoCopy[0]!;
}

const encoder = new TextEncoder();

// Bound once when this module loads (a library opened later would be a
// resource of whatever test or request happened to open it first).
loadFsLibc();

function cString(text: string): Uint8Array {
  const bytes = encoder.encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}
