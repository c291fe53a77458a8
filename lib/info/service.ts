/**
 * UDP info service: each request datagram gets at most one reply datagram of
 * at most MAX_REPLY bytes. Replies are rate-limited per source address, since
 * a UDP source can be forged and a small request buys a larger reply. The
 * receive loop, which nothing a sender does can end, is UdpService's.
 */
import { formatAddr } from "../net/address.ts";
import { RateLimiter } from "../base/rate_limit.ts";
import { UdpService } from "../net/udp_service.ts";
import type { RunningService, ServiceContext } from "../service.ts";
import { VERSION } from "../base/version.ts";
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

/** Sources whose buckets are tracked at once; about 160 bytes each, 650 KB in all. */
export const MAX_INFO_SOURCES = 4096;

/** The burst a quiet source may send at once for a given --info-rate: twice the rate, at least 1. */
export function infoBurst(rate: number): number {
  return Math.max(1, Math.ceil(rate * 2));
}

/** Starts the UDP info service on --info-port. */
export function startInfoService(context: ServiceContext): RunningService {
  const { config, log } = context;
  const startedAt = performance.now();
  const limiter = new RateLimiter({
    rate: config.infoRate,
    burst: infoBurst(config.infoRate),
    maxSources: MAX_INFO_SOURCES,
  });

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

  const service = UdpService.listen({
    label: INFO_LABEL,
    service: "UDP info service",
    hostname: config.host,
    port: config.infoPort,
    log,
    guard: context.guard,
    handle({ payload }, from) {
      // Checked before any parsing, so a flood costs as little as possible.
      if (!limiter.allow(from.hostname)) {
        context.stats.infoDropped++;
        return null;
      }
      const request = parseRequest(payload);
      if (!log.quiet) {
        const peer = formatAddr(from);
        log.event(
          request.kind === "command"
            ? `${INFO_LABEL} ${request.command}${request.json ? " JSON" : ""} from ${peer}`
            : `${INFO_LABEL} Unknown command from ${peer}: "${request.shown}"`,
        );
      }
      return replyBytes(answer(request), request.json);
    },
  });
  return {
    label: INFO_LABEL,
    transport: "udp",
    hostname: service.hostname,
    port: service.port,
    stop: () => service.stop(),
  };
}
