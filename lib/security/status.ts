/** What the gate counts (refusals and failures), as STATUS shows it. */
import type { StatusSection } from "../base/status.ts";

/** What the gate counts, for STATUS. */
export interface GateCounters {
  /**
   * TCP connections closed at accept, before any byte: --allow/--deny, or an
   * address cooling down after repeated failed authentications.
   */
  refusedConnections: number;
  /** Datagrams dropped for --allow/--deny. */
  refusedDatagrams: number;
  /** Failed authentications: wrong, missing or malformed token, TCP and UDP. */
  authFailures: number;
  /** TLS handshakes that failed or did not finish within --auth-timeout. */
  tlsFailures: number;
}

/** The `security` part of STATUS. */
export function securityStatus(c: GateCounters): StatusSection {
  return {
    key: "security",
    text:
      `refused: ${c.refusedConnections} connections, ${c.refusedDatagrams} datagrams (--allow/--deny); failed: ${c.authFailures} authentications, ${c.tlsFailures} TLS handshakes`,
    json: { ...c },
  };
}
