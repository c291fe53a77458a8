/**
 * The UDP message service's answers: each datagram is one message and gets
 * one reply datagram, within a per-source rate limit (--udp-rate), since a UDP
 * source can be forged and a small datagram buys a larger reply. The receive
 * loop, which nothing a sender does can end, is UdpService's. Every reply keeps
 * within 3x its request on the wire (net/amplification.ts): the two that can
 * be long, the over-long error and a refused `exit`, have a short form for a
 * short datagram (a refused `exit` from `connect` comes padded and gets the
 * reason).
 */
import { perSourceReplies } from "../base/rate_limit.ts";
import { firstThatFits } from "../net/amplification.ts";
import { formatAddr } from "../net/address.ts";
import { looksLikeAuth } from "../security/protocol.ts";
import type { AdmittedDatagram } from "../net/udp_service.ts";
import type { ServiceDeps } from "../service.ts";
import type { MessageConfig } from "./config.ts";
import { type ExitCountdown, exitRefusal, isExitCommand } from "./exit.ts";
import {
  logAuthLine,
  logMessage,
  RECEIVED,
  receivedHead,
  refusedExit,
  replyLine,
  SHUTTING_DOWN,
  tooLong,
  UDP_LABEL,
} from "./protocol.ts";
import type { MessageCounters } from "./status.ts";

/** The datagram handler of the UDP message service, for UdpService. */
export function udpMessageHandler(
  config: MessageConfig,
  deps: ServiceDeps,
  counters: MessageCounters,
  exits: ExitCountdown,
): {
  handle(datagram: AdmittedDatagram, from: Deno.NetAddr, budget: number): Uint8Array | null;
  afterReplies(): void;
} {
  const { log } = deps;
  // Replies are datagrams, so no trailing newline.
  const reply = (text: string) => replyLine(UDP_LABEL, text).subarray(0, -1);
  const ack = reply(RECEIVED);
  // Longest first; the last always fits the smallest budget (56 bytes).
  const overLong = [reply(tooLong(config.maxMessage)), reply(tooLong())];
  const refusedShort = reply(refusedExit());
  const shuttingDown = reply(SHUTTING_DOWN);
  const limiter = perSourceReplies(config.udpRate);
  let exitFrom: Deno.NetAddr | null = null;

  return {
    handle({ payload: data, authenticated }, from, budget) {
      // Before anything else, so a flood costs as little as possible.
      if (!limiter.allow(from.hostname)) {
        counters.udpDropped++;
        return null;
      }
      counters.udp++;
      // Formatting the address costs more than the rest of a reply, so only
      // the lines that show it pay for it.
      if (!log.quiet) {
        const peer = formatAddr(from);
        // A token sent to a server without one: never into the log.
        if (looksLikeAuth(data)) logAuthLine(log, UDP_LABEL, peer);
        else logMessage(log, UDP_LABEL, peer, () => receivedHead(UDP_LABEL, peer), data);
      }
      if (data.length > config.maxMessage) return firstThatFits(overLong, budget);
      if (!isExitCommand(data)) return ack;
      const refusal = exitRefusal(config.exitFrom, from.hostname, authenticated);
      if (refusal === null) {
        exitFrom = from;
        return shuttingDown;
      }
      log.repeated(
        `${UDP_LABEL} refused exit`,
        "info",
        () => `${UDP_LABEL} Refused exit from ${formatAddr(from)}: ${refusal}`,
        (n, s) => `${UDP_LABEL} Refused exit ${n} more times in ${s}s: ${refusal}`,
      );
      return firstThatFits([reply(refusedExit(refusal)), refusedShort], budget);
    },
    // The countdown to the shutdown starts only once the reply to `exit` is on its way.
    afterReplies() {
      if (exitFrom === null) return;
      exits.accepted("udp", `exit from ${formatAddr(exitFrom)} over UDP`);
      exitFrom = null;
    },
  };
}
