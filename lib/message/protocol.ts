/** The message services' replies, shared by servers, client and tests. */
import { decodeLenient, encode, printable } from "../net/text.ts";

export const TCP_LABEL = "[TCP Server]";
export const UDP_LABEL = "[UDP Server]";

export const RECEIVED = "Your message was received!";
export const SHUTTING_DOWN = "Server shutting down...";

/** The reply a server sends for `exit`, a refused `exit` or an over-long message. */
export function replyText(label: string, text: string): string {
  return `${label} ${text}`;
}

/** "Refusing exit: <reason>". */
export function refusedExit(reason: string): string {
  return `Refusing exit: ${reason}`;
}

/** "Error: message too long ...". */
export function tooLong(maxMessage: number): string {
  return `Error: message too long (over ${maxMessage} bytes); it was discarded`;
}

/** One line for the server log; long messages are cut so logging stays cheap. */
export function logReceived(label: string, peer: string, bytes: Uint8Array): string {
  const shown = 200;
  if (bytes.length <= shown) {
    return `${label} Received from ${peer}: ${printable(decodeLenient(bytes))}`;
  }
  const head = printable(decodeLenient(bytes.subarray(0, shown)));
  return `${label} Received from ${peer}: ${head}... (${bytes.length} bytes)`;
}

/** A reply line as bytes, built once and reused. */
export function replyLine(label: string, text: string): Uint8Array {
  return encode(replyText(label, text) + "\n");
}
