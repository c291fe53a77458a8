/**
 * What `serve` hands to every service, and what a service hands back. A new
 * service plugs in by implementing {@link ServiceStarter} and registering in
 * lib/serve.ts.
 */
import type { ChatConfig } from "./chat/config.ts";
import type { Logger } from "./base/logger.ts";
import type { Guard } from "./security/gate.ts";
import type { SecurityConfig } from "./security/config.ts";

/** The services `--services` can name. */
export const SERVICE_NAMES = ["message", "chat", "info", "files"] as const;
export type ServiceName = typeof SERVICE_NAMES[number];

/** Who may stop the server with `exit` (--exit-from). */
export const EXIT_POLICIES = ["local", "any", "none"] as const;
export type ExitPolicy = typeof EXIT_POLICIES[number];

/** Live counters, read by the info service. Each service bumps its own. */
export interface ServerStats {
  tcpMessages: number;
  udpMessages: number;
  chatMessages: number;
  filesStored: number;
  bytesUploaded: number;
  bytesDownloaded: number;
  /** Datagrams the info service dropped for its rate limit. */
  infoDropped: number;
  /**
   * TCP connections closed at accept, before any byte: --allow/--deny, or an
   * address cooling down after repeated failed authentications.
   */
  refusedConnections: number;
  /** Datagrams dropped for --allow/--deny. */
  refusedDatagrams: number;
  /** Failed authentications: wrong, missing or malformed token, TCP and UDP. */
  authFailures: number;
  /** TLS handshakes that failed or did not finish within --auth-timeout. */
  tlsFailures: number;
}

/** A chat member as the info service reports it. */
export interface ChatMemberView {
  name: string;
  /** Date.now() when the member joined. */
  joinedAt: number;
}

/**
 * Live views services publish for each other (the info service reads them).
 * A service that is not running leaves its default in place.
 */
export interface ServiceRegistry {
  /** Every running service, filled in by serve once all have started. */
  services: RunningService[];
  /** The chat room's members now; empty until the chat service sets it. */
  chatMembers: () => ChatMemberView[];
}

/** The server's settings after flag parsing; each service reads its own. */
export interface ServeConfig {
  host: string;
  tcpPort: number;
  udpPort: number;
  chatPort: number;
  infoPort: number;
  filePort: number;
  filesDir: string;
  /** Largest file the file service accepts, in bytes. */
  maxFileSize: number;
  /** Uploads and downloads the file service runs at once. */
  maxTransfers: number;
  /** Milliseconds an interrupted upload is kept for resuming; 0 keeps it forever. */
  keepPartial: number;
  services: ServiceName[];
  exitFrom: ExitPolicy;
  /** Longest message (TCP line or UDP datagram) in bytes. */
  maxMessage: number;
  /** Open connections per TCP service. */
  maxConnections: number;
  /** Milliseconds of silence before a TCP connection is closed; 0 disables. */
  idleTimeout: number;
  /** Milliseconds of pause after which bytes without a newline count as a message. */
  flushDelay: number;
  /** Info replies per second to one source address (bursts of twice that); 0: no limit. */
  infoRate: number;
  quiet: boolean;
  /** The chat room's limits (--chat-* flags). */
  chat: ChatConfig;
  /** --allow, --deny, the token, TLS, --auth-timeout, --max-conns-per-ip. */
  security: SecurityConfig;
}

/** Shared by all services of one server. */
export interface ServiceContext {
  config: ServeConfig;
  log: Logger;
  stats: ServerStats;
  registry: ServiceRegistry;
  /**
   * Access control, the shared secret and TLS. TCP services get it by passing
   * it to TcpService.listen; UDP services pass each datagram through
   * guard.screenDatagram.
   */
  guard: Guard;
  /** Starts the one shutdown path; safe to call more than once. */
  requestShutdown(reason: string): void;
}

/** A started service. */
export interface RunningService {
  /** Console label, e.g. "[TCP Server]". */
  label: string;
  transport: "tcp" | "udp";
  /** The address actually bound (port 0 resolved). */
  hostname: string;
  port: number;
  /** Connections open now (TCP services). */
  connections?: () => number;
  /** Stops accepting, closes connections; resolves when everything is closed. */
  stop(): Promise<void>;
}

/** Binds a service; throws RuntimeError when it cannot. */
export type ServiceStarter = (context: ServiceContext) => RunningService | Promise<RunningService>;
