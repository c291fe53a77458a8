/** Whether a peer may stop the server with `exit` (--exit-from). */
import { isLoopback } from "../net/address.ts";
import type { ExitPolicy } from "../service.ts";

/** null when `exit` is allowed, otherwise the reason it is refused. */
export function exitRefusal(policy: ExitPolicy, peerHost: string): string | null {
  switch (policy) {
    case "any":
      return null;
    case "local":
      return isLoopback(peerHost)
        ? null
        : "only clients on this machine may stop the server (--exit-from local)";
    case "none":
      return "this server does not accept exit (--exit-from none)";
  }
}
