/**
 * `socketkit serve`: composes the services' flags and settings, raises the
 * open-file limit and sizes the connection caps to it, starts the chosen
 * services in one process, reloads the security files on SIGHUP and owns the
 * one shutdown path, taken on `exit`, SIGINT or SIGTERM.
 */
import { importLazily } from "./base/lazy_import.ts";
import {
  connectionsThatFit,
  type FdLimit,
  fdNeeded,
  type FdPlan,
  raiseFdLimit,
} from "./base/fd_limit.ts";
import { loadFsLibc } from "./base/fs_libc.ts";
import { type CommandSpec, formatHelp, type ParsedFlags, parseFlags } from "./base/flags.ts";
import { RuntimeError, UsageError } from "./base/errors.ts";
import { Logger } from "./base/logger.ts";
import type { StatusSection } from "./base/status.ts";
import { CHAT_FLAGS, type ChatConfig, parseChatConfig } from "./chat/config.ts";
import { chatStatus } from "./chat/status.ts";
import { FILE_FLAGS, type FilesConfig, parseFilesConfig } from "./files/config.ts";
import { filesStatus } from "./files/status.ts";
import { INFO_FLAGS, type InfoConfig, parseInfoConfig } from "./info/config.ts";
import { infoStatus } from "./info/status.ts";
import { MESSAGE_FLAGS, type MessageConfig, parseMessageConfig } from "./message/config.ts";
import { parseWebConfig, WEB_FLAGS, type WebConfig } from "./web/config.ts";
import { messageStatus } from "./message/status.ts";
import { formatHostPort, isLoopback } from "./net/address.ts";
import { DeferredStarts, UDP_ENGINES, type UdpEngineChoice } from "./net/udp_engine.ts";
import { parseSecurityConfig, SECURITY_FLAGS, type SecurityConfig } from "./security/config.ts";
import { createGate, type Gate } from "./security/gate.ts";
import { envReadable, TOKEN_ENV } from "./security/token.ts";
import type { ChatService } from "./chat/server/service.ts";
import type { FileService } from "./files/server/service.ts";
import type { InfoService } from "./info/service.ts";
import type { MessageService } from "./message/service.ts";
import type { WebService } from "./web/service.ts";
import {
  type Endpoint,
  type Service,
  SERVICE_NAMES,
  type ServiceDeps,
  type ServiceName,
  type TcpLimits,
} from "./service.ts";

/** --max-conns when the open-file limit allows it. */
export const DEFAULT_MAX_CONNS = 1024;
/** The open-file limit assumed when it cannot be read (no --allow-ffi): Linux's usual soft limit. */
export const ASSUMED_FD_LIMIT = 1024;

export const SERVE_SPEC: CommandSpec = {
  name: "socketkit serve",
  usage: ["socketkit serve [flags]"],
  summary:
    "Run the socketkit services (TCP and UDP message, chat, info, files, web) in one process.",
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
    ...WEB_FLAGS,
    services: {
      type: "string",
      value: "LIST",
      default: SERVICE_NAMES.join(","),
      help: "Services to run, comma-separated",
    },
    "max-conns": {
      type: "string",
      value: "N",
      help:
        `Open connections per TCP service (default: ${DEFAULT_MAX_CONNS}, fewer if the open-file limit is low)`,
    },
    "idle-timeout": {
      type: "string",
      value: "TIME",
      default: "5m",
      help: "Close a message or file connection silent this long (0: never; chat has its own)",
    },
    "line-timeout": {
      type: "string",
      value: "TIME",
      default: "30s",
      help:
        "Time a message line has from its first byte to its end, however slowly it comes (0: no limit)",
    },
    "udp-engine": {
      type: "string",
      value: "ENGINE",
      default: "auto",
      help:
        "UDP services: batch (recvmmsg/sendmmsg, Linux, --allow-ffi), deno, or auto (batch where it runs)",
    },
    ...SECURITY_FLAGS,
    quiet: {
      type: "boolean",
      short: "q",
      help: "Log only start-up, errors and shutdown, not every message",
    },
    "summary-interval": {
      type: "string",
      value: "TIME",
      default: "1m",
      help: "Repeated refusals and failures: log the first, then a count at most this often",
    },
  },
  notes: `Sizes take K, M, G suffixes (powers of 1024); times take ms, s, m, h.
Stop the server with Ctrl-C, SIGTERM, or by sending 'exit' to a message service.
SIGHUP re-reads --token-file, --allow/--deny @FILE and the TLS files; open
sessions are kept.

Permissions: with --allow-ffi (deno task serve and the compiled binary have it)
serve reads and raises its open-file limit through libc and sizes --max-conns
to it, and the UDP services move datagrams in batches (--udp-engine); FFI is
given up once the services are open (docs/security.md). Without it the limit
is assumed to be 1024 and UDP goes through Deno's own sockets.

Exposing the server (docs/security.md): give clients a token through
$SOCKETKIT_TOKEN or --token-file (never on the command line), TLS with
--tls-cert/--tls-key (or --tls-self-signed: a private CA made for you, whose
ca.pem clients give to --ca), and keep strangers out with --allow/--deny.

Examples:
  socketkit serve
  socketkit serve --host 0.0.0.0 --exit-from none
  socketkit serve --tcp-port 0 --udp-port 0 --services message
  socketkit serve --services chat,info --redis redis://10.0.0.5:6379   (docs/cluster.md)
  socketkit serve --host 0.0.0.0 --tls-self-signed --tls-name 192.0.2.7
  socketkit serve --host 0.0.0.0 --token-file /etc/socketkit/token \\
    --tls-cert cert.pem --tls-key key.pem --allow 192.0.2.0/24 --max-conns-per-ip 32`,
};

