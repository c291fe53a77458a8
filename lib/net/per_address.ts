/**
 * Things held per client address (connections under --max-conns-per-ip,
 * file transfers under --max-transfers-per-ip), counted with one rule: an
 * address is its ipKey, so the IPv4-mapped and plain forms of one client
 * share a count, and an address holding nothing is not kept.
 */
import { ipKey } from "./ip.ts";

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
