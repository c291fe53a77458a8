/**
 * The tar format, written by hand (POSIX ustar with pax extended headers
 * for what ustar cannot hold: names over its 100 + 155 bytes, sizes of 8 GiB
 * and more). GNU tar, bsdtar and Python's tarfile read it.
 */

const BLOCK = 512;
/** The largest size the 11 octal digits of a ustar header hold. */
const USTAR_MAX_SIZE = 0o77777777777;
const encoder = new TextEncoder();

/** One member to write. */
export interface TarEntry {
  /** Path inside the archive, `/`-separated; folders end with `/`. */
  path: string;
  /** Bytes of content (0 for a folder). */
  size: number;
  /** Modification time, milliseconds since the epoch. */
  mtimeMs: number;
}

/** The header block(s) of `entry`: a pax header first when ustar cannot hold it. */
export function tarHeader(entry: TarEntry): Uint8Array {
  const folder = entry.path.endsWith("/");
  const pathBytes = encoder.encode(entry.path);
  const split = splitUstarPath(pathBytes);
  const pax: string[] = [];
  if (split === null) pax.push(paxRecord("path", entry.path));
  if (entry.size > USTAR_MAX_SIZE) pax.push(paxRecord("size", String(entry.size)));
  const mtime = Math.max(0, Math.floor(entry.mtimeMs / 1000));
  const main = ustarBlock({
    name: split?.name ?? truncateBytes(pathBytes, 100),
    prefix: split?.prefix ?? new Uint8Array(0),
    size: entry.size > USTAR_MAX_SIZE ? 0 : entry.size,
    mtime,
    type: folder ? "5" : "0",
    mode: folder ? 0o755 : 0o644,
  });
  if (pax.length === 0) return main;
  const body = encoder.encode(pax.join(""));
  const paxHeader = ustarBlock({
    name: truncateBytes(encoder.encode(`PaxHeaders/${lastSegment(entry.path)}`), 100),
    prefix: new Uint8Array(0),
    size: body.length,
    mtime,
    type: "x",
    mode: 0o644,
  });
  const out = new Uint8Array(BLOCK + padded(body.length) + BLOCK);
  out.set(paxHeader, 0);
  out.set(body, BLOCK);
  out.set(main, BLOCK + padded(body.length));
  return out;
}

/** Zero bytes that fill a member of `size` bytes up to a whole block. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array(padded(size) - size);
}

/** The end of an archive: two zero blocks. */
export function tarEnd(): Uint8Array {
  return new Uint8Array(2 * BLOCK);
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** A pax record: "<length> key=value\n", where length counts the whole record. */
export function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restBytes = encoder.encode(rest).length;
  let length = restBytes + 1;
  while (String(length).length + restBytes !== length) length = String(length).length + restBytes;
  return `${length}${rest}`;
}

/** name (at most 100 bytes) and prefix (at most 155) split at a `/`, or null. */
function splitUstarPath(path: Uint8Array): { name: Uint8Array; prefix: Uint8Array } | null {
  if (path.length <= 100) return { name: path, prefix: new Uint8Array(0) };
  const slash = 0x2f;
  // The split slash is dropped: prefix + "/" + name.
  for (let at = Math.min(155, path.length - 1); at > 0; at--) {
    if (path[at] !== slash) continue;
    const name = path.subarray(at + 1);
    if (name.length === 0 || name.length > 100) return null;
    return { name, prefix: path.subarray(0, at) };
  }
  return null;
}

function ustarBlock(fields: {
  name: Uint8Array;
  prefix: Uint8Array;
  size: number;
  mtime: number;
  type: string;
  mode: number;
}): Uint8Array {
  const block = new Uint8Array(BLOCK);
  block.set(fields.name, 0);
  writeOctal(block, 100, 8, fields.mode);
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, fields.mtime);
  block.fill(0x20, 148, 156); // checksum field counts as spaces
  block[156] = fields.type.charCodeAt(0);
  block.set(encoder.encode("ustar\0"), 257);
  block.set(encoder.encode("00"), 263);
  block.set(fields.prefix, 345);
  let sum = 0;
  for (const byte of block) sum += byte;
  const checksum = sum.toString(8).padStart(6, "0");
  block.set(encoder.encode(`${checksum}\0 `), 148);
  return block;
}

/** `value` in octal, zero-padded to width - 1 digits and a NUL. */
function writeOctal(block: Uint8Array, offset: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, "0");
  block.set(encoder.encode(digits + "\0"), offset);
}

/** At most `max` bytes, cut at a UTF-8 character boundary. */
function truncateBytes(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

function lastSegment(path: string): string {
  const trimmed = path.replace(/\/$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}
