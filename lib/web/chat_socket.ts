/**
 * GET /chat: the chat over a WebSocket. The member is the chat service's
 * own (ChatService.joinWebSocket): its first text frame is its name, then
 * each frame is one line, text or a command, as over TCP; it gets the chat's
 * JSON-mode objects, one per frame, from the first. The router has checked
 * the token and the Origin before this runs.
 */
import { formatAddr } from "../net/address.ts";
import type { WebContext } from "./context.ts";
import { textResponse } from "./headers.ts";

/** The response to a GET /chat (a WebSocket upgrade, its Origin already checked). */
export function chatSocketResponse(request: Request, ctx: WebContext): Response {
  const chat = ctx.chat;
  if (chat === null) return textResponse(404, "The chat service is not running");
  let upgraded: ReturnType<typeof Deno.upgradeWebSocket>;
  try {
    upgraded = Deno.upgradeWebSocket(request);
  } catch {
    return textResponse(400, "Bad WebSocket handshake");
  }
  const { socket, response } = upgraded;
  // AUTH makes a TCP member an operator; here the token came with the request.
  const operator = ctx.tokenRequired && ctx.authenticated;
  void chat.joinWebSocket(socket, {
    peer: formatAddr(ctx.remote),
    peerHost: ctx.remote.hostname,
    authenticated: operator,
    signal: ctx.closing,
  });
  return response;
}
