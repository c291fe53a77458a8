/** Whether a peer may stop the server with `exit` (--exit-from, and the token). */
import { isLoopback } from "../net/address.ts";
import type { ExitPolicy } from "../service.ts";

/**
 * null when `exit` is allowed, otherwise the reason it is refused.
 * `authenticated`: the peer presented the server's token (on a server with a
 * token every peer that gets this far has). A peer off this machine may stop
 * the server only with the token, whatever --exit-from says.
 */
export function exitRefusal(
  policy: ExitPolicy,
  peerHost: string,
  authenticated = false,
): string | null {
  switch (policy) {
    case "any":
      return isLoopback(peerHost) || authenticated
        ? null
        : "a client on another machine may stop the server only on a server with a token (--exit-from any needs SOCKETKIT_TOKEN or --token-file)";
    case "local":
      return isLoopback(peerHost)
        ? null
        : "only clients on this machine may stop the server (--exit-from local)";
    case "none":
      return "this server does not accept exit (--exit-from none)";
  }
}
