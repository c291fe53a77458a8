/**
 * `socketkit serve`: composes the services' flags and settings, starts the
 * chosen services in one process and owns the one shutdown path, taken on
 * `exit`, SIGINT or SIGTERM.
 */
import { type CommandSpec, formatHelp, type ParsedFlags, parseFlags } from "./base/flags.ts";
import { UsageError } from "./base/errors.ts";
import { Logger } from "./base/logger.ts";
import type { StatusSection } from "./base/status.ts";
import { CHAT_FLAGS, type ChatConfig, parseChatConfig } from "./chat/config.ts";
import { chatStatus } from "./chat/status.ts";
import { FILE_FLAGS, type FilesConfig, parseFilesConfig } from "./files/config.ts";
import { filesStatus } from "./files/status.ts";
import { INFO_FLAGS, type InfoConfig, parseInfoConfig } from "./info/config.ts";
import { infoStatus } from "./info/status.ts";
import { MESSAGE_FLAGS, type MessageConfig, parseMessageConfig } from "./message/config.ts";
import { messageStatus } from "./message/status.ts";
import { formatHostPort, isLoopback } from "./net/address.ts";
import { parseSecurityConfig, SECURITY_FLAGS, type SecurityConfig } from "./security/config.ts";
import { createGate, type Gate } from "./security/gate.ts";
import { envReadable, TOKEN_ENV } from "./security/token.ts";
import type { ChatService } from "./chat/service.ts";
import type { FileService } from "./files/service.ts";
import type { InfoService } from "./info/service.ts";
import type { MessageService } from "./message/service.ts";
import {
  type Endpoint,
  type Service,
  SERVICE_NAMES,
  type ServiceDeps,
  type ServiceName,
  type TcpLimits,
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
    ...MESSAGE_FLAGS,
    ...CHAT_FLAGS,
    ...INFO_FLAGS,
    ...FILE_FLAGS,
    services: {
      type: "string",
      value: "LIST",
      default: SERVICE_NAMES.join(","),
      help: "Services to run, comma-separated",
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
    ...SECURITY_FLAGS,
    quiet: {
      type: "boolean",
      short: "q",
      help: "Log only start-up, errors and shutdown, not every message",
    },
  },
  notes: `Sizes take K, M, G suffixes (powers of 1024); times take ms, s, m, h.
Stop the server with Ctrl-C, SIGTERM, or by sending 'exit' to a message service.

Exposing the server (docs/security.md): give clients a token through
$SOCKETKIT_TOKEN or --token-file (never on the command line), TLS with
--tls-cert/--tls-key, and keep strangers out with --allow/--deny.

Examples:
  socketkit serve
  socketkit serve --host 0.0.0.0 --exit-from none
  socketkit serve --tcp-port 0 --udp-port 0 --services message
  socketkit serve --services chat,info --redis redis://10.0.0.5:6379   (docs/cluster.md)
  socketkit serve --host 0.0.0.0 --token-file /etc/socketkit/token \\
    --tls-cert cert.pem --tls-key key.pem --allow 192.0.2.0/24 --max-conns-per-ip 32`,
};

/** The server's settings after flag parsing: each service's own part, and what they share. */
export interface ServeConfig {
  host: string;
  services: ServiceName[];
  quiet: boolean;
  tcp: TcpLimits;
  /** --allow, --deny, the token, TLS, --auth-timeout, --max-conns-per-ip. */
  security: SecurityConfig;
  message: MessageConfig;
  chat: ChatConfig;
  info: InfoConfig;
  files: FilesConfig;
}

/** Builds the server's settings from the command line; throws UsageError on bad values. */
export function parseServeConfig(flags: ParsedFlags): ServeConfig {
  const services = flags.list("services", SERVICE_NAMES);
  if (flags.optional("redis") !== undefined && !services.includes("chat")) {
    throw new UsageError(
      "--redis joins a chat cluster: --services must include chat",
      flags.command,
    );
  }
  return {
    host: flags.string("host"),
    services,
    quiet: flags.boolean("quiet"),
    tcp: {
      maxConnections: flags.integer("max-conns", 1),
      idleTimeout: flags.duration("idle-timeout"),
    },
    security: parseSecurityConfig(flags),
    message: parseMessageConfig(flags),
    chat: parseChatConfig(flags),
    info: parseInfoConfig(flags),
    files: parseFilesConfig(flags),
  };
}

