/** What the web service counts itself, for /metrics. */

/** The web service's counters; the router and the file routes bump them. */
export interface WebCounters {
  /** Requests answered (any status). */
  requests: number;
  /** Requests being answered now (a download counts until its last byte). */
  inFlight: number;
  /** Body bytes received (uploads). */
  bytesIn: number;
  /** Body bytes sent (downloads, listings, archives). */
  bytesOut: number;
  /** Requests refused: --allow/--deny, the in-flight cap, a cross-site Origin, no token. */
  refusedAccess: number;
  refusedBusy: number;
  refusedOrigin: number;
  refusedAuth: number;
}

/** Fresh counters, all zero. */
export function newWebCounters(): WebCounters {
  return {
    requests: 0,
    inFlight: 0,
    bytesIn: 0,
    bytesOut: 0,
    refusedAccess: 0,
    refusedBusy: 0,
    refusedOrigin: 0,
    refusedAuth: 0,
  };
}
