/**
 * The chat service (--chat-port): a line-based room that netcat can join.
 * TcpService accepts and caps connections; each gets a ChatSession (which
 * also sets the chat's own idle rules); the Room fans lines out through
 * per-member bounded queues. TCP keepalive finds peers that vanished.
 * With --redis the chat is one of a cluster (cluster/link.ts, loaded only
 * then): the Hub relays through it. The web service brings members over a
 * WebSocket (joinWebSocket): the same sessions, hub and rules.
 */
import { importLazily } from "../../base/lazy_import.ts";
import { TIMED_OUT, within } from "../../base/deadline.ts";
import { systemBytes } from "../events.ts";
import { TcpService } from "../../net/tcp_service.ts";
import type { TrackedConn } from "../../net/tracked_conn.ts";
import type { Endpoint, Service, ServiceDeps } from "../../service.ts";
import type { ChatConfig } from "../config.ts";
import type { ClusterLink, ClusterView } from "../cluster/link.ts";
import { formatHostPort } from "../../net/address.ts";
import {
  addressShareLine,
  CHAT_LABEL,
  limitsLine,
  roomFullLine,
  SHUTDOWN_NOTICE,
  welcomeLine,
} from "../protocol.ts";
import { describeCap, perAddressCap, PerAddressCounter } from "../../net/per_address.ts";
import { Hub } from "./hub.ts";
import type { MemberInfo } from "../members.ts";
import { ChatSession, FINAL_FLUSH_MS } from "./session.ts";
import { TcpTransport } from "./transport.ts";
import { WebSocketTransport } from "./websocket_transport.ts";
import { chatStatus } from "../status.ts";

/** The chat room of one server. */
export class ChatService implements Service {
  readonly endpoints: readonly Endpoint[];
  #config: ChatConfig;
  #deps: ServiceDeps;
  #hub: Hub;
  #sessions = new Set<ChatSession>();
  /** WebSocket members' sessions, running; stop() closes and awaits them. */
  #webRuns = new Set<Promise<void>>();
  #tcp: TcpService;
  /** Chat connections per address, against its share of --chat-max-members. */
  #perAddress: PerAddressCounter;
  #shareLine: string;
  #cluster: ClusterLink | null = null;
  #stopping = false;

