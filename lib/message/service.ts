/**
 * The message services: TCP (--tcp-port) and UDP (--udp-port), each
 * acknowledging every message, and `exit` stopping the server when allowed.
 */
import { TcpService } from "../net/tcp_service.ts";
import { UdpService } from "../net/udp_service.ts";
import type { Endpoint, Service, ServiceDeps } from "../service.ts";
import type { MessageConfig } from "./config.ts";
import { EXIT_GRACE_MS, ExitCountdown } from "./exit.ts";
import { TCP_LABEL, UDP_LABEL } from "./protocol.ts";
import { type MessageCounters, messageStatus } from "./status.ts";
import { tcpMessageHandler } from "./tcp_handler.ts";
import { udpMessageHandler } from "./udp_handler.ts";

/** The TCP and UDP message services of one server. */
export class MessageService implements Service {
  readonly endpoints: readonly Endpoint[];
  #tcp: TcpService;
  #udp: UdpService;
  #counters: MessageCounters;
  #exits: ExitCountdown;

  private constructor(
    tcp: TcpService,
    udp: UdpService,
    counters: MessageCounters,
    exits: ExitCountdown,
  ) {
    this.#tcp = tcp;
    this.#udp = udp;
    this.#counters = counters;
    this.#exits = exits;
    this.endpoints = [
      {
        label: TCP_LABEL,
        transport: "tcp",
        hostname: tcp.hostname,
        port: tcp.port,
        connections: () => tcp.connectionCount,
      },
      {
        label: UDP_LABEL,
        transport: "udp",
        hostname: udp.hostname,
        port: udp.port,
        engine: udp.engine,
      },
    ];
  }

  /** Binds both ports; throws RuntimeError (and leaves nothing bound) when one cannot be. */
  static async start(config: MessageConfig, deps: ServiceDeps): Promise<MessageService> {
    const counters: MessageCounters = { tcp: 0, udp: 0, udpDropped: 0 };
    const { log, gate, tcp: limits } = deps;
    // An `exit` over one transport stops the server once the other had its
    // own, or after a grace period, so a client sending both gets both replies.
    const exits = new ExitCountdown(
      config.exitGraceMs ?? EXIT_GRACE_MS,
      (reason) => deps.requestShutdown(reason),
    );
    const tcp = TcpService.listen({
      label: TCP_LABEL,
      service: "TCP message service",
      hostname: deps.host,
      port: config.tcpPort,
      log,
      maxConnections: limits.maxConnections,
      idle: { ms: limits.idleTimeout },
      request: { ms: limits.lineTimeout },
      busyReply:
        `${TCP_LABEL} Error: too many connections (${limits.maxConnections}); try again later`,
      perAddressReply: (cap) =>
        `${TCP_LABEL} Error: too many connections from your address (${cap}); try again later`,
      gate,
      handle: tcpMessageHandler(config, deps, counters, exits),
    });
    let udp: UdpService;
    try {
      udp = await UdpService.listen({
        label: UDP_LABEL,
        service: "UDP message service",
        hostname: deps.host,
        port: config.udpPort,
        engine: deps.udpEngine,
        ...(deps.afterListening ? { deferred: deps.afterListening } : {}),
        log,
        gate,
        ...udpMessageHandler(config, deps, counters, exits),
      });
    } catch (error) {
      await tcp.stop();
      throw error;
    }
    return new MessageService(tcp, udp, counters, exits);
  }

  status() {
    return messageStatus(this.#counters);
  }

  async stop(): Promise<void> {
    this.#exits.cancel();
    await Promise.all([this.#tcp.stop(), this.#udp.stop()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
