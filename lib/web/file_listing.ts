/**
 * GET /files/FOLDER/: what a folder holds, as HTML for a browser (every
 * name escaped, links percent-encoded) or as JSON for `Accept:
 * application/json`: its files (name, size, mtime, sha256) and subfolders.
 */
import type { FileEntry } from "../files/protocol.ts";
import type { WebContext } from "./context.ts";
import { escapeHtml, htmlResponse, jsonResponse } from "./headers.ts";

/** One row of a listing. */
export interface ListingEntry {
  /** The name inside the folder (a folder's without the slash). */
  name: string;
  type: "file" | "folder";
  /** Files only. */
  size?: number;
  /** Files only: ISO 8601, UTC. */
  mtime?: string;
  /** Files only: hex SHA-256, or null when not known yet. */
  sha256?: string | null;
}

/** The rows of `folder` ("" for the top) from a listing of everything under it. */
export function folderRows(folder: string, below: FileEntry[]): ListingEntry[] {
  const prefix = folder === "" ? "" : folder + "/";
  const folders = new Set<string>();
  const files: ListingEntry[] = [];
  for (const entry of below) {
    if (!entry.name.startsWith(prefix)) continue;
    const rest = entry.name.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash >= 0) {
      folders.add(rest.slice(0, slash));
      continue;
    }
    files.push({
      name: rest,
      type: "file",
      size: entry.size,
      mtime: new Date(entry.mtimeMs).toISOString(),
      sha256: entry.sha256,
    });
  }
  const folderRows = [...folders].sort().map((name): ListingEntry => ({ name, type: "folder" }));
  return [...folderRows, ...files];
}

/** The listing of `folder` ("" for the top) as JSON or HTML, as the request prefers. */
export async function listingResponse(
  request: Request,
  folder: string,
  ctx: WebContext,
): Promise<Response> {
  const below = await ctx.files.store.list(folder === "" ? null : folder);
  const rows = folderRows(folder, below);
  if (wantsJson(request)) {
    return jsonResponse(200, { folder, entries: rows });
  }
  return htmlResponse(200, listingHtml(folder, rows), { "cache-control": "no-cache" });
}

/** Accept names application/json before text/html (or without it). */
function wantsJson(request: Request): boolean {
  const accept = request.headers.get("accept") ?? "";
  const json = accept.indexOf("application/json");
  if (json < 0) return false;
  const html = accept.indexOf("text/html");
  return html < 0 || json < html;
}

/** `/files/` followed by the percent-encoded segments of `name`. */
export function filesHref(name: string): string {
  return "/files/" + name.split("/").map(encodeURIComponent).join("/");
}

function listingHtml(folder: string, rows: ListingEntry[]): string {
  const title = folder === "" ? "/" : `/${folder}/`;
  const prefix = folder === "" ? "" : folder + "/";
  const up = folder === "" ? "" : `<li><a href="${
    escapeHtml(
      folder.includes("/") ? filesHref(folder.slice(0, folder.lastIndexOf("/"))) + "/" : "/files/",
    )
  }">../</a></li>\n`;
  const items = rows.map((row) => {
    const href = filesHref(prefix + row.name) + (row.type === "folder" ? "/" : "");
    const label = row.type === "folder" ? row.name + "/" : row.name;
    const size = row.type === "file" ? ` <span>${row.size} bytes</span>` : "";
    return `<li><a href="${escapeHtml(href)}">${escapeHtml(label)}</a>${size}</li>`;
  }).join("\n");
  const archive = filesHref(prefix === "" ? "" : folder) + (prefix === "" ? "" : "/");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>socketkit files: ${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>Files: ${escapeHtml(title)}</h1>
<p><a href="${
    escapeHtml(archive.replace(/\/\/$/, "/"))
  }?archive=tar">Download this folder as tar</a></p>
<ul>
${up}${items}
</ul></body></html>
`;
}
