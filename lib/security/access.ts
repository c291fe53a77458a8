/**
 * --allow and --deny: which peers may talk to the server at all.
 *
 * Precedence: a peer matching --deny is refused, whatever --allow says; when
 * --allow is given, only peers matching it are admitted; otherwise everyone
 * not denied is. Rules are addresses or CIDR ranges, IPv4 or IPv6; an
 * IPv4-mapped IPv6 peer (::ffff:10.0.0.1) matches IPv4 rules, and an
 * IPv4-mapped rule (::ffff:10.0.0.0/104) is read as the IPv4 range it means.
 *
 * Either list may come from a file (`--allow @FILE`), re-read on SIGHUP.
 */
import { UsageError } from "../base/errors.ts";
import { formatIp, type IpAddress, parseIp, samePrefix } from "../net/ip.ts";

/** One address or range. */
export interface AccessRule {
  network: IpAddress;
  /** Prefix length in bits: 32 or 128 for a single address. */
  bits: number;
}

/** Parses one rule like "10.0.0.0/8", "192.0.2.7", "2001:db8::/32"; null if malformed. */
export function parseRule(text: string): AccessRule | null {
  const [address, prefix, ...rest] = text.trim().split("/");
  if (rest.length > 0 || address === undefined) return null;
  const literal = address.replace(/^\[(.*)\]$/, "$1");
  const network = parseIp(literal);
  if (network === null) return null;
  const mappedForm = literal.includes(":") && network.family === 4;
  const max = network.family === 4 ? 32 : 128;
  let bits = max;
  if (prefix !== undefined) {
    if (!/^\d{1,3}$/.test(prefix)) return null;
    bits = Number(prefix);
    // ::ffff:0:0/96 is all of IPv4; a mapped prefix counts from there.
    if (mappedForm) bits -= 96;
    if (bits < 0 || bits > max) return null;
  }
  return { network, bits };
}

/**
 * Parses a comma-separated list for `--flag`; throws UsageError naming the bad
 * entry (ParsedFlags.check adds the command).
 */
export function parseAccessList(flag: string, value: string): AccessRule[] {
  const entries = value.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  return entries.map((entry) => {
    const rule = parseRule(entry);
    if (rule === null) {
      throw new UsageError(
        `Invalid value "${entry}" for --${flag}: expected an IP address or a CIDR range like 10.0.0.0/8 or 2001:db8::/32`,
      );
    }
    return rule;
  });
}

/**
 * Parses an access file for `--flag @path`: rules separated by commas, spaces
 * or newlines; `#` starts a comment that runs to the end of the line. Throws
 * UsageError naming the file and the bad entry.
 */
export function parseAccessFile(flag: string, path: string, text: string): AccessRule[] {
  const entries = text.split("\n").flatMap((line) => line.replace(/#.*$/, "").split(/[\s,]+/))
    .filter((entry) => entry !== "");
  return entries.map((entry) => {
    const rule = parseRule(entry);
    if (rule === null) {
      throw new UsageError(
        `Invalid entry "${entry}" in --${flag} @${path}: expected an IP address or a CIDR range like 10.0.0.0/8 or 2001:db8::/32`,
      );
    }
    return rule;
  });
}

/** True when `address` is inside `rule`. */
export function ruleMatches(rule: AccessRule, address: IpAddress): boolean {
  return rule.network.family === address.family &&
    samePrefix(rule.network.bytes, address.bytes, rule.bits);
}

/** "10.0.0.0/8". */
export function formatRule(rule: AccessRule): string {
  const max = rule.network.family === 4 ? 32 : 128;
  return rule.bits === max ? formatIp(rule.network) : `${formatIp(rule.network)}/${rule.bits}`;
}

/** The decision for one peer: null when admitted, else why not. */
export type AccessRefusal = "denied" | "not allowed";

/** An --allow list and a --deny list together. */
export class AccessPolicy {
  readonly allow: AccessRule[];
  readonly deny: AccessRule[];
  /**
   * Only peers in `allow` are admitted even when it is empty: an --allow file
   * with no rules in it admits nobody, never everybody.
   */
  readonly allowOnly: boolean;

  constructor(allow: AccessRule[] = [], deny: AccessRule[] = [], allowOnly = allow.length > 0) {
    this.allow = allow;
    this.deny = deny;
    this.allowOnly = allowOnly || allow.length > 0;
  }

  /** True when there is nothing to check (every peer is admitted). */
  get open(): boolean {
    return !this.allowOnly && this.deny.length === 0;
  }

  /**
   * null when a peer at `host` (as Deno reports it, e.g. "::ffff:10.0.0.1")
   * may connect; otherwise the reason. An address that cannot be parsed is
   * refused whenever there are rules at all.
   */
  check(host: string): AccessRefusal | null {
    if (this.open) return null;
    const address = parseIp(host);
    if (address === null) return this.allowOnly ? "not allowed" : "denied";
    if (this.deny.some((rule) => ruleMatches(rule, address))) return "denied";
    if (this.allowOnly && !this.allow.some((rule) => ruleMatches(rule, address))) {
      return "not allowed";
    }
    return null;
  }
}
