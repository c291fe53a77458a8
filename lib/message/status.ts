/** What the message services count, as STATUS shows it. */
import { countersStatus, type StatusSection } from "../base/status.ts";

/** Messages received; each handler bumps its own transport. */
export interface MessageCounters {
  tcp: number;
  udp: number;
  /** Datagrams dropped unanswered for --udp-rate. */
  udpDropped: number;
}

/** The `messages` part of STATUS (zeros when the service is not running). */
export const messageStatus: (counters?: MessageCounters) => StatusSection = countersStatus(
  "messages",
  { tcp: 0, udp: 0, udpDropped: 0 },
  (counters) =>
    `messages: ${counters.tcp} over TCP, ${counters.udp} over UDP (${counters.udpDropped} dropped over --udp-rate)`,
);
