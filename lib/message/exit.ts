/**
 * The `exit` command: recognising it on the hot path, and whether a peer may
 * stop the server with it (--exit-from, and the token).
 */
import { decodeLenient } from "../base/text.ts";
import { isLoopback } from "../net/address.ts";

/** Who may stop the server with `exit` (--exit-from). */
export const EXIT_POLICIES = ["local", "any", "none"] as const;
export type ExitPolicy = typeof EXIT_POLICIES[number];

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

/**
 * What the client sends for `exit` over UDP: the word padded with spaces to
 * the longest datagram still read as `exit`, so the server's reply, a refusal
 * with its reason, fits within 3x the request (net/amplification.ts).
 */
export const EXIT_DATAGRAM = "exit".padEnd(64);

/**
 * True when a line, trimmed and in any case, is the word `exit`. Called for
 * every message, so plain ASCII is judged on the bytes without decoding; only
 * a line with non-ASCII bytes near the word (Unicode spaces trim() removes)
 * takes the decoding path.
 */
export function isExitCommand(bytes: Uint8Array): boolean {
  if (bytes.length < 4 || bytes.length > 64) return false;
  let i = 0;
  while (i < bytes.length && isAsciiSpace(bytes[i]!)) i++;
  if (i + 4 > bytes.length) return slowIsExit(bytes);
  for (let k = 0; k < 4; k++) {
    const b = bytes[i + k]!;
    if (b >= 0x80) return slowIsExit(bytes);
    // `| 0x20` folds ASCII upper case to lower case; only 'E'/'e' etc. map onto the letter.
    if ((b | 0x20) !== EXIT[k]) return false;
  }
  for (i += 4; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b >= 0x80) return slowIsExit(bytes);
    if (!isAsciiSpace(b)) return false;
  }
  return true;
}

const EXIT = [0x65, 0x78, 0x69, 0x74]; // "exit"

// The ASCII characters String.prototype.trim removes: TAB, LF, VT, FF, CR, space.
function isAsciiSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}

function slowIsExit(bytes: Uint8Array): boolean {
  return decodeLenient(bytes).trim().toLowerCase() === "exit";
}

/**
 * How long, after an accepted `exit`, the server goes on answering before it
 * stops, unless `exit` came over the other transport too. The original client
 * sends `exit` over TCP and over UDP and waits for both replies without a
 * timeout: whichever comes second must still be answered, or it waits forever.
 */
export const EXIT_GRACE_MS = 1000;

/** Which transport an `exit` came over. */
export type ExitTransport = "tcp" | "udp";

/**
 * Counts down from the first accepted `exit` to the shutdown: at once when
 * both transports have had theirs, otherwise after the grace period.
 */
export class ExitCountdown {
  #graceMs: number;
  #shutdown: (reason: string) => void;
  #reason: string | null = null;
  #seen = new Set<ExitTransport>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #fired = false;

  /**
   * @param graceMs how long to go on after the first `exit`
   * @param shutdown starts the server's shutdown (called once)
   */
  constructor(graceMs: number, shutdown: (reason: string) => void) {
    this.#graceMs = graceMs;
    this.#shutdown = shutdown;
  }

  /** True once an `exit` was accepted: the server is about to stop. */
  get started(): boolean {
    return this.#reason !== null;
  }

  /**
   * An `exit` was accepted over `transport` and its reply is on its way;
   * `reason` is what the shutdown line will say (the first one's is kept).
   */
  accepted(transport: ExitTransport, reason: string): void {
    this.#seen.add(transport);
    this.#reason ??= reason;
    if (this.#seen.size === 2) this.#fire();
    else this.#timer ??= setTimeout(() => this.#fire(), this.#graceMs);
  }

  /** Stops the countdown (the server is stopping anyway). */
  cancel(): void {
    clearTimeout(this.#timer);
  }

  #fire(): void {
    clearTimeout(this.#timer);
    if (this.#fired) return;
    this.#fired = true;
    this.#shutdown(this.#reason!);
  }
}
