/**
 * The headers every web response carries, and the small responses the
 * router sends itself. The Content-Security-Policy allows no inline script
 * or style and nothing from another origin: the page's own files only.
 */

/** The policy on every response (HTML or not: a file shown in a tab is covered too). */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join("; ");

/** The security headers every response carries, as name-value pairs. */
export const SECURITY_HEADERS: readonly [string, string][] = [
  ["content-security-policy", CONTENT_SECURITY_POLICY],
  ["x-content-type-options", "nosniff"],
  ["referrer-policy", "no-referrer"],
  ["x-frame-options", "DENY"],
];

/** Adds the security headers to `headers` (in place) and returns it. */
export function withSecurityHeaders(headers: Headers): Headers {
  for (const [name, value] of SECURITY_HEADERS) headers.set(name, value);
  return headers;
}

/** A plain-text response: `text` and a newline, with the security headers. */
export function textResponse(
  status: number,
  text: string,
  extra: Record<string, string> = {},
): Response {
  const headers = withSecurityHeaders(new Headers(extra));
  if (!headers.has("content-type")) headers.set("content-type", "text/plain; charset=utf-8");
  return new Response(text + "\n", { status, headers });
}

/** A JSON response with the security headers. */
export function jsonResponse(
  status: number,
  value: unknown,
  extra: Record<string, string> = {},
): Response {
  const headers = withSecurityHeaders(new Headers(extra));
  headers.set("content-type", "application/json; charset=utf-8");
  headers.set("cache-control", "no-store");
  return new Response(JSON.stringify(value) + "\n", { status, headers });
}

/** An HTML response (a complete document) with the security headers. */
export function htmlResponse(
  status: number,
  html: string,
  extra: Record<string, string> = {},
): Response {
  const headers = withSecurityHeaders(new Headers(extra));
  headers.set("content-type", "text/html; charset=utf-8");
  return new Response(html, { status, headers });
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!);
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};