/** The server's settings after flag parsing: each service's own part, and what they share. */
export interface ServeConfig {
  host: string;
  services: ServiceName[];
  quiet: boolean;
  /** Milliseconds between two log lines of one repeated kind (--summary-interval). */
  summaryInterval: number;
  /** --max-conns as given; null: sized from the open-file limit (see sizeConnections). */
  maxConns: number | null;
  /** What every TCP service starts from; maxConnections is --max-conns or DEFAULT_MAX_CONNS. */
  tcp: TcpLimits;
  /** --udp-engine. */
  udpEngine: UdpEngineChoice;
  /** --allow, --deny, the token, TLS, --auth-timeout, --max-conns-per-ip. */
  security: SecurityConfig;
  message: MessageConfig;
  chat: ChatConfig;
  info: InfoConfig;
  files: FilesConfig;
  web: WebConfig;
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
  const maxConns = flags.optional("max-conns") === undefined ? null : flags.integer("max-conns", 1);
  return {
    host: flags.string("host"),
    services,
    quiet: flags.boolean("quiet"),
    summaryInterval: Math.max(1, flags.duration("summary-interval")),
    maxConns,
    tcp: {
      maxConnections: maxConns ?? DEFAULT_MAX_CONNS,
      idleTimeout: flags.duration("idle-timeout"),
      lineTimeout: flags.duration("line-timeout"),
    },
    udpEngine: flags.choice("udp-engine", UDP_ENGINES),
    security: parseSecurityConfig(flags),
    message: parseMessageConfig(flags),
    chat: parseChatConfig(flags),
    info: parseInfoConfig(flags),
    files: parseFilesConfig(flags),
    web: parseWebConfig(flags),
  };
}

/** The running services, by name (type-only imports: a module loads only when it runs). */
interface Running {
  message?: MessageService;
  chat?: ChatService;
  info?: InfoService;
  files?: FileService;
  web?: WebService;
}

/**
 * Each service's module, loaded only when it runs, so a server of one service
 * does not load the others (literal paths, so `deno compile` includes them).
 */
const SERVICE_MODULES = {
  message: () =>
    importLazily<typeof import("./message/service.ts")>(
      new URL("./message/service.ts", import.meta.url),
    ),
  chat: () =>
    importLazily<typeof import("./chat/server/service.ts")>(
      new URL("./chat/server/service.ts", import.meta.url),
    ),
  info: () =>
    importLazily<typeof import("./info/service.ts")>(new URL("./info/service.ts", import.meta.url)),
  files: () =>
    importLazily<typeof import("./files/server/service.ts")>(
      new URL("./files/server/service.ts", import.meta.url),
    ),
  web: () =>
    importLazily<typeof import("./web/service.ts")>(new URL("./web/service.ts", import.meta.url)),
};

