/** Binding sockets, with errors a user can act on. */
import { RuntimeError } from "../base/errors.ts";
import { formatHostPort } from "./address.ts";

/** A certificate chain and its private key, both PEM text. */
export interface TlsKeyPair {
  cert: string;
  key: string;
}

/** A listener for plain TCP or TLS connections. */
export type StreamListener = Deno.Listener<Deno.TcpConn | Deno.TlsConn, Deno.NetAddr>;

/**
 * Opens a TCP listener, or a TLS one when `tls` is given; throws RuntimeError
 * naming the service and address on failure.
 */
export function listenTcp(
  service: string,
  hostname: string,
  port: number,
  tls: TlsKeyPair | null = null,
): StreamListener {
  try {
    if (tls === null) return Deno.listen({ transport: "tcp", hostname, port });
    return Deno.listenTls({ transport: "tcp", hostname, port, cert: tls.cert, key: tls.key });
  } catch (error) {
    throw listenError(service, hostname, port, error);
  }
}

/** Opens a UDP socket; throws RuntimeError naming the service and address on failure. */
export function listenUdp(service: string, hostname: string, port: number): Deno.DatagramConn {
  try {
    return Deno.listenDatagram({ transport: "udp", hostname, port });
  } catch (error) {
    throw listenError(service, hostname, port, error);
  }
}

function listenError(service: string, hostname: string, port: number, error: unknown): Error {
  const where = `Cannot listen on ${formatHostPort(hostname, port)} for the ${service}`;
  if (error instanceof Deno.errors.AddrInUse) {
    return new RuntimeError(`${where}: the port is in use`, { cause: error });
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return new RuntimeError(`${where}: no such address on this machine`, { cause: error });
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new RuntimeError(`${where}: permission denied (ports below 1024 need privileges)`, {
      cause: error,
    });
  }
  if (error instanceof Deno.errors.NotCapable) {
    return new RuntimeError(`${where}: network access not granted (run with --allow-net)`, {
      cause: error,
    });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new RuntimeError(`${where}: ${detail}`, { cause: error });
}
