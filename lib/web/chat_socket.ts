/**
 * GET /chat: the chat over a WebSocket. A placeholder that answers 501; the
 * WebSocket member replaces this file.
 */
import type { WebContext } from "./context.ts";
import { textResponse } from "./headers.ts";

/** The response to a GET /chat (a WebSocket upgrade, its Origin already checked). */
export function chatSocketResponse(_request: Request, ctx: WebContext): Response {
  if (ctx.chat === null) return textResponse(404, "The chat service is not running");
  return textResponse(501, "The chat over WebSocket is not built yet");
}
