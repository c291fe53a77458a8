/** The message services' replies, shared by servers, client and tests. */
import type { Logger } from "../base/logger.ts";
import { decodeLenient, encode, printable } from "../base/text.ts";
import { TLS_HINT } from "../security/tls_probe.ts";

export const TCP_LABEL = "[TCP Server]";
export const UDP_LABEL = "[UDP Server]";

export const RECEIVED = "Your message was received!";
export const SHUTTING_DOWN = "Server shutting down...";

/** The reply a server sends for `exit`, a refused `exit` or an over-long message. */
export function replyText(label: string, text: string): string {
  return `${label} ${text}`;
}

/** "Refusing exit: <reason>"; without a reason (a reply that must be short), "Refusing exit". */
export function refusedExit(reason?: string): string {
  return reason === undefined ? "Refusing exit" : `Refusing exit: ${reason}`;
}

/** "Error: message too long ..."; without the limit (a reply that must be short), the first part. */
export function tooLong(maxMessage?: number): string {
  return maxMessage === undefined
    ? "Error: message too long"
    : `Error: message too long (over ${maxMessage} bytes); it was discarded`;
}

/** The line before a connection is closed for a line that did not end in time. */
export function lateLine(lineTimeout: number): string {
  return `Error: no end of line within ${lineTimeout / 1000}s; closing`;
}

/** How much of a message the log shows. */
const SHOWN = 200;

/** One line for the server log; long messages are cut so logging stays cheap. */
export function logReceived(label: string, peer: string, bytes: Uint8Array): string {
  const shown = SHOWN;
  if (bytes.length <= shown) {
    return `${label} Received from ${peer}: ${printable(decodeLenient(bytes))}`;
  }
  const head = printable(decodeLenient(bytes.subarray(0, shown)));
  return `${label} Received from ${peer}: ${head}... (${bytes.length} bytes)`;
}

/**
 * Logs a message that starts like an AUTH line without the rest of it: on a
 * server without a token, a client following the netcat recipe sends its
 * token as a message, and it must not reach the log.
 */
export function logAuthLine(log: Logger, label: string, peer: string): void {
  log.event(`${label} Received from ${peer}: AUTH ... (an AUTH line; not logged)`);
}

/** A reply line as bytes, built once and reused. */
export function replyLine(label: string, text: string): Uint8Array {
  return encode(replyText(label, text) + "\n");
}

/** The start of a "Received" log line, "<label> Received from <peer>: ", as bytes. */
export function receivedHead(label: string, peer: string): Uint8Array {
  return encode(`${label} Received from ${peer}: `);
}

/**
 * Logs a received message exactly as {@link logReceived} words it. A short
 * message of printable ASCII, the usual case, goes to the log as the bytes it
 * arrived in; anything else takes the decoding path.
 */
export function logMessage(
  log: Logger,
  label: string,
  peer: string,
  head: () => Uint8Array,
  bytes: Uint8Array,
): void {
  if (bytes.length <= SHOWN && isPlainAscii(bytes)) log.eventBytes(head(), bytes);
  else log.event(logReceived(label, peer, bytes));
}

// Tab and 0x20-0x7e: what printable() leaves unchanged and UTF-8 decodes as itself.
function isPlainAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if ((b < 0x20 && b !== 0x09) || b > 0x7e) return false;
  }
  return true;
}

/**
 * null when `text` is a reply of the TCP or UDP message service (it starts
 * with "[TCP Server] " or "[UDP Server] "), otherwise why it is not: a client
 * must not pass off another server's bytes (a TLS alert, the chat's
 * greeting) as a message reply. `where` is the server's address.
 */
export function notAReply(transport: "tcp" | "udp", where: string, text: string): string | null {
  const label = transport === "tcp" ? TCP_LABEL : UDP_LABEL;
  if (text.startsWith(label + " ")) return null;
  const shown = printable(Array.from(text).slice(0, 40).join("")) +
    (Array.from(text).length > 40 ? "..." : "");
  // A TLS record starts with its type (0x15 alert, 0x16 handshake), then version 3.x.
  const tls = (text.charCodeAt(0) === 0x15 || text.charCodeAt(0) === 0x16) &&
    text.charCodeAt(1) === 0x03;
  const hint = tls
    ? TLS_HINT
    : transport === "tcp"
    ? "wrong port (--tcp-port), or does the server need --tls?"
    : "wrong port (--udp-port)?";
  const service = `the ${transport.toUpperCase()} message service`;
  return `${where} answered "${shown}", which is not a reply of ${service}: ${hint}`;
}
