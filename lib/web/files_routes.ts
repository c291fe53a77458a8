/** /files: downloads, listings, archives, uploads, deletes and renames over HTTP. */
import type { WebContext } from "./context.ts";
import { textResponse } from "./headers.ts";

/** Answers a request under /files. */
export function filesResponse(_request: Request, _url: URL, _ctx: WebContext): Promise<Response> {
  return Promise.resolve(textResponse(501, "Not built yet"));
}
