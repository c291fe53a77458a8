/**
 * Things held per client address (connections under --max-conns-per-ip,
 * file transfers under --max-transfers-per-ip), counted with one rule: an
 * address is its ipKey, so the IPv4-mapped and plain forms of one client
 * share a count, and an address holding nothing is not kept.
 */
import { ipKey } from "./ip.ts";

/**
 * --max-conns-per-ip: a number of places one address may hold (0: no limit),
 * or "auto", a fair share of each service's places.
 */
export type PerAddressLimit = number | "auto";

/**
 * The share of a service's places one address may hold under "auto": a
 * quarter. Small enough that one address (an attacker's, or a stuck client
 * opening connection after connection) leaves three quarters to everyone
 * else; large enough that a NAT with many users behind one address (an
 * office, a school, a carrier's CGNAT) is not shut out by a small number.
 */
export const FAIR_SHARE = 4;

/** Places one address may always hold under "auto", however few there are (all, if fewer). */
export const SMALLEST_SHARE = 4;

/**
 * What one address may hold of `places` (a service's --max-conns, the chat's
 * --chat-max-members): `limit` as given (0: no cap), or under "auto" a
 * quarter of `places`, but at least {@link SMALLEST_SHARE} (a small server's
 * few places are not cut to one each).
 */
export function perAddressCap(limit: PerAddressLimit, places: number): number {
  if (limit !== "auto") return limit;
  return Math.max(Math.min(places, SMALLEST_SHARE), Math.floor(places / FAIR_SHARE));
}

/**
 * A cap and why it is what it is, for a refusal: "64: --max-conns-per-ip" or
 * "64 of 256, --max-conns-per-ip auto".
 */
export function describeCap(limit: PerAddressLimit, places: number): string {
  const cap = perAddressCap(limit, places);
  return limit === "auto"
    ? `${cap} of ${places}, --max-conns-per-ip auto`
    : `${cap}: --max-conns-per-ip`;
}

/** What {@link PerAddressCounter.claim} hands back. */
export type AddressClaim =
  /** Counted: call `release` once when it ends. */
  | { ok: true; release: () => void }
  /** Refused: the address holds `open` already, the cap. */
  | { ok: false; open: number };

const UNCOUNTED: AddressClaim = { ok: true, release: () => {} };

/** Counts what each address holds, against one cap. */
export class PerAddressCounter {
  readonly cap: number;
  #counts = new Map<string, number>();

  /** @param cap most one address may hold at once; 0 or less: no cap, nothing counted */
  constructor(cap: number) {
    this.cap = cap;
  }

  /** Addresses holding something now. */
  get addresses(): number {
    return this.#counts.size;
  }

  /**
   * Takes one for `host` (an IP address) if it holds fewer than the cap.
   * Without a cap nothing is counted (parsing the address costs).
   */
  claim(host: string): AddressClaim {
    if (this.cap <= 0) return UNCOUNTED;
    const key = ipKey(host);
    const open = this.#counts.get(key) ?? 0;
    if (open >= this.cap) return { ok: false, open };
    this.#counts.set(key, open + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.#counts.get(key) ?? 1) - 1;
        if (left > 0) this.#counts.set(key, left);
        else this.#counts.delete(key);
      },
    };
  }
}