/**
 * Starts loading the modules of `names` at once, so their reads and compiles
 * overlap each other and the checks before the first service starts, instead
 * of each waiting for the service before it. startService awaits the same
 * loads; a failed load fails there.
 */
function preloadServiceModules(names: readonly ServiceName[]): void {
  for (const name of names) SERVICE_MODULES[name]().catch(() => {});
}

/**
 * Starts one service. The info service reads the others through closures
 * over `running`, filled in as they start.
 */
async function startService(
  name: ServiceName,
  config: ServeConfig,
  deps: ServiceDeps,
  parts: { gate: Gate; running: Running; shuttingDown: () => boolean },
): Promise<Service> {
  const { running } = parts;
  switch (name) {
    case "message":
      return running.message = await (await SERVICE_MODULES.message()).MessageService
        .start(config.message, deps);
    case "chat":
      return running.chat = await (await SERVICE_MODULES.chat()).ChatService
        .start(config.chat, deps);
    case "info":
      return running.info = await (await SERVICE_MODULES.info()).InfoService
        .start(config.info, deps, {
          endpoints: () => SERVICE_NAMES.flatMap((name) => running[name]?.endpoints ?? []),
          sections: () => statusSections(running, parts.gate),
          members: () => running.chat?.roster() ?? [],
          cluster: () => running.chat?.cluster() ?? null,
        });
    case "files":
      return running.files = await (await SERVICE_MODULES.files()).FileService
        .start(config.files, deps);
    case "web":
      return running.web = await (await SERVICE_MODULES.web()).WebService
        .start(config.web, deps, {
          checkToken: (presented, host, label) => parts.gate.checkToken(presented, host, label),
          chat: running.chat ?? null,
          chatConfig: config.chat,
          files: running.files ?? null,
          filesConfig: config.files,
          endpoints: () =>
            SERVICE_NAMES.flatMap((name) =>
              (running[name]?.endpoints ?? []).map((endpoint) => ({ service: name, endpoint }))
            ),
          sections: () => statusSections(running, parts.gate),
          cluster: () => running.chat?.cluster() ?? null,
          redisRequired: config.chat.cluster !== null && !config.chat.cluster.optional,
          shuttingDown: parts.shuttingDown,
        });
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
  /** Re-reads the security files (SIGHUP) and logs what changed. */
  reload(): void;
  /** Resolves once every service has stopped. */
  finished: Promise<void>;
}

/**
 * Starts every configured service. If one cannot bind, those already started
 * are stopped again and the error is thrown, so nothing is left listening.
 * Start-up warnings go to `warn` (default: stderr).
 */
export async function startServer(
  config: ServeConfig,
  log: Logger,
  fdLimit: FdLimit = raiseFdLimit(),
  warn: (line: string) => void = (line) => console.error(line),
): Promise<Server> {
  preloadServiceModules(config.services);
  if (config.udpEngine === "batch" && usesUdp(config)) {
    const { batchEngineProblem } = await importLazily<typeof import("./net/udp_batch_engine.ts")>(
      new URL("./net/udp_batch_engine.ts", import.meta.url),
    );
    const problem = batchEngineProblem();
    if (problem !== null) throw new RuntimeError(`--udp-engine batch cannot run here: ${problem}`);
  }
  // --tls-self-signed makes or finds its files first. Then the gate reads the token and TLS
  // files: a mistake there stops start-up before any port is bound.
  const selfSigned = config.security.selfSigned &&
    (await importLazily<typeof import("./security/self_signed.ts")>(
      new URL("./security/self_signed.ts", import.meta.url),
    ));
  const tlsNotes = selfSigned ? await selfSigned.applySelfSigned(config.security, config.host) : [];
  const { gate, notes, warnings } = await createGate(config.security, log);
  notes.push(...tlsNotes);
  const sized = sizeConnections(config, fdLimit);
  for (
    const warning of [
      ...warnings,
      ...exposureWarnings(config, gate.tokenRequired),
      ...sized.warnings,
    ]
  ) {
    warn(`warning: ${warning}`);
  }
  notes.unshift(...sized.notes);
  const afterListening = new DeferredStarts();
  let firstStop!: (reason: string) => void;
  const stopRequested = new Promise<string>((resolve) => (firstStop = resolve));
  // A second request (a second Ctrl-C or SIGTERM) skips what is left of --drain.
  let stopNow!: () => void;
  const stoppingNow = new Promise<void>((resolve) => (stopNow = resolve));
  let stopAsked = false;
  const requestStop = (reason: string) => {
    if (stopAsked) return stopNow();
    stopAsked = true;
    firstStop(reason);
  };
  const deps: ServiceDeps = {
    host: config.host,
    log,
    gate,
    tcp: { ...config.tcp, maxConnections: sized.maxConnections },
    udpEngine: config.udpEngine,
    afterListening,
    requestShutdown: (reason) => requestStop(reason),
  };

  const running: Running = {};
  const services: Service[] = [];
  let shuttingDown = false;
  try {
    for (const name of config.services) {
      services.push(
        await startService(name, config, deps, {
          gate,
          running,
          shuttingDown: () => shuttingDown,
        }),
      );
    }
  } catch (error) {
    await Promise.allSettled(services.map((service) => service.stop()));
    throw error;
  }
  for (const note of notes) log.info(note);
  for (const endpoint of services.flatMap((service): readonly Endpoint[] => service.endpoints)) {
    log.info(`${endpoint.label} Listening on ${formatHostPort(endpoint.hostname, endpoint.port)}`);
  }
  try {
    // The workers (UDP batch engines, file listings) and the web routes, put
    // off so the lines above did not wait for them: once the lines are out
    // (the log writes them asynchronously, and a worker's start or a module's
    // compile holds the event loop). FFI is given up once they are ready.
    await log.written();
    await afterListening.run();
  } catch (error) {
    await Promise.allSettled(services.map((service) => service.stop()));
    throw error;
  }

  const finished = stopRequested.then(async (reason) => {
    log.info(`[Server] Shutting down (${reason})`);
    shuttingDown = true;
    const drain = config.web.drain;
    if (drain > 0 && running.web) {
      log.info(
        `[Server] Draining for ${
          drain / 1000
        } s (--drain): /readyz answers 503, everything else is served`,
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        stoppingNow,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, drain))),
      ]);
      clearTimeout(timer);
    }
    // The web service stops last: until then its /readyz tells balancers to
    // send nothing more while the other services close.
    const web = running.web;
    await Promise.allSettled(services.filter((s) => s !== web).map((service) => service.stop()));
    await web?.stop();
    log.info("[Server] All services stopped.");
    await log.flush();
  });
  // One reload at a time: a second SIGHUP waits for the first.
  let reloading = Promise.resolve();
  const reload = () => {
    reloading = reloading.then(async () => {
      for (const line of await gate.reload(config.security)) log.info(line);
    });
  };
  return { services, shutdown: requestStop, reload, finished };
}

