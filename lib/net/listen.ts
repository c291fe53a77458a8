/** Binding sockets and UDP engines, with errors a user can act on. */
import { RuntimeError } from "../base/errors.ts";
import { formatHostPort } from "./address.ts";
import { BatchEngineError, batchEngineProblem, BatchUdpEngine } from "./udp_batch_engine.ts";
import { DenoUdpEngine } from "./udp_deno_engine.ts";
import type { UdpEngine, UdpEngineChoice, UdpEngineOptions } from "./udp_engine.ts";

/** A certificate chain and its private key, both PEM text. */
export interface TlsKeyPair {
  cert: string;
  key: string;
}

/** A listener for plain TCP or TLS connections. */
export type StreamListener = Deno.Listener<Deno.TcpConn | Deno.TlsConn, Deno.NetAddr>;

/** Options of {@link listenTcp}. */
export interface ListenTcpOptions {
  /**
   * Bind with SO_REUSEPORT (Linux), so a second listener can open on the same
   * port before this one closes: how a TLS service takes a new certificate
   * without a moment of refused connections. The port is first checked to be
   * free, so two servers still cannot share it by mistake. Default false.
   */
  reusable?: boolean;
  /** The port is already ours (a listener opened with `reusable`): skip the check. Default false. */
  takeOver?: boolean;
}

/**
 * Opens a TCP listener, or a TLS one when `tls` is given; throws RuntimeError
 * naming the service and address on failure (a bad certificate included).
 */
export function listenTcp(
  service: string,
  hostname: string,
  port: number,
  tls: TlsKeyPair | null = null,
  options: ListenTcpOptions = {},
): StreamListener {
  const reusePort = options.reusable === true;
  try {
    if (reusePort && port !== 0 && !options.takeOver) {
      // Fails with AddrInUse when anything holds the port, reusable or not.
      Deno.listen({ transport: "tcp", hostname, port }).close();
    }
    if (tls === null) return Deno.listen({ transport: "tcp", hostname, port, reusePort });
    return Deno.listenTls({
      transport: "tcp",
      hostname,
      port,
      cert: tls.cert,
      key: tls.key,
      reusePort,
    });
  } catch (error) {
    throw listenError(service, hostname, port, error);
  }
}

/** Options of {@link listenUdpEngine}. */
export interface ListenUdpOptions extends UdpEngineOptions {
  /**
   * With "auto": told why the batch engine, which should have run, did not
   * start (its worker failed), when Deno's engine is used instead.
   */
  onFallback?(why: string): void;
}

/**
 * Opens a UDP engine: "deno", "batch", or "auto" (batch where it can run,
 * else deno, silently). Throws RuntimeError naming the service and address
 * when the address cannot be bound, or when "batch" cannot run here.
 */
export async function listenUdpEngine(
  service: string,
  hostname: string,
  port: number,
  choice: UdpEngineChoice,
  options: ListenUdpOptions = {},
): Promise<UdpEngine> {
  try {
    if (choice === "deno" || (choice === "auto" && batchEngineProblem() !== null)) {
      return DenoUdpEngine.open(hostname, port, options);
    }
    try {
      return await BatchUdpEngine.open(hostname, port, options);
    } catch (error) {
      if (choice !== "auto" || !(error instanceof BatchEngineError)) throw error;
      options.onFallback?.(`UDP batch engine unavailable (${error.message}): using Deno's UDP`);
      return DenoUdpEngine.open(hostname, port, options);
    }
  } catch (error) {
    throw listenError(service, hostname, port, error);
  }
}

/** The RuntimeError for a failed bind, naming the service and address and saying why. */
export function listenError(
  service: string,
  hostname: string,
  port: number,
  error: unknown,
): Error {
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