  private constructor(config: ChatConfig, deps: ServiceDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#hub = new Hub({
      history: config.history,
      maxMembers: config.maxMembers,
      maxRooms: config.maxRooms,
      buffer: config.buffer,
      greeting: [limitsLine(config.maxLine, config.rate, config.burst)],
      log: deps.log,
    });
    // Chat connections from one address, named or not, against its share of
    // the members: silent members from one address must not fill the room.
    const limit = deps.gate.maxConnsPerIp;
    this.#perAddress = new PerAddressCounter(perAddressCap(limit, config.maxMembers));
    this.#shareLine = addressShareLine(describeCap(limit, config.maxMembers));
    const { maxConnections } = deps.tcp;
    this.#tcp = TcpService.listen({
      label: CHAT_LABEL,
      service: "chat service",
      hostname: deps.host,
      port: config.port,
      log: deps.log,
      maxConnections,
      idle: { ms: 0 }, // each session sets the chat's own rules
      shortestIdle: shortestPositive(config.nameTimeout, config.idleTimeout),
      busyReply: `! The server is busy (${maxConnections} connections); try again later`,
      perAddressReply: (cap) =>
        `! Too many connections from your address (${cap}); try again later`,
      gate: deps.gate,
      handle: (tracked) => this.#handle(tracked),
    });
    const tcp = this.#tcp;
    this.endpoints = [{
      label: CHAT_LABEL,
      transport: "tcp",
      hostname: tcp.hostname,
      port: tcp.port,
      connections: () => tcp.connectionCount,
    }];
  }

  /**
   * Binds --chat-port, then joins the cluster if --redis says so; throws
   * RuntimeError when either cannot be done (nothing is left listening).
   */
  static async start(config: ChatConfig, deps: ServiceDeps): Promise<ChatService> {
    const service = new ChatService(config, deps);
    if (config.cluster === null) return service;
    try {
      const { startCluster } = await importLazily<typeof import("../cluster/link.ts")>(
        new URL("../cluster/link.ts", import.meta.url),
      );
      const endpoint = service.endpoints[0]!;
      service.#cluster = await startCluster(service.#hub, {
        config: config.cluster,
        ...config.cluster.waits,
        label: formatHostPort(endpoint.hostname, endpoint.port),
        history: config.history,
        log: deps.log,
      });
    } catch (error) {
      await service.#tcp.stop();
      throw error;
    }
    return service;
  }

  /** The members now (of every instance, with a cluster), as the info service's USERS shows them. */
  roster(): MemberInfo[] {
    return this.#hub.roster();
  }

  /** The cluster as STATUS shows it; null without --redis. */
  cluster(): ClusterView | null {
    return this.#cluster?.view() ?? null;
  }

  status() {
    return chatStatus(this.#hub.size, this.#hub.messages, this.#hub.roomCount);
  }

  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#hub.close();
      // Everyone gets the notice first; a member that does not read it in
      // time is closed anyway.
      const text = systemBytes(SHUTDOWN_NOTICE, false);
      const json = systemBytes(SHUTDOWN_NOTICE, true);
      for (const session of this.#sessions) session.outbox.push(session.json ? json : text);
      const flushed = Promise.all([...this.#sessions].map((session) => session.outbox.flushed()));
      if (await within(flushed, FINAL_FLUSH_MS) === TIMED_OUT) {
        this.#deps.log.info(`${CHAT_LABEL} Some members did not take the shutdown notice in time`);
      }
      // The other instances show this one's members leaving.
      await this.#cluster?.close();
    }
    for (const session of this.#sessions) session.transport.close();
    await Promise.all([this.#tcp.stop(), ...this.#webRuns]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Runs a chat member over a WebSocket (from Deno.upgradeWebSocket) until
   * it leaves: its first text frame is its name, then each frame is a line;
   * it gets JSON objects, one per frame. Resolves once its session is over
   * and the socket closed. The caller (the web service) has checked the
   * token and the Origin; `authenticated` says the token was given (an
   * operator, as AUTH makes a TCP member one). When `signal` aborts (the web
   * service stops) the member gets the shutdown notice and is closed.
   */
  async joinWebSocket(
    socket: WebSocket,
    options: { peer: string; peerHost?: string; authenticated?: boolean; signal?: AbortSignal },
  ): Promise<void> {
    const transport = new WebSocketTransport(socket, {
      peer: options.peer,
      authenticated: options.authenticated ?? false,
      maxLine: this.#config.maxLine,
    });
    const session = new ChatSession(transport, this.#hub, this.#config, this.#deps.log);
    const shutdown = () => {
      session.outbox.push(systemBytes(SHUTDOWN_NOTICE, true));
      void session.closeAfterFlush();
    };
    const run = (async () => {
      try {
        if (await transport.opened()) {
          await this.#run(session, options.peerHost ?? options.peer, options.peer);
        }
      } finally {
        transport.close(); // a TCP connection is closed by TcpService; this one is ours
      }
    })();
    this.#webRuns.add(run);
    options.signal?.addEventListener("abort", shutdown, { once: true });
    try {
      await run;
    } finally {
      options.signal?.removeEventListener("abort", shutdown);
      this.#webRuns.delete(run);
    }
  }

  async #handle(tracked: TrackedConn): Promise<void> {
    try {
      // Plain TCP only: Deno's TLS connections offer neither option (see
      // docs/security.md), and TLS records batch small writes anyway.
      tracked.setKeepAlive(true);
      // Chat is interactive and the Outbox already batches what one turn
      // queues, so Nagle's algorithm would only add delay (up to the peer's
      // delayed-ACK timeout) to every line after the first.
      tracked.setNoDelay(true);
    } catch {
      // The socket may already be gone; the read below will say so.
    }
    const transport = new TcpTransport(tracked, this.#config.maxLine);
    const session = new ChatSession(transport, this.#hub, this.#config, this.#deps.log);
    await this.#run(session, tracked.peerHost, tracked.peer);
  }

  /** Runs a member's session, over TCP or a WebSocket, within the chat's and its address's caps. */
  async #run(session: ChatSession, peerHost: string, peer: string): Promise<void> {
    const config = this.#config;
    if (this.#stopping) return await sayAndClose(session, SHUTDOWN_NOTICE);
    if (this.#hub.full) return await sayAndClose(session, roomFullLine(config.maxMembers));
    const claim = this.#perAddress.claim(peerHost);
    if (!claim.ok) {
      this.#deps.log.repeated(
        `${CHAT_LABEL} refused per address`,
        "info",
        () => `${CHAT_LABEL} Refused ${peer}: ${claim.open} members from that address`,
        (n, s) => `${CHAT_LABEL} Refused ${n} more members in ${s}s: their address's share`,
      );
      return await sayAndClose(session, this.#shareLine);
    }
    this.#sessions.add(session);
    try {
      session.send(welcomeLine(this.#hub.total));
      await session.run();
    } finally {
      this.#sessions.delete(session);
      claim.release();
    }
  }
}

async function sayAndClose(session: ChatSession, line: string): Promise<void> {
  session.send(line);
  await within(session.outbox.flushed(), FINAL_FLUSH_MS);
  session.transport.close();
}

/** The shortest of the timeouts that are on (0 when none is). */
function shortestPositive(...timeouts: number[]): number {
  const positive = timeouts.filter((ms) => ms > 0);
  return positive.length > 0 ? Math.min(...positive) : 0;
}
