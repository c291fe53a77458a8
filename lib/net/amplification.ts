/**
 * The bound on what a UDP service may send back for a datagram. A UDP source
 * address can be forged, so a reply bigger than its request lets anyone bounce
 * more traffic at a victim than they send: QUIC's rule (RFC 9000 §8.1) is at
 * most 3x the bytes received from an address that has not shown it receives.
 * Nothing here remembers addresses: every reply, to any source, keeps within
 * 3x its own request, counted on the wire.
 */

/** Most bytes sent per byte received, on the wire. */
export const MAX_AMPLIFICATION = 3;

/**
 * IP and UDP headers of a datagram over IPv4 (20 + 8). IPv6 has 48, which only
 * lowers the factor, so the IPv4 figure is the worst case for both.
 */
export const WIRE_OVERHEAD = 28;

/**
 * Largest reply payload for a request of `requestBytes` (the whole datagram,
 * AUTH line included): 3 x (request + 28) - 28 bytes.
 */
export function replyBudget(requestBytes: number): number {
  return MAX_AMPLIFICATION * (requestBytes + WIRE_OVERHEAD) - WIRE_OVERHEAD;
}

/** The smallest request whose budget holds `replyBytes`. */
export function requestFor(replyBytes: number): number {
  return Math.max(0, Math.ceil((replyBytes + WIRE_OVERHEAD) / MAX_AMPLIFICATION) - WIRE_OVERHEAD);
}

/** The factor on the wire of a reply to a request (IPv4 headers). */
export function wireFactor(requestBytes: number, replyBytes: number): number {
  return (replyBytes + WIRE_OVERHEAD) / (requestBytes + WIRE_OVERHEAD);
}

/** The first of `forms` (longest first) that fits `budget` bytes, or null if none does. */
export function firstThatFits(forms: Uint8Array[], budget: number): Uint8Array | null {
  for (const form of forms) if (form.length <= budget) return form;
  return null;
}
