/** Client-side connecting, with errors a user can act on. */
import { RuntimeError } from "../cli/errors.ts";
import { formatHostPort } from "./address.ts";

/**
 * Connects over TCP. Throws RuntimeError like
 * `Cannot connect to 127.0.0.1:65432 (connection refused): is socketkit serve running?`.
 */
export async function dialTcp(hostname: string, port: number): Promise<Deno.TcpConn> {
  try {
    return await Deno.connect({ transport: "tcp", hostname, port });
  } catch (error) {
    const where = `Cannot connect to ${formatHostPort(hostname, port)}`;
    if (error instanceof Deno.errors.ConnectionRefused) {
      throw new RuntimeError(`${where} (connection refused): is socketkit serve running?`, {
        cause: error,
      });
    }
    if (error instanceof Deno.errors.TimedOut) {
      throw new RuntimeError(`${where} (timed out): is the host reachable?`, { cause: error });
    }
    if (error instanceof Deno.errors.NotCapable) {
      throw new RuntimeError(`${where}: network access not granted (run with --allow-net)`, {
        cause: error,
      });
    }
    const detail = error instanceof Error ? error.message : String(error);
    throw new RuntimeError(`${where}: ${detail}`, { cause: error });
  }
}
