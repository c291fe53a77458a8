/** What the message services count, as STATUS shows it. */
import type { StatusSection } from "../base/status.ts";

/** Messages received; each handler bumps its own transport. */
export interface MessageCounters {
  tcp: number;
  udp: number;
  /** Datagrams dropped unanswered for --udp-rate. */
  udpDropped: number;
}

/** The `messages` part of STATUS (zeros when the service is not running). */
export function messageStatus(
  counters: MessageCounters = { tcp: 0, udp: 0, udpDropped: 0 },
): StatusSection {
  return {
    key: "messages",
    text:
      `messages: ${counters.tcp} over TCP, ${counters.udp} over UDP (${counters.udpDropped} dropped over --udp-rate)`,
    json: { tcp: counters.tcp, udp: counters.udp, udpDropped: counters.udpDropped },
  };
}
