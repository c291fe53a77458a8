/**
 * The login form, for a browser on a server with a token: GET /login shows
 * it, POST /login checks the token (under the same failure budget as the
 * AUTH line) and sets an HttpOnly, SameSite=Strict session cookie (Secure
 * with TLS); POST /logout ends the session. Scripts send
 * `Authorization: Bearer TOKEN` instead.
 */
import type { WebContext } from "./context.ts";
import { escapeHtml, htmlResponse, textResponse } from "./headers.ts";
import { cookieValue, SESSION_COOKIE, sessionCookie } from "./sessions.ts";

/** The largest login form body read. */
const MAX_FORM_BYTES = 4096;

/** The answer to a request without a valid token: the form for a browser, 401 for a script. */
export function needLogin(request: Request, _ctx: WebContext): Response {
  const url = new URL(request.url);
  if (request.method === "GET" && url.pathname === "/") return loginPage(401, null);
  return textResponse(401, "Unauthorized: send Authorization: Bearer TOKEN, or log in at /login", {
    "www-authenticate": 'Bearer realm="socketkit"',
  });
}

/** GET /login (the form) and POST /login (the token). */
export async function loginResponse(request: Request, ctx: WebContext): Promise<Response> {
  if (request.method === "GET" || request.method === "HEAD") {
    return ctx.authenticated ? redirectHome() : loginPage(200, null);
  }
  if (request.method !== "POST") {
    return textResponse(405, "Method not allowed (allowed: GET, POST)", { allow: "GET, POST" });
  }
  const form = await readForm(request);
  if (form === null) return loginPage(413, "The form is too large");
  const verdict = ctx.checkToken(form.get("token"), ctx.remote.hostname);
  switch (verdict) {
    case "ok": {
      if (!ctx.tokenRequired) return redirectHome();
      const headers = new Headers({ location: "/" });
      headers.append("set-cookie", sessionCookie(ctx.sessions.create(), ctx.secure));
      return new Response(null, { status: 303, headers });
    }
    case "missing":
      return loginPage(401, "Enter the token");
    case "failed":
      return loginPage(401, "Wrong token");
    case "cooling":
      return loginPage(429, "Too many failed attempts from your address; wait and try again");
  }
}

/** POST /logout: ends the session and clears the cookie. */
export function logoutResponse(request: Request, ctx: WebContext): Response {
  if (request.method !== "POST") {
    return textResponse(405, "Method not allowed (allowed: POST)", { allow: "POST" });
  }
  const id = cookieValue(request.headers.get("cookie"), SESSION_COOKIE);
  if (id !== null) ctx.sessions.end(id);
  const headers = new Headers({ location: "/login" });
  headers.append("set-cookie", sessionCookie("", ctx.secure));
  return new Response(null, { status: 303, headers });
}

function redirectHome(): Response {
  return new Response(null, { status: 303, headers: { location: "/" } });
}

/** The form body, or null when it is over MAX_FORM_BYTES. */
async function readForm(request: Request): Promise<URLSearchParams | null> {
  if (request.body === null) return new URLSearchParams();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return null;
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return new URLSearchParams(new TextDecoder().decode(bytes));
}

/** The login page: a form and no script. */
function loginPage(status: number, problem: string | null): Response {
  const message = problem === null ? "" : `<p role="alert">${escapeHtml(problem)}</p>\n`;
  return htmlResponse(
    status,
    `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>socketkit: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>socketkit</h1>
${message}<form method="post" action="/login">
<label>Token <input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">Log in</button>
</form></body></html>
`,
    { "cache-control": "no-store" },
  );
}
