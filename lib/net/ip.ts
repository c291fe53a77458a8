/**
 * IP addresses as bytes, for matching peers against --allow/--deny rules.
 * IPv4-mapped IPv6 addresses (::ffff:10.0.0.1, what a dual-stack socket
 * reports for an IPv4 peer) are turned into plain IPv4, so one rule covers
 * both forms.
 */

/** A parsed address: 4 bytes for IPv4, 16 for IPv6. */
export interface IpAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** Parses a literal IPv4 or IPv6 address (a zone like `%eth0` is ignored); null if it is not one. */
export function parseIp(text: string): IpAddress | null {
  const host = text.trim().replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  if (host.includes(":")) {
    const bytes = parseIpv6(host);
    if (bytes === null) return null;
    return isMapped(bytes) ? { family: 4, bytes: bytes.slice(12) } : { family: 6, bytes };
  }
  const bytes = parseIpv4(host);
  return bytes === null ? null : { family: 4, bytes };
}

/** True when the first `bits` bits of `a` and `b` are equal (same length assumed). */
export function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}

/** "10.0.0.0" or "2001:db8::" (not the shortest form, just a readable one). */
export function formatIp(address: IpAddress): string {
  if (address.family === 4) return [...address.bytes].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push(((address.bytes[i]! << 8) | address.bytes[i + 1]!).toString(16));
  }
  return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    // No leading zeros: "010" is octal to some parsers and decimal to others.
    if (!/^(0|[1-9]\d{0,2})$/.test(parts[i]!)) return null;
    const n = Number(parts[i]);
    if (n > 255) return null;
    bytes[i] = n;
  }
  return bytes;
}

function parseIpv6(text: string): Uint8Array | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] === "" ? [] : halves[0]!.split(":");
  const tail = halves.length === 2 ? (halves[1] === "" ? [] : halves[1]!.split(":")) : [];
  const groups: number[] = [];
  const all = [...head, ...(halves.length === 2 ? ["::"] : []), ...tail];
  for (let i = 0; i < all.length; i++) {
    const part = all[i]!;
    if (part === "::") {
      groups.push(-1); // where the run of zeros goes
    } else if (part.includes(".")) {
      if (i !== all.length - 1) return null; // an embedded IPv4 only comes last
      const v4 = parseIpv4(part);
      if (v4 === null) return null;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return null;
      groups.push(parseInt(part, 16));
    }
  }
  const gap = groups.indexOf(-1);
  const explicit = groups.filter((group) => group !== -1);
  if (gap === -1 ? explicit.length !== 8 : explicit.length > 7) return null;
  const full = gap === -1
    ? explicit
    : [...groups.slice(0, gap), ...Array(8 - explicit.length).fill(0), ...groups.slice(gap + 1)];
  const bytes = new Uint8Array(16);
  full.forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 0xff;
  });
  return bytes;
}

function isMapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * One spelling per address, for per-address tables: "::ffff:10.0.0.1" and
 * "10.0.0.1" give the same key. Text that is not an address is kept as is.
 */
export function ipKey(host: string): string {
  const address = parseIp(host);
  return address === null ? host : formatIp(address);
}
