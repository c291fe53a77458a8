/**
 * The client end of TLS. Verified (the default): Deno's own TLS over a TCP
 * connection, the certificate checked against the system's roots plus --ca,
 * and the name against --host. --insecure-skip-verify: node:tls with
 * rejectUnauthorized false, since Deno.connectTls has no way to skip the
 * check; it is wrapped to look like any other Deno.Conn.
 */
import tls from "node:tls";
import { isIP } from "node:net";
import { RuntimeError } from "../base/errors.ts";
import { TIMED_OUT, within } from "../base/deadline.ts";
import { closeQuietly } from "../base/io.ts";
import type { ClientTls } from "./client_settings.ts";
import { ConnAdapter } from "./conn_adapter.ts";

/** How long the TLS handshake may take before the client gives up. */
export const TLS_HANDSHAKE_MS = 10_000;

/**
 * Upgrades `tcp` to TLS and completes the handshake, verifying the server's
 * certificate for `hostname`. Throws RuntimeError prefixed with `where`
 * ("Cannot connect to 127.0.0.1:9001 over TLS") saying what to do.
 */
export async function startVerifiedTls(
  tcp: Deno.TcpConn,
  hostname: string,
  options: ClientTls,
  where: string,
): Promise<Deno.TlsConn> {
  let conn: Deno.TlsConn;
  try {
    conn = await Deno.startTls(tcp, { hostname, caCerts: options.caCerts });
  } catch (error) {
    closeQuietly(tcp);
    throw tlsError(where, hostname, error);
  }
  let done;
  try {
    done = await within(conn.handshake(), TLS_HANDSHAKE_MS);
  } catch (error) {
    closeQuietly(conn);
    throw tlsError(where, hostname, error);
  }
  if (done === TIMED_OUT) {
    closeQuietly(conn);
    throw new RuntimeError(
      `${where}: no TLS handshake within ${
        TLS_HANDSHAKE_MS / 1000
      }s: does the server run with TLS (--tls-cert and --tls-key, or --tls-self-signed)?`,
    );
  }
  return conn;
}

/** A clear, one-line reason for a failed handshake: the real cause and the fix. */
function tlsError(where: string, hostname: string, error: unknown): RuntimeError {
  const detail = error instanceof Error ? error.message : String(error);
  const fail = (why: string) => new RuntimeError(`${where}: ${why}`, { cause: error });
  if (/CaUsedAsEndEntity/.test(detail)) {
    return fail(
      "the server presents a CA certificate as its own (as 'openssl req -x509' makes), which " +
        "TLS refuses: serve with a certificate that CA signed, or with --tls-self-signed, " +
        "and give the CA to --ca",
    );
  }
  const names = /only valid for (.*)$/.exec(detail)?.[1];
  if (/NotValidForName|not valid for name/i.test(detail)) {
    const valid = names === undefined ? "" : ` (it is valid for ${presentedNames(names)})`;
    return fail(
      `the server's certificate is not valid for "${hostname}"${valid}: dial one of its ` +
        "names with --host, or give the server a certificate for this one " +
        "(serve --tls-self-signed --tls-name NAME)",
    );
  }
  if (/UnknownIssuer/.test(detail)) {
    return fail(
      "the server's certificate is signed by a CA this client does not trust: give that CA's " +
        "certificate with --ca FILE (for serve --tls-self-signed, its socketkit-tls/ca.pem)",
    );
  }
  if (/Expired/i.test(detail)) {
    return fail(
      "the server's certificate has expired: renew it on the server " +
        "(--tls-self-signed renews its own at start-up)",
    );
  }
  if (/certificate/i.test(detail)) {
    return fail(
      `the server's certificate is not accepted (${detail}); give its CA with --ca FILE, ` +
        "or skip the check with --insecure-skip-verify",
    );
  }
  return fail(
    `the TLS handshake failed (${detail}): does the server run with TLS (--tls-cert and --tls-key, or --tls-self-signed)?`,
  );
}

