/**
 * The web service (--web-port): HTTP and WebSocket on Deno.serve, for
 * browsers, curl and probes. The gate's rules apply to every request (Deno
 * hands the server requests, not connections): --allow/--deny before
 * anything is read, the token, TLS with the server's certificate (taken
 * again on SIGHUP), and --max-conns as the number of requests being answered
 * at once. What each route does is router.ts and the files it names.
 */
import { importLazily } from "../base/lazy_import.ts";
import type { StatusSection } from "../base/status.ts";
import { VERSION } from "../base/version.ts";
import type { ChatConfig } from "../chat/config.ts";
import type { ChatService } from "../chat/server/service.ts";
import type { FilesConfig } from "../files/config.ts";
import { type FileService, openFileServiceState } from "../files/server/service.ts";
import { type ClusterStatusView, statusReply } from "../info/protocol.ts";
import { listenError, type TlsKeyPair } from "../net/listen.ts";
import type { TokenVerdict } from "../security/gate.ts";
import type { Endpoint, Service, ServiceDeps } from "../service.ts";
import type { WebConfig } from "./config.ts";
import type { WebContext, WebFiles, WebShared } from "./context.ts";
import { textResponse } from "./headers.ts";
import { type MetricsSources, prometheusText } from "./metrics.ts";
import { newWebCounters } from "./metrics_counters.ts";
import { WEB_LABEL } from "./label.ts";
import { cookieValue, SESSION_COOKIE, Sessions } from "./sessions.ts";
import { SmallFiles } from "./small_files.ts";

export { WEB_LABEL };

/** What the web service reads of the rest of the server. */
export interface WebSources {
  /** Gate.checkToken, for Bearer headers and the login form. */
  checkToken(presented: string | null, host: string, label: string): TokenVerdict;
  /** The chat, when it runs, and its settings. */
  chat: ChatService | null;
  chatConfig: ChatConfig;
  /** The TCP file service, when it runs: the web shares its store and slots. */
  files: FileService | null;
  filesConfig: FilesConfig;
  /** Every running service's listening sockets, with the service's name. */
  endpoints(): { service: string; endpoint: Endpoint }[];
  /** STATUS's counters, as the info service shows them. */
  sections(): StatusSection[];
  /** The chat cluster (with --redis), as STATUS shows it. */
  cluster(): ClusterStatusView | null;
  /** --redis is set without --redis-optional: not ready while Redis is away. */
  redisRequired: boolean;
  /** The server is shutting down. */
  shuttingDown(): boolean;
}

/** The web service of one server. */
export class WebService implements Service {
  readonly endpoints: readonly Endpoint[];
  #servers: Deno.HttpServer<Deno.NetAddr>[] = [];
  #shared: WebShared;
  #closing = new AbortController();
  #deps: ServiceDeps;
  #handler: Deno.ServeHandler<Deno.NetAddr>;
  #stopping: Promise<void> | null = null;

