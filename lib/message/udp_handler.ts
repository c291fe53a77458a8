/**
 * The UDP message service's answers: each datagram is one message and gets
 * one reply datagram. The receive loop, which nothing a sender does can end,
 * is UdpService's.
 */
import { formatAddr } from "../net/address.ts";
import type { AdmittedDatagram } from "../net/udp_service.ts";
import type { ServiceDeps } from "../service.ts";
import type { MessageConfig } from "./config.ts";
import { exitRefusal, isExitCommand } from "./exit.ts";
import {
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
): {
  handle(datagram: AdmittedDatagram, from: Deno.NetAddr): Uint8Array | null;
  afterReply(): void;
} {
  const { log } = deps;
  // Replies are datagrams, so no trailing newline.
  const reply = (text: string) => replyLine(UDP_LABEL, text).subarray(0, -1);
  const ack = reply(RECEIVED);
  const overLong = reply(tooLong(config.maxMessage));
  const shuttingDown = reply(SHUTTING_DOWN);
  let exitFrom: Deno.NetAddr | null = null;

  return {
    handle({ payload: data, authenticated }, from) {
      counters.udp++;
      // Formatting the address costs more than the rest of a reply, so only
      // the lines that show it pay for it.
      if (!log.quiet) {
        const peer = formatAddr(from);
        logMessage(log, UDP_LABEL, peer, () => receivedHead(UDP_LABEL, peer), data);
      }
      if (data.length > config.maxMessage) return overLong;
      if (!isExitCommand(data)) return ack;
      const refusal = exitRefusal(config.exitFrom, from.hostname, authenticated);
      if (refusal === null) {
        exitFrom = from;
        return shuttingDown;
      }
      log.info(`${UDP_LABEL} Refused exit from ${formatAddr(from)}: ${refusal}`);
      return reply(refusedExit(refusal));
    },
    // The shutdown starts only once the reply to `exit` is on its way.
    afterReply() {
      if (exitFrom === null) return;
      deps.requestShutdown(`exit from ${formatAddr(exitFrom)} over UDP`);
      exitFrom = null;
    },
  };
}