/** Whether a UDP service (message or info) runs. */
function usesUdp(config: ServeConfig): boolean {
  return config.services.includes("message") || config.services.includes("info");
}

/** What {@link sizeConnections} decided, and what to tell the operator. */
export interface SizedConnections {
  maxConnections: number;
  /** Lines for the log. */
  notes: string[];
  /** Configured caps that cannot fit (printed as warnings). */
  warnings: string[];
}

/**
 * Sizes --max-conns from the open-file limit when it was not given: as many
 * connections per TCP service as fit after a reserve for the process and for
 * each service (docs/limits.md), at most DEFAULT_MAX_CONNS. A --max-conns that
 * was given is kept, with a warning when it cannot fit, since running out of
 * descriptors fails every service at once, not only the one that took them.
 */
export function sizeConnections(config: ServeConfig, fd: FdLimit): SizedConnections {
  // Not the web service: Deno.serve hands it requests, so --max-conns cannot cap its connections.
  const tcpNames: ServiceName[] = ["message", "chat", "files"];
  const plan: FdPlan = {
    services: config.services.length,
    tcpServices: config.services.filter((name) => tcpNames.includes(name)).length,
    perConnection: config.security.tls === null ? 1 : 2,
    extra: config.services.includes("files") ? 2 * config.files.maxTransfers : 0,
  };
  const notes: string[] = [];
  const warnings: string[] = [];
  const limit = fd.known ? fd.soft : ASSUMED_FD_LIMIT;
  if (!fd.known) {
    notes.push(
      `[Server] Open-file limit not known (${fd.why}): caps assume ${ASSUMED_FD_LIMIT}`,
    );
  } else if (fd.soft > fd.before) {
    notes.push(`[Server] Open-file limit raised from ${fd.before} to ${fd.soft}`);
  } else if (fd.problem !== undefined) {
    notes.push(`[Server] Open-file limit ${fd.soft} (raising it to ${fd.hard}: ${fd.problem})`);
  }
  const fit = connectionsThatFit(plan, limit);
  if (plan.tcpServices === 0) return { maxConnections: config.tcp.maxConnections, notes, warnings };
  if (config.maxConns === null) {
    const maxConnections = Math.max(1, Math.min(DEFAULT_MAX_CONNS, fit));
    if (maxConnections < DEFAULT_MAX_CONNS) {
      notes.push(
        `[Server] --max-conns ${maxConnections} per TCP service: what an open-file limit of ${limit} allows`,
      );
    }
    if (fit < 1) warnings.push(tooLow(plan, limit, 1));
    return { maxConnections, notes, warnings };
  }
  if (fd.known && config.maxConns > fit) warnings.push(tooLow(plan, limit, config.maxConns));
  return { maxConnections: config.maxConns, notes, warnings };
}

