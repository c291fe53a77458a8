/**
 * The PROXY protocol header (HAProxy's, versions 1 and 2) that a load
 * balancer sends first on each connection it forwards, naming the client it
 * came from. Only read on connections from a balancer the server was told
 * to trust (serve --proxy-protocol): anyone else could name any address.
 *
 * Exactly the header's bytes are read, never one more: what follows belongs
 * to the service (or to an AUTH line). Version 1 is read a byte at a time up
 * to its CRLF (at most 107 bytes); version 2 is 16 bytes and the length they
 * give.
 */
import { formatIp, parseIp } from "./ip.ts";

/** Longest version 1 header, CRLF included (the specification's bound). */
const V1_MAX = 107;
/** The 12 bytes every version 2 header starts with. */
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
/** Longest version 2 address block accepted (addresses and TLVs); a balancer sends far less. */
const V2_MAX_BLOCK = 1024;

/** What a header says: the client's address, or null when it names none (LOCAL, UNKNOWN). */
export type ProxySource = Deno.NetAddr | null;

/** A header that is missing, malformed or cut short; the connection must be closed. */
export class ProxyHeaderError extends Error {}

interface Reader {
  read(buffer: Uint8Array): Promise<number | null>;
}

/** Reads and parses the header at the start of `conn`. Throws ProxyHeaderError. */
export async function readProxyHeader(conn: Reader): Promise<ProxySource> {
  // 15 bytes: the shortest version 1 header ("PROXY UNKNOWN\r\n"), and within
  // version 2's fixed 16, so neither form is read past.
  const start = await readExact(conn, 15);
  if (V2_SIGNATURE.every((byte, i) => start[i] === byte)) {
    const fixed = new Uint8Array(16);
    fixed.set(start);
    fixed.set(await readExact(conn, 1), 15);
    return readV2(conn, fixed);
  }
  if (new TextDecoder().decode(start.subarray(0, 6)) !== "PROXY ") {
    throw new ProxyHeaderError("no PROXY protocol header");
  }
  const line = [...start];
  while (!(line.at(-2) === 0x0d && line.at(-1) === 0x0a)) {
    if (line.length >= V1_MAX) throw new ProxyHeaderError("PROXY header longer than 107 bytes");
    line.push(...await readExact(conn, 1));
  }
  return parseV1(String.fromCharCode(...line.slice(0, -2)));
}

/** "PROXY TCP4 203.0.113.7 192.0.2.1 51234 9001" (without CRLF). */
export function parseV1(line: string): ProxySource {
  const parts = line.split(" ");
  if (parts[1] === "UNKNOWN") return null;
  if (parts.length !== 6 || (parts[1] !== "TCP4" && parts[1] !== "TCP6")) {
    throw new ProxyHeaderError("malformed PROXY header");
  }
  const [, family, source, , port] = parts as [string, string, string, string, string];
  const address = parseIp(source);
  const fits = family === "TCP4"
    ? address?.family === 4 && !source.includes(":")
    : address !== null && source.includes(":");
  if (!fits) {
    throw new ProxyHeaderError("malformed PROXY header: bad source address");
  }
  return { transport: "tcp", hostname: source, port: portNumber(port) };
}

async function readV2(conn: Reader, fixed: Uint8Array): Promise<ProxySource> {
  const version = fixed[12]! >> 4;
  const command = fixed[12]! & 0x0f;
  const family = fixed[13]!;
  const length = (fixed[14]! << 8) | fixed[15]!;
  if (version !== 2 || command > 1) throw new ProxyHeaderError("malformed PROXY v2 header");
  if (length > V2_MAX_BLOCK) throw new ProxyHeaderError("PROXY v2 header too long");
  const block = length > 0 ? await readExact(conn, length) : new Uint8Array(0);
  // LOCAL: the balancer's own connection (a health check): no client to name.
  if (command === 0) return null;
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  if (family === 0x11 && length >= 12) {
    return {
      transport: "tcp",
      hostname: [...block.subarray(0, 4)].join("."),
      port: view.getUint16(8),
    };
  }
  if (family === 0x21 && length >= 36) {
    const hostname = formatIp({ family: 6, bytes: block.slice(0, 16) });
    return { transport: "tcp", hostname, port: view.getUint16(32) };
  }
  // UNSPEC, UDP or UNIX sources: nothing an address rule could apply to.
  if (family === 0x00) return null;
  throw new ProxyHeaderError("PROXY v2 header for a transport other than TCP");
}

function portNumber(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new ProxyHeaderError("malformed PROXY header: bad port");
  return port;
}

async function readExact(conn: Reader, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const n = await conn.read(buffer.subarray(filled));
    if (n === null) throw new ProxyHeaderError("connection closed inside the PROXY header");
    filled += n;
  }
  return buffer;
}
