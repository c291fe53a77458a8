/**
 * Which handler answers a request, and the rules that come before any
 * handler: the token (a Bearer header or the login cookie), the operator
 * routes' own allow list, and cross-site requests refused where they could
 * change something. The page and the chat socket are hooks (page.ts,
 * chat_socket.ts); the file routes are files_routes.ts.
 */
import { parseIp } from "../net/ip.ts";
import { ruleMatches } from "../security/access.ts";
import { chatSocketResponse } from "./chat_socket.ts";
import type { WebContext } from "./context.ts";
import { filesResponse } from "./files_routes.ts";
import { jsonResponse, textResponse } from "./headers.ts";
import { loginResponse, logoutResponse, needLogin } from "./login.ts";
import { pageResponse } from "./page.ts";

/** Routes anyone in --metrics-allow may read without the token. */
const OPERATOR_ROUTES = new Set(["/metrics", "/livez", "/readyz"]);

/** Methods that change nothing: no Origin check. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Answers one request that passed the gate (--allow/--deny) and the in-flight cap. */
export async function route(request: Request, ctx: WebContext): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname;

  if (OPERATOR_ROUTES.has(path)) {
    if (!ctx.authenticated && !metricsAllowed(ctx)) {
      ctx.counters.refusedAuth++;
      return textResponse(403, "Forbidden: not in --metrics-allow and no token presented");
    }
    return operatorResponse(path, request, ctx);
  }

  const upgrade = request.headers.get("upgrade")?.toLowerCase() === "websocket";
  if ((!SAFE_METHODS.has(request.method) || upgrade) && crossSite(request, url)) {
    ctx.counters.refusedOrigin++;
    return textResponse(403, "Forbidden: cross-site request (Origin does not match the host)");
  }

  if (path === "/login") return await loginResponse(request, ctx);
  if (path === "/logout") return logoutResponse(request, ctx);
  if (!ctx.authenticated) {
    ctx.counters.refusedAuth++;
    return needLogin(request, ctx);
  }

  if (path === "/chat") {
    if (request.method !== "GET") return methodNotAllowed("GET");
    if (!upgrade) {
      return textResponse(426, "GET /chat upgrades to a WebSocket", { upgrade: "websocket" });
    }
    return chatSocketResponse(request, ctx);
  }
  if (path === "/files" || path.startsWith("/files/")) {
    return await filesResponse(request, url, ctx);
  }
  if (path === "/status") {
    if (request.method !== "GET" && request.method !== "HEAD") return methodNotAllowed("GET, HEAD");
    // With the members (name, room, joinedAt), which the page shows by room.
    return jsonResponse(200, { ...ctx.status(), members: ctx.chat?.roster() ?? [] });
  }
  return pageResponse(request) ?? textResponse(404, `Not found: ${path}`);
}

/** /metrics, /livez, /readyz. */
function operatorResponse(path: string, request: Request, ctx: WebContext): Response {
  if (request.method !== "GET" && request.method !== "HEAD") return methodNotAllowed("GET, HEAD");
  const noStore = { "cache-control": "no-store" };
  switch (path) {
    case "/livez":
      return textResponse(200, "ok", noStore);
    case "/readyz": {
      const reason = ctx.notReady();
      return reason === null
        ? textResponse(200, "ready", noStore)
        : textResponse(503, `not ready: ${reason}`, noStore);
    }
    default:
      return textResponse(200, ctx.metrics().trimEnd(), {
        ...noStore,
        "content-type": "text/plain; version=0.0.4; charset=utf-8",
      });
  }
}

/** The peer is in --metrics-allow. */
function metricsAllowed(ctx: WebContext): boolean {
  const address = parseIp(ctx.remote.hostname);
  return address !== null && ctx.config.metricsAllow.some((rule) => ruleMatches(rule, address));
}

/**
 * True when the request names an Origin other than the one it was sent to.
 * No Origin (curl, wget, scripts) is not cross-site: the cookie, the only
 * credential a browser sends by itself, is SameSite=Strict anyway.
 */
function crossSite(request: Request, url: URL): boolean {
  const origin = request.headers.get("origin");
  if (origin === null) return false;
  return origin !== url.origin;
}

/** 405 naming the methods the route takes. */
export function methodNotAllowed(allow: string): Response {
  return textResponse(405, `Method not allowed (allowed: ${allow})`, { allow });
}
