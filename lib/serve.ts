/**
 * `socketkit serve`: starts the chosen services in one process and owns the
 * one shutdown path, taken on `exit`, SIGINT or SIGTERM.
 */
import { UsageError } from "./base/errors.ts";
import {
  type CommandSpec,
  formatHelp,
  parseChoice,
  parseDuration,
  parseFlags,
  parseInteger,
  parseList,
  parseNumber,
  parsePort,
  parseSize,
  stringFlag,
} from "./base/flags.ts";
import { Logger } from "./base/logger.ts";
import { CHAT_FLAGS, parseChatConfig } from "./chat/config.ts";
import { startChatService } from "./chat/service.ts";
import { startInfoService } from "./info/service.ts";
import { startFileService } from "./files/service.ts";
import { startTcpMessageService } from "./message/tcp_server.ts";
import { startUdpMessageService } from "./message/udp_server.ts";
import { formatHostPort, isLoopback } from "./net/address.ts";
import { createGuard } from "./security/gate.ts";
import { parseSecurityConfig, SECURITY_FLAGS } from "./security/config.ts";
import { envReadable, TOKEN_ENV } from "./security/token.ts";
import {
  EXIT_POLICIES,
  type RunningService,
  type ServeConfig,
  type ServerStats,
  SERVICE_NAMES,
  type ServiceContext,
  type ServiceName,
  type ServiceRegistry,
  type ServiceStarter,
} from "./service.ts";

export const SERVE_SPEC: CommandSpec = {
  name: "socketkit serve",
  usage: ["socketkit serve [flags]"],
  summary: "Run the socketkit services (TCP and UDP message, chat, info, files) in one process.",
  flags: {
    host: {
      type: "string",
      value: "ADDR",
      default: "127.0.0.1",
      help: "Address to bind; 0.0.0.0 or :: exposes the server",
    },
    "tcp-port": {
      type: "string",
      value: "PORT",
      default: "65432",
      help: "TCP message service port (0: any free port)",
    },
    "udp-port": {
      type: "string",
      value: "PORT",
      default: "65433",
      help: "UDP message service port",
    },
    "chat-port": { type: "string", value: "PORT", default: "9001", help: "Chat service port" },
    ...CHAT_FLAGS,
    "info-port": { type: "string", value: "PORT", default: "9002", help: "UDP info service port" },
    "info-rate": {
      type: "string",
      value: "N",
      default: "20",
      help: "Info replies per second per source address, bursts of twice that (0: no limit)",
    },
    "file-port": { type: "string", value: "PORT", default: "9003", help: "File service port" },
    "files-dir": {
      type: "string",
      value: "DIR",
      default: "./socketkit-files",
      help: "Directory the file service stores files in (created if missing)",
    },
    "max-file-size": {
      type: "string",
      value: "SIZE",
      default: "4GiB",
      help: "Largest file the file service accepts",
    },
    "max-transfers": {
      type: "string",
      value: "N",
      default: "16",
      help: "File uploads and downloads running at once; more are refused as busy",
    },
    "keep-partial": {
      type: "string",
      value: "TIME",
      default: "24h",
      help: "Keep an interrupted upload this long so it can resume (0: forever)",
    },
    services: {
      type: "string",
      value: "LIST",
      default: SERVICE_NAMES.join(","),
      help: "Services to run, comma-separated",
    },
    "exit-from": {
      type: "string",
      value: "WHO",
      default: "local",
      help: "Who may stop the server with 'exit': local, any or none",
    },
    "max-message": {
      type: "string",
      value: "SIZE",
      default: "64KiB",
      help: "Longest message (TCP line or UDP datagram)",
    },
    "max-conns": {
      type: "string",
      value: "N",
      default: "1024",
      help: "Open connections per TCP service",
    },
    "idle-timeout": {
      type: "string",
      value: "TIME",
      default: "5m",
      help: "Close a message or file connection silent this long (0: never; chat has its own)",
    },
    "flush-delay": {
      type: "string",
      value: "TIME",
      default: "100ms",
      help: "Pause after which bytes without a newline count as a message",
    },
    ...SECURITY_FLAGS,
    quiet: {
      type: "boolean",
      short: "q",
      help: "Log only start-up, errors and shutdown, not every message",
    },
  },
  notes: `Sizes take K, M, G suffixes (powers of 1024); times take ms, s, m, h.
Stop the server with Ctrl-C, SIGTERM, or by sending 'exit' to a message service.

Exposing the server (the README's Security section): give clients a token through
$SOCKETKIT_TOKEN or --token-file (never on the command line), TLS with
--tls-cert/--tls-key, and keep strangers out with --allow/--deny.

Examples:
  socketkit serve
  socketkit serve --host 0.0.0.0 --exit-from none
  socketkit serve --tcp-port 0 --udp-port 0 --services message
  socketkit serve --host 0.0.0.0 --token-file /etc/socketkit/token \\
    --tls-cert cert.pem --tls-key key.pem --allow 192.0.2.0/24 --max-conns-per-ip 32`,
};

/** Each service in the order it starts; a name maps to one or more starters. */
const STARTERS: Record<ServiceName, ServiceStarter[]> = {
  message: [startTcpMessageService, startUdpMessageService],
  chat: [startChatService],
  info: [startInfoService],
  files: [startFileService],
};