/** `IpAddress(127.0.0.1), IpAddress(0::1) or DnsName("a.example")` -> `127.0.0.1, ::1, a.example`. */
export function presentedNames(text: string): string {
  const found = [...text.matchAll(/(?:DnsName\("([^"]*)"\)|IpAddress\(([^)]*)\))/g)]
    .map((match) => match[1] ?? canonicalIp(match[2]!));
  return found.length === 0 ? text : found.join(", ");
}

function canonicalIp(text: string): string {
  if (isIP(text) !== 6) return text;
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/**
 * Connects with TLS without checking the certificate (--insecure-skip-verify).
 * Throws RuntimeError prefixed with `where`.
 */
export async function connectInsecureTls(
  hostname: string,
  port: number,
  options: { noDelay: boolean; where: string; connectError: (error: unknown) => Error },
): Promise<Deno.Conn<Deno.NetAddr>> {
  const socket = tls.connect({
    host: hostname,
    port,
    rejectUnauthorized: false,
    ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
  });
  const outcome = new Promise<Error | null>((resolve) => {
    socket.once("secureConnect", () => resolve(null));
    socket.once("error", (error: Error) => resolve(error));
  });
  const result = await within(outcome, TLS_HANDSHAKE_MS);
  if (result === null) {
    if (options.noDelay) socket.setNoDelay(true);
    return new NodeTlsConn(socket);
  }
  socket.destroy();
  if (result === TIMED_OUT) {
    throw new RuntimeError(
      `${options.where}: no TLS handshake within ${
        TLS_HANDSHAKE_MS / 1000
      }s: does the server run with TLS (--tls-cert and --tls-key, or --tls-self-signed)?`,
    );
  }
  const code = (result as { code?: string }).code;
  if (code === "ECONNREFUSED" || code === "ETIMEDOUT" || code === "EHOSTUNREACH") {
    throw options.connectError(nodeToDenoError(result));
  }
  throw tlsError(options.where, hostname, result);
}

// Buffered bytes past which the socket stops reading (backpressure), and below which it resumes.
const HIGH_WATER = 256 * 1024;
const LOW_WATER = 64 * 1024;

/** A node:tls socket behind the Deno.Conn interface, with Deno's error classes. */
class NodeTlsConn extends ConnAdapter {
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
  #socket: tls.TLSSocket;
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | null = null;
  #closed = false;
  #waiters: (() => void)[] = [];

  constructor(socket: tls.TLSSocket) {
    super();
    this.#socket = socket;
    this.localAddr = {
      transport: "tcp",
      hostname: socket.localAddress ?? "",
      port: socket.localPort ?? 0,
    };
    this.remoteAddr = {
      transport: "tcp",
      hostname: socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
    };
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued > HIGH_WATER) socket.pause();
      this.#wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("error", (error: Error) => {
      this.#error = error;
      this.#wake();
    });
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#closed) throw new Deno.errors.BadResource("The connection is closed");
      if (this.#error) throw nodeToDenoError(this.#error);
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    const head = this.#chunks[0]!;
    const n = Math.min(buffer.length, head.length);
    buffer.set(head.subarray(0, n));
    if (n === head.length) this.#chunks.shift();
    else this.#chunks[0] = head.subarray(n);
    this.#queued -= n;
    if (this.#queued < LOW_WATER && this.#socket.isPaused()) this.#socket.resume();
    return n;
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("The connection is closed"));
    }
    if (this.#error) return Promise.reject(nodeToDenoError(this.#error));
    // A copy: the caller may reuse its buffer before the socket has sent it.
    const copy = bytes.slice();
    return new Promise((resolve, reject) => {
      this.#socket.write(copy, (error?: Error | null) => {
        if (error) reject(nodeToDenoError(error));
        else resolve(copy.length);
      });
    });
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(() => resolve()));
  }

  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("The connection is closed");
    this.#closed = true;
    this.#socket.destroy();
    this.#wake();
  }

  ref(): void {
    this.#socket.ref();
  }

  unref(): void {
    this.#socket.unref();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/** The Deno error class for a node socket error, so isDisconnect() and friends work. */
function nodeToDenoError(error: Error): Error {
  switch ((error as { code?: string }).code) {
    case "ECONNRESET":
      return new Deno.errors.ConnectionReset(error.message);
    case "EPIPE":
      return new Deno.errors.BrokenPipe(error.message);
    case "ECONNREFUSED":
      return new Deno.errors.ConnectionRefused(error.message);
    case "ETIMEDOUT":
      return new Deno.errors.TimedOut(error.message);
    case "ECONNABORTED":
      return new Deno.errors.ConnectionAborted(error.message);
    default:
      return error;
  }
}
