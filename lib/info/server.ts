/**
 * UDP info service: each request datagram gets at most one reply datagram of
 * at most MAX_REPLY bytes. Replies are rate-limited per source address, since
 * a UDP source can be forged and a small request buys a larger reply. Nothing
 * a sender does ends the receive loop; only stop() does.
 */
import { formatAddr } from "../net/address.ts";
import { closeQuietly } from "../net/io.ts";
import { listenUdp } from "../net/listen.ts";
import { RateLimiter } from "../net/rate_limiter.ts";
import type { RunningService, ServiceContext } from "../service.ts";
import { VERSION } from "../version.ts";
import {
  errorReply,
  helpReply,
  INFO_LABEL,
  type InfoRequest,
  parseRequest,
  replyBytes,
  statusReply,
  timeReply,
  usersReply,
} from "./protocol.ts";

// The largest UDP payload over IPv4 is 65,507 bytes; this holds any datagram,
// so an oversized one is read whole and answered, not split or left queued.
const DATAGRAM_BUFFER = 65_536;

/** Sources whose buckets are tracked at once; about 160 bytes each, 650 KB in all. */
export const MAX_INFO_SOURCES = 4096;

/** The burst a quiet source may send at once for a given --info-rate: twice the rate, at least 1. */
export function infoBurst(rate: number): number {
  return Math.max(1, Math.ceil(rate * 2));
}

/** Starts the UDP info service on --info-port. */
export function startInfoService(context: ServiceContext): RunningService {
  const { config, log } = context;
  const socket = listenUdp("UDP info service", config.host, config.infoPort);
  const local = socket.addr as Deno.NetAddr;
  const startedAt = performance.now();
  const limiter = new RateLimiter({
    rate: config.infoRate,
    burst: infoBurst(config.infoRate),
    maxSources: MAX_INFO_SOURCES,
  });
  let stopping = false;

  function answer(request: InfoRequest): string {
    if (request.kind === "unknown") return errorReply(request.shown, request.json);
    const { json } = request;
    switch (request.command) {
      case "STATUS":
        return statusReply({
          version: VERSION,
          uptimeMs: performance.now() - startedAt,
          services: context.registry.services.map((service) => ({
            label: service.label,
            transport: service.transport,
            hostname: service.hostname,
            port: service.port,
            ...(service.connections ? { connections: service.connections() } : {}),
          })),
          stats: context.stats,
          chatMembers: context.registry.chatMembers().length,
        }, json);
      case "TIME":
        return timeReply(new Date(), json);
      case "USERS":
        return usersReply(context.registry.chatMembers(), Date.now(), json);
      case "HELP":
        return helpReply(json);
    }
  }

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
        log.error(
          `${INFO_LABEL} Receive failed: ${error instanceof Error ? error.message : error}`,
        );
        continue;
      }
      // --allow/--deny and the token first; the AUTH line, if any, is stripped.
      const admitted = await context.guard.screenDatagram(socket, received, from, INFO_LABEL);
      if (admitted === null) continue;
      // Checked before any parsing, so a flood costs as little as possible.
      if (!limiter.allow(from.hostname)) {
        context.stats.infoDropped++;
        continue;
      }
      const request = parseRequest(admitted.payload);
      const peer = formatAddr(from);
      if (!log.quiet) {
        log.event(
          request.kind === "command"
            ? `${INFO_LABEL} ${request.command}${request.json ? " JSON" : ""} from ${peer}`
            : `${INFO_LABEL} Unknown command from ${peer}: "${request.shown}"`,
        );
      }
      try {
        await socket.send(replyBytes(answer(request), request.json), from);
      } catch (error) {
        if (stopping || error instanceof Deno.errors.BadResource) return;
        log.error(
          `${INFO_LABEL} Reply to ${peer} failed: ${
            error instanceof Error ? error.message : error
          }`,
        );
      }
    }
  }

  const loop = receiveLoop();
  return {
    label: INFO_LABEL,
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
