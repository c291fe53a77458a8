/**
 * The page: `GET /` and its assets. A minimal placeholder; the page itself
 * (chat, files and status views, embedded assets) replaces this file.
 */
import { htmlResponse } from "./headers.ts";

/** The page or one of its assets for `request`, or null when the path is not the page's. */
export function pageResponse(request: Request): Response | null {
  const { pathname } = new URL(request.url);
  if (pathname !== "/" || (request.method !== "GET" && request.method !== "HEAD")) return null;
  return htmlResponse(
    200,
    `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>socketkit</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>socketkit</h1>
<ul><li><a href="/files/">Files</a></li><li><a href="/status">Status</a></li></ul>
</body></html>
`,
  );
}
