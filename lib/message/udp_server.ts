/**
 * UDP message service: each datagram is one message and gets one reply
 * datagram. The receive loop, which nothing a sender does can end, is
 * UdpService's.
 */
import { formatAddr } from "../net/address.ts";
import { UdpService } from "../net/udp_service.ts";
import { isExitCommand } from "../base/text.ts";
import type { RunningService, ServiceContext } from "../service.ts";
import { exitRefusal } from "./exit.ts";
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

/** Starts the UDP message service on --udp-port. */
export function startUdpMessageService(context: ServiceContext): RunningService {
  const { config, log } = context;
  // Replies are datagrams, so no trailing newline.
  const reply = (text: string) => replyLine(UDP_LABEL, text).subarray(0, -1);
  const ack = reply(RECEIVED);
  const overLong = reply(tooLong(config.maxMessage));
  const shuttingDown = reply(SHUTTING_DOWN);
  let exitFrom: Deno.NetAddr | null = null;

  const service = UdpService.listen({
    label: UDP_LABEL,
    service: "UDP message service",
    hostname: config.host,
    port: config.udpPort,
    log,
    guard: context.guard,
    handle({ payload: data, authenticated }, from) {
      context.stats.udpMessages++;
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
      context.requestShutdown(`exit from ${formatAddr(exitFrom)} over UDP`);
      exitFrom = null;
    },
  });
  return {
    label: UDP_LABEL,
    transport: "udp",
    hostname: service.hostname,
    port: service.port,
    stop: () => service.stop(),
  };
}
