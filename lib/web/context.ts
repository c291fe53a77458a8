/**
 * What the web service's routes are handed: the running services they read
 * and drive (narrowed to what the web needs), the settings, the logger, and
 * the request's own facts (who sent it, over TLS or not).
 */
import type { Logger } from "../base/logger.ts";
import type { ChatConfig } from "../chat/config.ts";
import type { ChatService } from "../chat/server/service.ts";
import type { FileServiceState } from "../files/server/connection.ts";
import type { TokenVerdict } from "../security/gate.ts";
import type { WebConfig } from "./config.ts";
import type { WebCounters } from "./metrics_counters.ts";
import type { Sessions } from "./sessions.ts";
import type { SmallFiles } from "./small_files.ts";

/**
 * The file store, its transfer slots and byte counters: the TCP file
 * service's own when it runs (so limits and counts are shared), else opened
 * by the web service on --files-dir.
 */
export type WebFiles = FileServiceState;

/** What the web service holds for the life of the server; every request shares it. */
export interface WebShared {
  config: WebConfig;
  log: Logger;
  /** The chat, when it runs; its settings always (the page shows the limits). */
  chat: ChatService | null;
  chatConfig: ChatConfig;
  /** The file store: the file service's when it runs, else the web's own on --files-dir. */
  files: WebFiles;
  /** STATUS as the info service answers it in JSON (`{"command":"STATUS",...}`). */
  status(): Record<string, unknown>;
  /** The web service's own counters (requests, bytes, refusals), for /metrics. */
  counters: WebCounters;
  /** Clients must present the server's token. */
  tokenRequired: boolean;
  /** Checks a presented token for a peer at `host` (Gate.checkToken). */
  checkToken(presented: string | null, host: string): TokenVerdict;
  /** The login form's sessions. */
  sessions: Sessions;
  /** Small stored files kept in memory for downloads. */
  smallFiles: SmallFiles;
  /** Why the server should get no traffic now (for /readyz), or null when it is ready. */
  notReady(): string | null;
  /** /metrics: the Prometheus text exposition. */
  metrics(): string;
  /** Aborted when the web service stops: long-lived responses (WebSockets) end. */
  closing: AbortSignal;
  /**
   * Counts a long-lived connection (an upgraded WebSocket, whose request is
   * done once the 101 is sent) against --max-conns until the returned
   * function is called (once; more calls do nothing).
   */
  hold(): () => void;
}

/** What one request's handler is handed. */
export interface WebContext extends WebShared {
  /** The peer, as the socket reports it. */
  remote: Deno.NetAddr;
  /** The request came over TLS (cookies get Secure). */
  secure: boolean;
  /** The request carried the token (or none is required). */
  authenticated: boolean;
  /**
   * Settles once the response has been sent in full (rejects when it could
   * not be, e.g. the client went away): when a download's slot is freed.
   */
  completed: Promise<void>;
}
