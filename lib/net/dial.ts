/**
 * Client-side connecting, with errors a user can act on. Every TCP client
 * connects through dialTcp, which also speaks TLS and answers the server's
 * AUTH challenge as the connect flags say (lib/security/client.ts), so a
 * client protocol needs no code of its own for either.
 */
import { RuntimeError } from "../base/errors.ts";
import { type ClientSecurity, clientSecurity } from "../security/client_settings.ts";
import { negotiateAuth } from "../security/client_auth.ts";
import { connectInsecureTls, startVerifiedTls } from "../security/client_tls.ts";
import { formatHostPort } from "./address.ts";

/** Options of {@link dialTcp}. */
export interface DialOptions {
  /** Turn Nagle's algorithm off (TCP_NODELAY) for an interactive protocol. Default false. */
  noDelay?: boolean;
  /**
   * The protocol starts with a line from the server (chat): authentication is
   * settled, and a token asked for if need be, before dialTcp returns.
   * Default false.
   */
  serverSpeaksFirst?: boolean;
  /** TLS and token settings. Default: the process's, from the connect flags. */
  security?: ClientSecurity;
}

/**
 * Connects over TCP (with TLS if asked) and deals with the server's AUTH
 * challenge. Throws RuntimeError like
 * `Cannot connect to 127.0.0.1:65432 (connection refused): is socketkit serve running?`,
 * or one naming the certificate or token problem.
 */
export async function dialTcp(
  hostname: string,
  port: number,
  options: DialOptions = {},
): Promise<Deno.Conn<Deno.NetAddr>> {
  const security = options.security ?? clientSecurity();
  const where = formatHostPort(hostname, port);
  const started = performance.now();
  let conn: Deno.Conn<Deno.NetAddr>;
  if (security.tls?.insecure) {
    conn = await connectInsecureTls(hostname, port, {
      noDelay: options.noDelay ?? false,
      where: `Cannot connect to ${where} over TLS`,
      connectError: (error) => connectError(where, error),
    });
  } else {
    let tcp: Deno.TcpConn;
    try {
      tcp = await Deno.connect({ transport: "tcp", hostname, port });
    } catch (error) {
      throw connectError(where, error);
    }
    // Set on the socket itself: Deno's TLS connection has no such option.
    if (options.noDelay) tcp.setNoDelay(true);
    conn = security.tls === null
      ? tcp
      : await startVerifiedTls(tcp, hostname, security.tls, `Cannot connect to ${where} over TLS`);
  }
  return await negotiateAuth(conn, {
    where,
    tokens: security.tokens,
    serverSpeaksFirst: options.serverSpeaksFirst ?? false,
    connectMs: performance.now() - started,
    interactive: Deno.stdin.isTerminal(),
  });
}

/** The RuntimeError for a failed connect, saying what to check. */
export function connectError(where: string, error: unknown): RuntimeError {
  const prefix = `Cannot connect to ${where}`;
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new RuntimeError(`${prefix} (connection refused): is socketkit serve running?`, {
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
