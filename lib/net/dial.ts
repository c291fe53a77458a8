/** Client-side connecting, with errors a user can act on. */
import { NoAnswerError, RuntimeError } from "../base/errors.ts";
import { formatHostPort } from "./address.ts";

/**
 * Opens a TCP connection. Throws RuntimeError like
 * `Cannot connect to 127.0.0.1:65432 (connection refused): is socketkit serve running?`.
 */
export async function connectTcp(
  hostname: string,
  port: number,
  options: { noDelay?: boolean } = {},
): Promise<Deno.TcpConn> {
  let tcp: Deno.TcpConn;
  try {
    tcp = await Deno.connect({ transport: "tcp", hostname, port });
  } catch (error) {
    throw connectError(formatHostPort(hostname, port), error);
  }
  if (options.noDelay) tcp.setNoDelay(true);
  return tcp;
}

/** The RuntimeError for a failed connect to `where`, saying what to check. */
export function connectError(where: string, error: unknown): RuntimeError {
  const prefix = `Cannot connect to ${where}`;
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new NoAnswerError(`${prefix} (connection refused): is socketkit serve running?`, {
      cause: error,
    });
  }
  if (error instanceof Deno.errors.TimedOut) {
    return new RuntimeError(`${prefix} (timed out): is the host reachable?`, { cause: error });
  }
  if (error instanceof Deno.errors.NotCapable) {
    return new RuntimeError(`${prefix}: network access not granted (run with --allow-net)`, {
      cause: error,
    });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new RuntimeError(`${prefix}: ${detail}`, { cause: error });
}
