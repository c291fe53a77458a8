/**
 * The server side of the AUTH exchange on a TCP connection: the challenge,
 * the AUTH line read a byte at a time (so nothing after it is consumed), the
 * verdict, and the budget of failed guesses per address that makes a token
 * impossible to guess by opening many connections at once.
 */
import { type Deadline, TIMED_OUT } from "../base/deadline.ts";
import { isDisconnect, linger, writeAll } from "../base/io.ts";
import type { Logger } from "../base/logger.ts";
import type { RateLimiter } from "../base/rate_limit.ts";
import { encode } from "../base/text.ts";
import { ipKey } from "../net/ip.ts";
import type { TrackedConn } from "../net/tracked_conn.ts";
import {
  AUTH_OK,
  AUTH_REQUIRED_LINE,
  authFailedLine,
  couldBeAuth,
  MAX_AUTH_LINE,
  parseAuthLine,
} from "./protocol.ts";
import type { Token } from "./token_check.ts";

/** Why an address is refused while its failure budget refills. */
export const COOLING_DOWN = "too many failed authentications, cooling down";

const LF = 0x0a;
const CHALLENGE = encode(AUTH_REQUIRED_LINE + "\n");
const OK = encode(AUTH_OK + "\n");

/** What {@link authenticate} needs besides the connection. */
export interface AuthExchange {
  token: Token;
  /** The --auth-timeout deadline, shared with the TLS handshake before it. */
  deadline: Deadline;
  /** --auth-timeout in milliseconds, for the messages. */
  authTimeout: number;
  /** Failed authentications per address (ipKey); each failure takes one. */
  failures: RateLimiter;
  log: Logger;
  /** Console label of the service. */
  label: string;
  /** Called once for every failed authentication (STATUS counts them). */
  onFailure(): void;
}

/**
 * Runs the AUTH exchange: resolves to true (and marks the connection
 * authenticated) when the peer sent the right token in time and within its
 * address's budget; false otherwise, after telling the peer why when it can.
 */
export async function authenticate(tracked: TrackedConn, exchange: AuthExchange): Promise<boolean> {
  const { token, deadline, failures, log, label } = exchange;
  const { conn } = tracked;
  // `drain`: the peer is sending, so lingering a little before the close
  // lets the failure line arrive instead of a reset.
  const address = ipKey(tracked.peerHost);
  const fail = async (reason: string, drain = true) => {
    exchange.onFailure();
    // Each failure takes one from the address's budget; an empty budget
    // refuses its next connections at accept (Gate.admit) and the AUTH lines
    // of those already open (below).
    failures.allow(address);
    // One kind per reason (a small, fixed set), so each is seen at least once.
    log.repeated(
      `${label} auth failed: ${reason}`,
      "info",
      () => `${label} Authentication failed for ${tracked.peer}: ${reason}`,
      (n, s) => `${label} ${n} more authentications failed in ${s}s: ${reason}`,
    );
    try {
      const sent = await deadline.race(writeAll(conn, encode(authFailedLine(reason) + "\n")));
      if (sent !== TIMED_OUT && drain) await linger(conn);
    } catch {
      // The peer is gone already.
    }
    return false;
  };
  try {
    if (await deadline.race(writeAll(conn, CHALLENGE)) === TIMED_OUT) {
      return await fail("timed out", false);
    }
    // One byte per read, so nothing after the AUTH line is consumed here:
    // those bytes are the service's (a netcat user sends "AUTH x\nhello\n").
    const one = new Uint8Array(1);
    const line = new Uint8Array(MAX_AUTH_LINE);
    let length = 0;
    while (true) {
      const n = await deadline.race(conn.read(one));
      if (n === TIMED_OUT) {
        return await fail(`no AUTH line within ${formatMs(exchange.authTimeout)}`, false);
      }
      if (n === null) {
        if (length > 0) return await fail("closed in the middle of the AUTH line", false);
        log.repeated(
          `${label} left without authenticating`,
          "event",
          () => `${label} ${tracked.peer} left without authenticating`,
          (n, s) => `${label} ${n} more connections left without authenticating in ${s}s`,
        );
        return false;
      }
      if (n === 0) continue;
      if (one[0] === LF) break;
      if (length === line.length) return await fail("AUTH line too long");
      line[length++] = one[0]!;
      if (!couldBeAuth(line.subarray(0, length))) return await fail('expected "AUTH <token>"');
    }
    const candidate = parseAuthLine(line.subarray(0, length));
    if (candidate === null) return await fail('expected "AUTH <token>"');
    // The verdict spends the budget, so it is checked here too, not only at
    // accept: connections opened at once all passed accept with a full
    // budget, and would each get a guess. Checked before the comparison,
    // so a right guess past the budget is not told apart from a wrong one.
    // (Between this check and the failure counted below nothing awaits, so
    // no other connection's verdict can come in between.)
    if (!failures.peek(address)) return await fail(COOLING_DOWN);
    if (!token.matches(candidate)) return await fail("wrong token");
    if (await deadline.race(writeAll(conn, OK)) === TIMED_OUT) return false;
  } catch (error) {
    if (isDisconnect(error)) return false;
    throw error;
  }
  tracked.markAuthenticated();
  tracked.touch();
  return true;
}

/** "5s" or "750ms", as the flag was likely given. */
function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
