/**
 * The page as HTTP sees it: GET / and its two assets with their content
 * types, the strict CSP (no inline script or style in the HTML), ETags and
 * 304s, HEAD; and its script never puts network text into the page as HTML.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { PAGE_HTML } from "../lib/web/page_html.ts";
import { PAGE_JS } from "../lib/web/page_js.ts";
import { http, startWeb, webBase } from "./_web.ts";

Deno.test("web page: /, /app.js and /app.css with their types, the CSP, an ETag and 304", async () => {
  await using server = await startWeb([], "web");
  const base = webBase(server);
  const types: [string, RegExp][] = [
    ["/", /^text\/html; charset=utf-8$/],
    ["/app.js", /^text\/javascript; charset=utf-8$/],
    ["/app.css", /^text\/css; charset=utf-8$/],
  ];
  for (const [path, type] of types) {
    const page = await http(base + path);
    equal(page.status, 200, path);
    match(page.headers.get("content-type")!, type);
    match(page.headers.get("content-security-policy")!, /script-src 'self'/);
    equal(page.headers.get("x-content-type-options"), "nosniff");
    equal(page.headers.get("cache-control"), "no-cache");
    const etag = page.headers.get("etag")!;
    match(etag, /^"[0-9a-f]+"$/);
    equal(Number(page.headers.get("content-length")), page.body.length);
    const again = await http(base + path, { headers: { "if-none-match": etag } });
    equal(again.status, 304, path);
    equal(again.body.length, 0);
    const head = await http(base + path, { method: "HEAD" });
    deepStrictEqual([head.status, head.body.length, head.headers.get("etag")], [200, 0, etag]);
  }
  equal((await http(base + "/app.js", { method: "POST" })).status, 405);
  equal((await http(base + "/nothing.js")).status, 404);
});

Deno.test("web page: the HTML has no inline script, handler or style; the script inserts text only", () => {
  for (const tag of PAGE_HTML.match(/<script\b[^>]*>/g) ?? []) match(tag, /\bsrc="\/app\.js"/);
  ok(!/<script\b[^>]*>[^<]/.test(PAGE_HTML), "no inline script body");
  ok(!/\son[a-z]+=/i.test(PAGE_HTML), "no inline event handler");
  ok(!/\sstyle=/i.test(PAGE_HTML), "no inline style");
  ok(!/<style\b/i.test(PAGE_HTML), "no style element");
  // Text from the network goes in with textContent; these would parse it as HTML.
  for (const sink of ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("]) {
    ok(!PAGE_JS.includes(sink), `app.js uses ${sink}`);
  }
  ok(!/\.style\./.test(PAGE_JS), "state is shown with classes, never inline styles");
});
