/**
 * The page: `GET /` and its two assets, `/app.css` and `/app.js`. They are
 * string constants in TypeScript modules (page_html.ts, page_css.ts,
 * page_js.ts), so the program, compiled or not, carries them: no CDN, no
 * build step. Each has an ETag (a hash of its text) and `no-cache`, so a
 * browser asks again each time and gets a 304 while nothing changed: a new
 * version of socketkit is never served stale.
 */
import { withSecurityHeaders } from "./headers.ts";
import { PAGE_CSS } from "./page_css.ts";
import { PAGE_HTML } from "./page_html.ts";
import { PAGE_JS } from "./page_js.ts";

interface Asset {
  body: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
}

function asset(text: string, type: string): Asset {
  return { body: new TextEncoder().encode(text), type, etag: `"${fnv1a(text)}"` };
}

const ASSETS = new Map<string, Asset>([
  ["/", asset(PAGE_HTML, "text/html; charset=utf-8")],
  ["/index.html", asset(PAGE_HTML, "text/html; charset=utf-8")],
  ["/app.css", asset(PAGE_CSS, "text/css; charset=utf-8")],
  ["/app.js", asset(PAGE_JS, "text/javascript; charset=utf-8")],
]);

/** The page or one of its assets for `request`, or null when the path is not the page's. */
export function pageResponse(request: Request): Response | null {
  const { pathname } = new URL(request.url);
  const found = ASSETS.get(pathname);
  if (!found) return null;
  const headers = withSecurityHeaders(new Headers());
  headers.set("cache-control", "no-cache");
  headers.set("etag", found.etag);
  if (request.method !== "GET" && request.method !== "HEAD") {
    headers.set("allow", "GET, HEAD");
    headers.set("content-type", "text/plain; charset=utf-8");
    return new Response("Method not allowed (allowed: GET, HEAD)\n", { status: 405, headers });
  }
  if (etagMatches(request.headers.get("if-none-match"), found.etag)) {
    return new Response(null, { status: 304, headers });
  }
  headers.set("content-type", found.type);
  headers.set("content-length", String(found.body.length));
  return new Response(request.method === "HEAD" ? null : found.body, { status: 200, headers });
}

function etagMatches(header: string | null, etag: string): boolean {
  if (header === null) return false;
  return header.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed === etag || trimmed === "W/" + etag;
  });
}

/** FNV-1a (32-bit) of the text's UTF-16 units, in hex: enough to tell versions apart. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0") + text.length.toString(16);
}
