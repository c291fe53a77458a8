/**
 * Every TCP client connects through dialTcp, which also speaks TLS and
 * answers the server's AUTH challenge as the client's settings say, so a
 * client protocol needs no code of its own for either. The TLS code loads
 * only for a TLS connection: it needs node:tls, whose import costs a client
 * more start-up than the rest of its modules together.
 */
import { importLazily } from "../base/lazy_import.ts";
import { formatHostPort } from "../net/address.ts";
import { connectError, connectTcp } from "../net/dial.ts";
import { negotiateAuth } from "./client_auth.ts";
import type { ClientSecurity } from "./client_settings.ts";
import { RuntimeError } from "../base/errors.ts";
import { closeQuietly } from "../base/io.ts";

/** Options of {@link dialTcp}. */
export interface DialOptions {
  /** TLS and token settings. */
  security: ClientSecurity;
  /** Turn Nagle's algorithm off (TCP_NODELAY) for an interactive protocol. Default false. */
  noDelay?: boolean;
  /**
   * The protocol starts with a line from the server (chat): authentication is
   * settled, and a token asked for if need be, before dialTcp returns.
   * Default false.
   */
  serverSpeaksFirst?: boolean;
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
  options: DialOptions,
): Promise<Deno.Conn<Deno.NetAddr>> {
  const { security } = options;
  const where = formatHostPort(hostname, port);
  if (security.signal?.aborted) throw new RuntimeError(`Not connecting to ${where}: interrupted`);
  const started = performance.now();
  let conn: Deno.Conn<Deno.NetAddr>;
  if (security.tls?.insecure) {
    const { connectInsecureTls } = await importLazily<typeof import("./client_tls.ts")>(
      new URL("./client_tls.ts", import.meta.url),
    );
    conn = await connectInsecureTls(hostname, port, {
      noDelay: options.noDelay ?? false,
      where: `Cannot connect to ${where} over TLS`,
      connectError: (error) => connectError(where, error),
    });
  } else {
    // noDelay is set on the socket itself: Deno's TLS connection has no such option.
    const tcp = await connectTcp(hostname, port, { noDelay: options.noDelay ?? false });
    if (security.tls === null) {
      conn = tcp;
    } else {
      const { startVerifiedTls } = await importLazily<typeof import("./client_tls.ts")>(
        new URL("./client_tls.ts", import.meta.url),
      );
      conn = await startVerifiedTls(
        tcp,
        hostname,
        security.tls,
        `Cannot connect to ${where} over TLS`,
      );
    }
  }
  // Ctrl-C in the menu: closing the connection ends whatever the mode is waiting for.
  security.signal?.addEventListener("abort", () => closeQuietly(conn), { once: true });
  return await negotiateAuth(conn, {
    where,
    security,
    serverSpeaksFirst: options.serverSpeaksFirst ?? false,
    connectMs: performance.now() - started,
    interactive: Deno.stdin.isTerminal(),
  });
}