/** The running services, by name (type-only imports: a module loads only when it runs). */
interface Running {
  message?: MessageService;
  chat?: ChatService;
  info?: InfoService;
  files?: FileService;
}

/**
 * Starts one service, loading its module only then, so a server of one
 * service does not load the others. The info service reads the others
 * through closures over `running`, filled in as they start.
 */
async function startService(
  name: ServiceName,
  config: ServeConfig,
  deps: ServiceDeps,
  parts: { gate: Gate; running: Running },
): Promise<Service> {
  const { running } = parts;
  switch (name) {
    case "message":
      return running.message = await (await import("./message/service.ts")).MessageService
        .start(config.message, deps);
    case "chat":
      return running.chat = await (await import("./chat/service.ts")).ChatService
        .start(config.chat, deps);
    case "info":
      return running.info = await (await import("./info/service.ts")).InfoService
        .start(config.info, deps, {
          endpoints: () => SERVICE_NAMES.flatMap((name) => running[name]?.endpoints ?? []),
          sections: () => statusSections(running, parts.gate),
          members: () => running.chat?.roster() ?? [],
          cluster: () => running.chat?.cluster() ?? null,
        });
    case "files":
      return running.files = await (await import("./files/service.ts")).FileService
        .start(config.files, deps);
  }
}

/**
 * STATUS's counters in the order it shows them. A service that is not
 * running shows zeros, so a script finds every key whatever --services says.
 */
function statusSections(running: Running, gate: Gate): StatusSection[] {
  return [
    running.message?.status() ?? messageStatus(),
    running.chat?.status() ?? chatStatus(),
    running.files?.status() ?? filesStatus(),
    gate.status(),
    running.info?.status() ?? infoStatus(),
  ];
}

/** A running server: its services and the promise that settles after shutdown. */
export interface Server {
  services: Service[];
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
  // Reads the token and TLS files: a mistake there stops start-up before any port is bound.
  const { gate, notes, warnings } = createGate(config.security, log);
  for (const warning of [...warnings, ...exposureWarnings(config, gate.tokenRequired)]) {
    console.error(`warning: ${warning}`);
  }
  let requestStop!: (reason: string) => void;
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  const deps: ServiceDeps = {
    host: config.host,
    log,
    gate,
    tcp: config.tcp,
    requestShutdown: (reason) => requestStop(reason),
  };

  const running: Running = {};
  const services: Service[] = [];
  try {
    for (const name of config.services) {
      services.push(await startService(name, config, deps, { gate, running }));
    }
  } catch (error) {
    await Promise.allSettled(services.map((service) => service.stop()));
    throw error;
  }
  for (const note of notes) log.info(note);
  for (const endpoint of services.flatMap((service): readonly Endpoint[] => service.endpoints)) {
    log.info(`${endpoint.label} Listening on ${formatHostPort(endpoint.hostname, endpoint.port)}`);
  }

  const finished = stopRequested.then(async (reason) => {
    log.info(`[Server] Shutting down (${reason})`);
    await Promise.allSettled(services.map((service) => service.stop()));
    log.info("[Server] All services stopped.");
    await log.flush();
  });
  return { services, shutdown: requestStop, finished };
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
      `listening on ${config.host} with neither --allow nor a token: anyone who can reach this host can use every service (see docs/security.md)`,
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
  // One binary serves and connects; only the client uses FFI (net/udp_connected.ts),
  // so the server gives the permission up and keeps Deno's sandbox whole.
  Deno.permissions.revokeSync({ name: "ffi" });
  const flags = parseFlags(SERVE_SPEC, args);
  if (flags.help) {
    console.log(formatHelp(SERVE_SPEC));
    return 0;
  }
  const config = parseServeConfig(flags);
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
