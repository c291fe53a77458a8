/**
 * UDP message service: each datagram is one message and gets one reply
 * datagram. Nothing a sender does (empty, oversized, binary datagrams, send
 * errors) ends the receive loop; only stop() does.
 */
import { formatAddr } from "../net/address.ts";
import { closeQuietly } from "../net/io.ts";
import { listenUdp } from "../net/listen.ts";
import { isExitCommand } from "../net/text.ts";
import type { RunningService, ServiceContext } from "../service.ts";
import { exitRefusal } from "./exit_policy.ts";
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

// The largest UDP payload over IPv4 is 65,507 bytes; this holds any datagram.
const DATAGRAM_BUFFER = 65_536;

/** Starts the UDP message service on --udp-port. */
export function startUdpMessageService(context: ServiceContext): RunningService {
  const { config, log } = context;
  const socket = listenUdp("UDP message service", config.host, config.udpPort);
  const local = socket.addr as Deno.NetAddr;
  // Replies are datagrams, so no trailing newline.
  const reply = (text: string) => replyLine(UDP_LABEL, text).subarray(0, -1);
  const ack = reply(RECEIVED);
  const overLong = reply(tooLong(config.maxMessage));
  const shuttingDown = reply(SHUTTING_DOWN);
  let stopping = false;

  async function receiveLoop(): Promise<void> {
    const buffer = new Uint8Array(DATAGRAM_BUFFER);
    while (!stopping) {
      let received: Uint8Array;
      let from: Deno.NetAddr;
      try {
        const [bytes, addr] = await socket.receive(buffer);
        received = bytes;
        from = addr as Deno.NetAddr;
      } catch (error) {
        if (stopping || error instanceof Deno.errors.BadResource) return;
        // e.g. an ICMP error surfaced on the socket: it concerns one peer, not the service.
        log.error(`${UDP_LABEL} Receive failed: ${error instanceof Error ? error.message : error}`);
        continue;
      }
      // --allow/--deny and the token; the AUTH line, if any, is stripped here.
      const admitted = await context.guard.screenDatagram(socket, received, from, UDP_LABEL);
      if (admitted === null) continue;
      const data = admitted.payload;
      context.stats.udpMessages++;
      // Formatting the address costs more than the rest of a reply, so only
      // the lines that show it pay for it.
      if (!log.quiet) {
        const peer = formatAddr(from);
        logMessage(log, UDP_LABEL, peer, () => receivedHead(UDP_LABEL, peer), data);
      }
      let answer = ack;
      let exiting = false;
      if (data.length > config.maxMessage) {
        answer = overLong;
      } else if (isExitCommand(data)) {
        const refusal = exitRefusal(config.exitFrom, from.hostname, admitted.authenticated);
        exiting = refusal === null;
        if (refusal !== null) {
          log.info(`${UDP_LABEL} Refused exit from ${formatAddr(from)}: ${refusal}`);
        }
        answer = exiting ? shuttingDown : reply(refusedExit(refusal!));
      }
      try {
        await socket.send(answer, from);
      } catch (error) {
        if (stopping || error instanceof Deno.errors.BadResource) return;
        log.error(
          `${UDP_LABEL} Reply to ${formatAddr(from)} failed: ${
            error instanceof Error ? error.message : error
          }`,
        );
      }
      if (exiting) context.requestShutdown(`exit from ${formatAddr(from)} over UDP`);
    }
  }

  const loop = receiveLoop();
  return {
    label: UDP_LABEL,
    transport: "udp",
    hostname: local.hostname,
    port: local.port,
    async stop() {
      stopping = true;
      closeQuietly(socket);
      await loop;
    },
  };
}