/** Builds the server's settings from the command line; throws UsageError on bad values. */
export function parseServeConfig(
  values: Record<string, string | boolean | undefined>,
): ServeConfig {
  const get = (name: string) => stringFlag({ values, positionals: [] }, name);
  return {
    host: get("host"),
    tcpPort: parsePort("tcp-port", get("tcp-port")),
    udpPort: parsePort("udp-port", get("udp-port")),
    chatPort: parsePort("chat-port", get("chat-port")),
    infoPort: parsePort("info-port", get("info-port")),
    filePort: parsePort("file-port", get("file-port")),
    filesDir: get("files-dir"),
    maxFileSize: parseSize("max-file-size", get("max-file-size"), 0),
    maxTransfers: parseInteger("max-transfers", get("max-transfers"), 1),
    keepPartial: parseDuration("keep-partial", get("keep-partial")),
    services: parseList("services", get("services"), SERVICE_NAMES),
    exitFrom: parseChoice("exit-from", get("exit-from"), EXIT_POLICIES),
    maxMessage: parseSize("max-message", get("max-message")),
    maxConnections: parseInteger("max-conns", get("max-conns"), 1),
    idleTimeout: parseDuration("idle-timeout", get("idle-timeout")),
    flushDelay: Math.max(1, parseDuration("flush-delay", get("flush-delay"))),
    infoRate: parseNumber("info-rate", get("info-rate")),
    quiet: values.quiet === true,
    chat: parseChatConfig(values),
    security: parseSecurityConfig(values),
  };
}

/** A running server: its services and the promise that settles after shutdown. */
export interface Server {
  services: RunningService[];
  stats: ServerStats;
  /** Starts the shutdown path (idempotent). */
  shutdown(reason: string): void;
  /** Resolves once every service has stopped. */
  finished: Promise<void>;
}

/**
 * Starts every configured service. If one cannot bind, those already started
 * are stopped again and the error is thrown, so nothing is left listening.
 */
export async function startServer(config: ServeConfig, log: Logger): Promise<Server> {
  const stats: ServerStats = {
    tcpMessages: 0,
    udpMessages: 0,
    chatMessages: 0,
    filesStored: 0,
    bytesUploaded: 0,
    bytesDownloaded: 0,
    infoDropped: 0,
    refusedConnections: 0,
    refusedDatagrams: 0,
    authFailures: 0,
    tlsFailures: 0,
  };
  // Reads the token and TLS files: a mistake there stops start-up before any port is bound.
  const { guard, notes, warnings } = createGuard(config.security, stats, log);
  for (const warning of [...warnings, ...exposureWarnings(config, guard.tokenRequired)]) {
    console.error(`warning: ${warning}`);
  }
  const registry: ServiceRegistry = { services: [], chatMembers: () => [] };
  let requestStop!: (reason: string) => void;
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  const context: ServiceContext = {
    config,
    log,
    stats,
    registry,
    guard,
    requestShutdown: (reason) => requestStop(reason),
  };

  const services: RunningService[] = [];
  try {
    for (const name of config.services) {
      for (const start of STARTERS[name]) services.push(await start(context));
    }
  } catch (error) {
    await Promise.allSettled(services.map((service) => service.stop()));
    throw error;
  }
  if (services.length === 0) {
    throw new UsageError(
      `None of the services "${config.services.join(",")}" is available in this version`,
      SERVE_SPEC.name,
    );
  }
  registry.services = services;
  for (const note of notes) log.info(note);
  for (const service of services) {
    log.info(`${service.label} Listening on ${formatHostPort(service.hostname, service.port)}`);
  }

  const finished = stopRequested.then(async (reason) => {
    log.info(`[Server] Shutting down (${reason})`);
    await Promise.allSettled(services.map((service) => service.stop()));
    log.info("[Server] All services stopped.");
    await log.flush();
  });
  return { services, stats, shutdown: requestStop, finished };
}

/**
 * What an operator exposing the server should hear: listening beyond this
 * machine with nobody kept out, a token in clear, a token that was not read.
 */
export function exposureWarnings(config: ServeConfig, hasToken: boolean): string[] {
  const host = config.host.toLowerCase();
  if (isLoopback(host) || host === "localhost") return [];
  const warnings: string[] = [];
  const { security } = config;
  if (!hasToken && security.tokenFile === null && !envReadable()) {
    warnings.push(
      `${TOKEN_ENV} was not read: that needs --allow-env=${TOKEN_ENV} (deno task serve and the compiled binary have it), or use --token-file`,
    );
  }
  if (!hasToken && security.allow.length === 0) {
    warnings.push(
      `listening on ${config.host} with neither --allow nor a token: anyone who can reach this host can use every service (see the README's Security section)`,
    );
  }
  if (security.tls !== null && security.maxConnsPerIp === 0) {
    warnings.push(
      "with TLS, also set --max-conns-per-ip: a client that stalls in its TLS handshake keeps its connection until it sends or closes (Deno cannot abort an unfinished handshake)",
    );
  }
  if (hasToken && security.tls === null) {
    warnings.push(
      "without --tls-cert/--tls-key the token and all traffic cross the network in clear",
    );
  }
  return warnings;
}

/** Runs `socketkit serve` with its arguments; resolves to the exit code. */
export async function serve(args: string[]): Promise<number> {
  const parsed = parseFlags(SERVE_SPEC, args);
  if (parsed.values.help) {
    console.log(formatHelp(SERVE_SPEC));
    return 0;
  }
  const config = parseServeConfig(parsed.values);
  const log = new Logger({ quiet: config.quiet });
  const server = await startServer(config, log);
  const onSignal = (signal: Deno.Signal) => () => server.shutdown(signal);
  const listeners = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const listener = onSignal(signal);
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  try {
    await server.finished;
  } finally {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  }
  return 0;
}
