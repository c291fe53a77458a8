/**
 * /files: the file store over HTTP.
 *
 *   GET|HEAD /files/NAME            download (ranges, ETag = SHA-256)
 *   GET      /files/FOLDER/         listing (HTML, or JSON with Accept: application/json)
 *   GET      /files/FOLDER/?archive=tar   the folder as one tar
 *   PUT      /files/NAME[?force=1]  upload
 *   DELETE   /files/NAME            delete (--allow-delete)
 *   POST     /files/NAME?move=NEW   rename (--allow-delete)
 *
 * The store (lib/files/server) checks every name and does the work; a
 * refusal it throws becomes the status code below and its message.
 */
import { canonicalName, quoteName } from "../files/names.ts";
import type { ErrorCode } from "../files/protocol.ts";
import { FileRefusal } from "../files/server/refusals.ts";
import type { WebContext } from "./context.ts";
import { archiveResponse } from "./file_archive.ts";
import { downloadResponse } from "./file_download.ts";
import { filesHref, listingResponse } from "./file_listing.ts";
import { uploadResponse } from "./file_upload.ts";
import { jsonResponse, textResponse } from "./headers.ts";
import { WEB_LABEL } from "./label.ts";

/** The HTTP status of each file refusal. */
const STATUS_OF: Record<ErrorCode, number> = {
  "bad-request": 400,
  "bad-name": 400,
  "not-found": 404,
  "not-regular": 409,
  exists: 409,
  busy: 503,
  "too-large": 413,
  "bad-offset": 416,
  "verify-failed": 422,
  "no-space": 507,
  forbidden: 403,
  timeout: 408,
  "too-slow": 408,
  io: 500,
};

/** Answers a request under /files. */
export async function filesResponse(
  request: Request,
  url: URL,
  ctx: WebContext,
): Promise<Response> {
  let rest: string;
  try {
    rest = decodeURIComponent(url.pathname.slice("/files".length));
  } catch {
    return textResponse(400, "Bad request: the path is not valid percent-encoded UTF-8");
  }
  if (rest === "") return redirect("/files/" + url.search);
  rest = rest.slice(1); // the slash after /files
  const isFolder = rest === "" || rest.endsWith("/");
  const name = canonicalName(isFolder ? rest.slice(0, -1) : rest);
  try {
    switch (request.method) {
      case "GET":
      case "HEAD":
        if (isFolder) {
          if (url.searchParams.get("archive") === "tar") return await archiveResponse(name, ctx);
          if (url.searchParams.has("archive")) {
            return textResponse(400, "Bad request: the archive format is tar (?archive=tar)");
          }
          return await listingResponse(request, name, ctx);
        }
        return await downloadOrFolder(request, name, ctx);
      case "PUT":
        if (isFolder) return textResponse(405, "PUT a file, not a folder", { allow: "GET, HEAD" });
        return await uploadResponse(request, name, ctx);
      case "DELETE":
        return deleteResponse(name, isFolder, ctx);
      case "POST":
        return await moveResponse(url, name, isFolder, ctx);
      default:
        return textResponse(405, "Method not allowed (allowed: GET, HEAD, PUT, DELETE, POST)", {
          allow: "GET, HEAD, PUT, DELETE, POST",
        });
    }
  } catch (error) {
    if (error instanceof FileRefusal) return refusalResponse(error);
    throw error;
  }
}

/** The refusal as a plain-text response with its status code. */
export function refusalResponse(error: FileRefusal): Response {
  const status = STATUS_OF[error.code] ?? 500;
  const extra: Record<string, string> = { "x-socketkit-error": error.code };
  if (status === 503) extra["retry-after"] = "1";
  return textResponse(status, error.message, extra);
}

/** A download; a folder asked for without its slash is redirected to its listing. */
async function downloadOrFolder(request: Request, name: string, ctx: WebContext) {
  try {
    return await downloadResponse(request, name, ctx);
  } catch (error) {
    if (!(error instanceof FileRefusal) || error.code !== "not-regular") throw error;
    try {
      await ctx.files.store.list(name);
    } catch {
      throw error; // not a folder either
    }
    return redirect(filesHref(name) + "/");
  }
}

function deleteResponse(name: string, isFolder: boolean, ctx: WebContext): Response {
  forbidUnlessDeleting(ctx);
  if (isFolder) return textResponse(405, "DELETE a file, not a folder", { allow: "GET, HEAD" });
  const entry = ctx.files.store.remove(name);
  ctx.log.event(`${WEB_LABEL} Deleted ${quoteName(name)} for ${ctx.remote.hostname}`);
  return jsonResponse(200, { deleted: entry.name, size: entry.size });
}

async function moveResponse(url: URL, name: string, isFolder: boolean, ctx: WebContext) {
  const target = url.searchParams.get("move");
  if (target === null) {
    return textResponse(400, "Bad request: POST /files/NAME?move=NEWNAME renames a file");
  }
  forbidUnlessDeleting(ctx);
  if (isFolder) return textResponse(405, "Rename a file, not a folder", { allow: "GET, HEAD" });
  const to = canonicalName(target);
  const entry = await ctx.files.store.move(name, to);
  ctx.log.event(
    `${WEB_LABEL} Renamed ${quoteName(name)} to ${quoteName(to)} for ${ctx.remote.hostname}`,
  );
  return jsonResponse(200, { from: name, to: entry.name, size: entry.size }, {
    location: filesHref(entry.name),
  });
}

function forbidUnlessDeleting(ctx: WebContext): void {
  if (!ctx.files.config.allowDelete) {
    throw new FileRefusal(
      "forbidden",
      "Deleting and renaming are off on this server (serve --allow-delete turns them on)",
    );
  }
}

function redirect(location: string): Response {
  return new Response(null, { status: 301, headers: { location } });
}
