/**
 * The contracts between the commands and the service folders: what `serve`
 * hands a service and what a running service offers back, and what `connect`
 * hands a client mode. A new service plugs in by implementing {@link Service}
 * and registering in lib/serve.ts.
 */
import type { Logger } from "./base/logger.ts";
import type { StatusSection } from "./base/status.ts";
import type { TcpGate } from "./net/tcp_service.ts";
import type { DeferredStarts, UdpEngineChoice } from "./net/udp_engine.ts";
import type { UdpGate } from "./net/udp_service.ts";
import type { ClientSecurity } from "./security/client_settings.ts";

/** The services `--services` can name, in the order they start. */
export const SERVICE_NAMES = ["message", "chat", "info", "files", "web"] as const;
export type ServiceName = typeof SERVICE_NAMES[number];

/** One listening socket of a running service. */
export interface Endpoint {
  /** Console label, e.g. "[TCP Server]". */
  label: string;
  transport: "tcp" | "udp";
  /** The address actually bound (port 0 resolved). */
  hostname: string;
  port: number;
  /** Connections open now (TCP endpoints). */
  connections?: () => number;
  /** The engine moving its datagrams (UDP endpoints): "deno" or "batch". */
  engine?: "deno" | "batch";
}

/** A started service: its sockets, its counters and its lifetime. */
export interface Service extends AsyncDisposable {
  readonly endpoints: readonly Endpoint[];
  /** Its own counters, for STATUS. */
  status(): StatusSection;
  /** Stops accepting, closes connections; resolves when everything is closed. */
  stop(): Promise<void>;
}

/** --max-conns, --idle-timeout and --line-timeout: what every TCP service starts from. */
export interface TcpLimits {
  /** Open connections per TCP service. */
  maxConnections: number;
  /** Milliseconds of silence before a connection is closed; 0 disables (chat has its own). */
  idleTimeout: number;
  /**
   * Milliseconds a request line (a message, a file request) has from its first
   * byte to its end, however its bytes trickle in; 0 disables. For TcpService's
   * RequestRule: the handler marks requests on its TrackedConn.
   */
  lineTimeout: number;
}

/** What `serve` hands every service besides its own settings. */
export interface ServiceDeps {
  /** --host. */
  host: string;
  log: Logger;
  /** Access control, the token and TLS, for TcpService and UdpService. */
  gate: TcpGate & UdpGate;
  tcp: TcpLimits;
  /** Which engine the UDP services use (--udp-engine). */
  udpEngine: UdpEngineChoice;
  /** Where services put off start-up work (workers); serve runs it after the Listening lines. */
  afterListening?: DeferredStarts;
  /** Starts the one shutdown path; safe to call more than once. */
  requestShutdown(reason: string): void;
}

/** What `connect` hands a client mode besides its arguments. */
export interface ModeContext {
  /** Prints a warning for the user (stderr). */
  warn(line: string): void;
  /**
   * Security settings already parsed (the menu's, shared by its entries so a
   * token typed once serves them all). Absent: the mode parses its own flags.
   */
  security?: ClientSecurity;
  /** Set when the mode runs as an entry of the menu. */
  menu?: MenuSession;
}

/** What the menu offers the entry it runs. */
export interface MenuSession {
  /**
   * Aborted by Ctrl-C: the entry stops and the menu comes back. The entry's
   * connections (made with the security settings it was handed) are closed.
   */
  signal: AbortSignal;
  /**
   * The next line typed, read from the same terminal reader as the menu's so
   * nothing typed is lost between them; null at end of input (Ctrl-D) or
   * once `signal` aborted.
   */
  readLine(): Promise<string | null>;
  /** Asks a yes-or-no question; true only for "y" or "yes". */
  confirm(question: string): Promise<boolean>;
  /** Tells the menu the server was stopped: it ends instead of coming back. */
  serverStopped(): void;
}