function tooLow(plan: FdPlan, limit: number, maxConns: number): string {
  const services = plan.tcpServices === 1 ? "1 TCP service" : `${plan.tcpServices} TCP services`;
  return `--max-conns ${maxConns} for ${services} needs up to ${
    fdNeeded(plan, maxConns)
  } open files, but the limit is ${limit}: when it is reached every service fails to accept; lower --max-conns or raise the limit (ulimit -n)`;
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
  if (!hasToken && security.allow.length === 0 && security.allowFile === null) {
    warnings.push(
      `listening on ${config.host} with neither --allow nor a token: anyone who can reach this host can use every service (see docs/security.md)`,
    );
  }
  if (security.tls !== null && security.maxConnsPerIp === 0) {
    warnings.push(
      "with TLS, keep a --max-conns-per-ip (not 0): a client that stalls in its TLS handshake keeps its connection until it sends or closes (Deno cannot abort an unfinished handshake)",
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
  // The server's only FFI: the open-file limit, read and raised once the
  // flags are read (--help and a mistake need no libc), and the UDP batch
  // engines (--udp-engine), which need it only to open.
  // Then the permission is given up, so the server runs in Deno's sandbox
  // from there on (FFI lifts it for the whole process): at once when no
  // engine will need it, else as soon as the services are open.
  const flags = parseFlags(SERVE_SPEC, args);
  if (flags.help) {
    console.log(formatHelp(SERVE_SPEC));
    return 0;
  }
  const config = parseServeConfig(flags);
  const fdLimit = raiseFdLimit();
  // The file store's group syncs (syncfs, renameat2, its digest attributes)
  // are bound while FFI is still allowed; its listing worker binds them too,
  // once it starts after the Listening lines.
  const store = config.services.includes("files") || config.services.includes("web");
  if (store) loadFsLibc();
  if ((config.udpEngine === "deno" || !usesUdp(config)) && !config.services.includes("files")) {
    giveUpFfi();
  }
  const log = new Logger({ quiet: config.quiet, summaryInterval: config.summaryInterval });
  let server: Server;
  try {
    server = await startServer(config, log, fdLimit);
  } finally {
    giveUpFfi();
  }
  const listeners: [Deno.Signal, () => void][] = [
    ["SIGINT", () => server.shutdown("SIGINT")],
    ["SIGTERM", () => server.shutdown("SIGTERM")],
  ];
  if (Deno.build.os !== "windows") listeners.push(["SIGHUP", () => server.reload()]);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  try {
    await server.finished;
  } finally {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  }
  return 0;
}

/** Revokes --allow-ffi for the rest of the process (a no-op when it was not granted). */
function giveUpFfi(): void {
  Deno.permissions.revokeSync({ name: "ffi" });
}
