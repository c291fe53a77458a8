/**
 * UDP info service (--info-port): each request datagram gets at most one
 * reply datagram of at most MAX_REPLY bytes, and at most 3x the request on
 * the wire (net/amplification.ts): a short request gets a short answer that
 * says to pad it. Replies are also rate-limited per source address, since a
 * UDP source can be forged. The receive loop, which nothing a sender does can end, is
 * UdpService's. What it reports comes from the other services, through the
 * read-only {@link InfoSources} that serve hands it.
 */
import { perSourceReplies } from "../base/rate_limit.ts";
import type { StatusSection } from "../base/status.ts";
import { VERSION } from "../base/version.ts";
import { formatAddr } from "../net/address.ts";
import { UdpService } from "../net/udp_service.ts";
import type { Endpoint, Service, ServiceDeps } from "../service.ts";
import type { InfoConfig } from "./config.ts";
import {
  type ClusterStatusView,
  errorReply,
  helpReply,
  INFO_LABEL,
  type InfoRequest,
  type MemberView,
  parseRequest,
  replyBytes,
  statusReply,
  timeReply,
  usersReply,
} from "./protocol.ts";
import { replyWithin } from "./short_answer.ts";
import { infoStatus } from "./status.ts";

/** What the info service reports on, read when a request comes. */
export interface InfoSources {
  /** Every running service's sockets, in start order. */
  endpoints(): readonly Endpoint[];
  /** Every counter section, in STATUS order (this service's own included). */
  sections(): StatusSection[];
  /** Chat members now (none without a chat service), of every instance with a cluster. */
  members(): MemberView[];
  /** The chat cluster, with --redis (null or absent without). */
  cluster?(): ClusterStatusView | null;
}

/** The info service of one server. */
export class InfoService implements Service {
  readonly endpoints: readonly Endpoint[];
  #udp: UdpService;
  #counts: { dropped: number };

  private constructor(udp: UdpService, counts: { dropped: number }) {
    this.#udp = udp;
    this.#counts = counts;
    this.endpoints = [{
      label: INFO_LABEL,
      transport: "udp",
      hostname: udp.hostname,
      port: udp.port,
      engine: udp.engine,
    }];
  }

  /** Binds --info-port; throws RuntimeError when it cannot. */
  static async start(
    config: InfoConfig,
    deps: ServiceDeps,
    sources: InfoSources,
  ): Promise<InfoService> {
    const { log } = deps;
    const counts = { dropped: 0 };
    const startedAt = performance.now();
    const limiter = perSourceReplies(config.rate);

    const answer = (request: InfoRequest): string => {
      if (request.kind === "unknown") return errorReply(request.shown, request.json);
      const { json } = request;
      switch (request.command) {
        case "STATUS":
          return statusReply({
            version: VERSION,
            uptimeMs: performance.now() - startedAt,
            services: sources.endpoints().map((endpoint) => ({
              label: endpoint.label,
              transport: endpoint.transport,
              hostname: endpoint.hostname,
              port: endpoint.port,
              ...(endpoint.connections ? { connections: endpoint.connections() } : {}),
              ...(endpoint.engine ? { engine: endpoint.engine } : {}),
            })),
            sections: sources.sections(),
            cluster: sources.cluster?.() ?? null,
          }, json);
        case "TIME":
          return timeReply(new Date(), json);
        case "USERS":
          return usersReply(sources.members(), Date.now(), json);
        case "HELP":
          return helpReply(json);
      }
    };

    const udp = await UdpService.listen({
      label: INFO_LABEL,
      service: "UDP info service",
      hostname: deps.host,
      port: config.port,
      engine: deps.udpEngine,
      ...(deps.afterListening ? { deferred: deps.afterListening } : {}),
      log,
      gate: deps.gate,
      handle: ({ payload }, from, budget) => {
        // Checked before any parsing, so a flood costs as little as possible.
        if (!limiter.allow(from.hostname)) {
          counts.dropped++;
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
        const whole = replyBytes(answer(request), request.json);
        return replyWithin(request, whole, budget, () => ({
          version: VERSION,
          uptimeMs: performance.now() - startedAt,
          now: new Date(),
          users: sources.members().length,
        }));
      },
    });
    return new InfoService(udp, counts);
  }

  status() {
    return infoStatus(this.#counts.dropped);
  }

  async stop(): Promise<void> {
    await this.#udp.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