  private constructor(config: WebConfig, deps: ServiceDeps, shared: WebShared) {
    this.#deps = deps;
    this.#shared = shared;
    this.#handler = (request, info) => this.#handle(request, info);
    const tls = deps.gate.tls;
    const server = this.#listen(config.port, tls, false);
    this.#servers.push(server);
    const counters = shared.counters;
    this.endpoints = [{
      label: WEB_LABEL,
      transport: "tcp",
      hostname: server.addr.hostname,
      port: server.addr.port,
      connections: () => counters.inFlight,
    }];
    if (tls !== null) deps.gate.onTlsChange?.((pair) => this.#rebind(pair));
  }

  /**
   * Binds --web-port (with TLS when the server has a certificate). Without
   * the file service, opens the file store on --files-dir itself. Throws
   * RuntimeError when the port cannot be bound or the store not opened.
   */
  static async start(
    config: WebConfig,
    deps: ServiceDeps,
    sources: WebSources,
  ): Promise<WebService> {
    deps.afterListening?.defer(async () => void await loadRouter());
    const files: WebFiles = sources.files?.shared() ??
      await openFileServiceState(sources.filesConfig, deps.log, deps.gate.tokenRequired);
    const startedAt = performance.now();
    const counters = newWebCounters();
    const closing = new AbortController();
    const status = () =>
      JSON.parse(statusReply({
        version: VERSION,
        uptimeMs: performance.now() - startedAt,
        services: sources.endpoints().map(({ endpoint }) => ({
          label: endpoint.label,
          transport: endpoint.transport,
          hostname: endpoint.hostname,
          port: endpoint.port,
          ...(endpoint.connections ? { connections: endpoint.connections() } : {}),
          ...(endpoint.engine ? { engine: endpoint.engine } : {}),
        })),
        sections: sources.sections(),
        cluster: sources.cluster(),
      }, true));
    const metricsSources: MetricsSources = {
      version: VERSION,
      startedAt: Date.now(),
      endpoints: sources.endpoints,
      sections: sources.sections,
      cluster: sources.cluster,
      redisConfigured: sources.chatConfig.cluster !== null,
      web: counters,
      filesStored: () => files.store.count,
    };
    const shared: WebShared = {
      config,
      log: deps.log,
      chat: sources.chat,
      chatConfig: sources.chatConfig,
      files,
      status,
      counters,
      tokenRequired: deps.gate.tokenRequired,
      checkToken: (presented, host) => sources.checkToken(presented, host, WEB_LABEL),
      sessions: new Sessions(),
      smallFiles: new SmallFiles(),
      notReady: () => notReady(sources),
      metrics: () => prometheusText(metricsSources),
      closing: closing.signal,
      hold: () => {
        counters.inFlight++;
        let held = true;
        return () => {
          if (held) counters.inFlight--;
          held = false;
        };
      },
    };
    const service = new WebService(config, deps, shared);
    service.#closing = closing;
    return service;
  }

  status(): StatusSection {
    const c = this.#shared.counters;
    return {
      key: "web",
      text: `web: ${c.requests} requests, ${c.bytesIn} bytes in, ${c.bytesOut} bytes out`,
      json: { requests: c.requests, bytesIn: c.bytesIn, bytesOut: c.bytesOut },
    };
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#closing.abort();
      await Promise.allSettled(this.#servers.map((server) => server.shutdown()));
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #listen(port: number, tls: TlsKeyPair | null, takeOver: boolean): Deno.HttpServer<Deno.NetAddr> {
    const hostname = this.#deps.host;
    const reusePort = tls !== null;
    try {
      // As listenTcp does: with SO_REUSEPORT, first make sure the port is free.
      if (reusePort && port !== 0 && !takeOver) {
        Deno.listen({ transport: "tcp", hostname, port }).close();
      }
      const options = {
        hostname,
        port,
        reusePort,
        onListen: () => {},
        onError: (error: unknown) => {
          this.#deps.log.error(`${WEB_LABEL} ${error instanceof Error ? error.message : error}`);
          return textResponse(500, "Internal server error");
        },
      };
      return tls === null
        ? Deno.serve(options, this.#handler)
        : Deno.serve({ ...options, cert: tls.cert, key: tls.key }, this.#handler);
    } catch (error) {
      throw listenError("web service", hostname, port, error);
    }
  }

  /** A new certificate (SIGHUP): a server with it beside the old one, then the old one closes. */
  async #rebind(tls: TlsKeyPair): Promise<void> {
    if (this.#stopping) return;
    const port = this.endpoints[0]!.port;
    const server = this.#listen(port, tls, true);
    const old = this.#servers.splice(0, this.#servers.length, server);
    await Promise.allSettled(old.map((server) => server.shutdown()));
  }

  async #handle(request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Promise<Response> {
    const shared = this.#shared;
    const { counters } = shared;
    const remote = info.remoteAddr;
    if (!this.#deps.gate.admit(remote, WEB_LABEL)) {
      counters.refusedAccess++;
      return textResponse(403, "Forbidden", { connection: "close" });
    }
    const max = this.#deps.tcp.maxConnections;
    // Probes pass a full server: a busy instance is alive, and /readyz says why it is not ready.
    if (counters.inFlight >= max && !OPERATOR_PATHS.has(pathOf(request.url))) {
      counters.refusedBusy++;
      return textResponse(503, `The server is busy (${max} requests); try again later`, {
        "retry-after": "1",
      });
    }
    counters.inFlight++;
    counters.requests++;
    const done = () => counters.inFlight--;
    const completed = info.completed;
    completed.then(done, done);
    const ctx: WebContext = {
      ...shared,
      remote,
      secure: this.#deps.gate.tls !== null,
      authenticated: !shared.tokenRequired || authenticated(request, shared, remote.hostname),
      completed,
    };
    const { route } = await loadRouter();
    return await route(request, ctx);
  }
}

let router: Promise<typeof import("./router.ts")> | null = null;

/**
 * The routes and everything behind them (files, chat, login, the page):
 * loaded after the Listening lines, or by a request that comes first, so
 * the listener is up without waiting for them.
 */
function loadRouter(): Promise<typeof import("./router.ts")> {
  return router ??= importLazily<typeof import("./router.ts")>(
    new URL("./router.ts", import.meta.url),
  );
}

/** Paths answered even when --max-conns requests are being answered. */
const OPERATOR_PATHS = new Set(["/livez", "/readyz", "/metrics"]);

/** The path of an absolute URL, without parsing all of it. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const end = url.slice(start).search(/[?#]/);
  return end < 0 ? url.slice(start) : url.slice(start, start + end);
}

/** The request carries the token: a Bearer header, or a live login cookie. */
function authenticated(request: Request, shared: WebShared, host: string): boolean {
  const header = request.headers.get("authorization");
  if (header !== null) {
    const match = header.match(/^Bearer\s+(.+)$/i);
    return match !== null && shared.checkToken(match[1]!.trim(), host) === "ok";
  }
  const session = cookieValue(request.headers.get("cookie"), SESSION_COOKIE);
  return session !== null && shared.sessions.valid(session);
}

/** Why the server is not ready, or null. */
function notReady(sources: WebSources): string | null {
  if (sources.shuttingDown()) return "shutting down";
  if (sources.redisRequired) {
    const state = sources.cluster()?.state ?? "local-only";
    if (state !== "joined") return `Redis cannot be reached (cluster ${state})`;
  }
  return null;
}
