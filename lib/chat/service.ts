/**
 * The chat service (--chat-port): a line-based room that netcat can join.
 * TcpService accepts and caps connections; each gets a ChatSession; the
 * Room fans lines out through per-member bounded queues.
 *
 * Timeouts: the generic --idle-timeout does not apply (a member who only
 * reads is normal). A connection must give a name within --chat-name-timeout;
 * joined members are closed only after --chat-idle-timeout (default never),
 * and TCP keepalive finds peers that vanished.
 */
import { TIMED_OUT, within } from "../base/deadline.ts";
import { TcpService, type TrackedConn } from "../net/tcp_service.ts";
import { encode } from "../base/text.ts";
import type { RunningService, ServiceContext } from "../service.ts";
import {
  CHAT_LABEL,
  IDLE_LINE,
  limitsLine,
  NAME_TIMEOUT_LINE,
  roomFullLine,
  SHUTDOWN_NOTICE,
  welcomeLine,
} from "./protocol.ts";
import { Room } from "./room.ts";
import { ChatSession, FINAL_FLUSH_MS } from "./session.ts";

/** Starts the chat service on --chat-port. */
export function startChatService(context: ServiceContext): RunningService {
  const { config, log, stats } = context;
  const chat = config.chat;
  const room = new Room({
    history: chat.history,
    maxMembers: chat.maxMembers,
    buffer: chat.buffer,
    greeting: [limitsLine(chat.maxLine, chat.rate, chat.burst)],
    log,
    stats,
  });
  const sessions = new Set<ChatSession>();
  let stopping = false;

  async function handle(tracked: TrackedConn): Promise<void> {
    const session = new ChatSession(tracked, room, chat);
    if (stopping) return await sayAndClose(session, SHUTDOWN_NOTICE);
    if (room.full) return await sayAndClose(session, roomFullLine(chat.maxMembers));
    try {
      // Plain TCP only: Deno's TLS connections offer neither option (see
      // README.md, Security), and TLS records batch small writes anyway.
      tracked.setKeepAlive(true);
      // Chat is interactive and the Outbox already batches what one turn
      // queues, so Nagle's algorithm would only add delay (up to the peer's
      // delayed-ACK timeout) to every line after the first.
      tracked.setNoDelay(true);
    } catch {
      // The socket may already be gone; the read below will say so.
    }
    sessions.add(session);
    try {
      session.send(welcomeLine(room.size));
      await session.run();
    } finally {
      sessions.delete(session);
    }
  }

  const service = TcpService.listen({
    label: CHAT_LABEL,
    service: "chat service",
    hostname: config.host,
    port: config.chatPort,
    log,
    maxConnections: config.maxConnections,
    idleTimeout: 0, // the sweep below applies the chat's own policy
    busyReply: `! The server is busy (${config.maxConnections} connections); try again later`,
    guard: context.guard,
    handle,
  });

  const sweepEvery = Math.max(50, Math.min(1000, smallestPositive(chat) / 4));
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const session of sessions) {
      const { openedAt, lastActive } = session.tracked;
      if (!session.joined && chat.nameTimeout > 0 && now - openedAt > chat.nameTimeout) {
        log.event(`${CHAT_LABEL} ${session.peer} gave no name in time; closing`);
        session.finish(NAME_TIMEOUT_LINE);
      } else if (session.joined && chat.idleTimeout > 0 && now - lastActive > chat.idleTimeout) {
        session.finish(IDLE_LINE, "idle");
      }
    }
  }, sweepEvery);

  context.registry.chatMembers = () => room.roster();

  return {
    label: CHAT_LABEL,
    transport: "tcp",
    hostname: service.hostname,
    port: service.port,
    connections: () => service.connectionCount,
    async stop() {
      if (!stopping) {
        stopping = true;
        clearInterval(sweeper);
        room.close();
        // Everyone gets the notice first; a member that does not read it in
        // time is closed anyway.
        const notice = encode(SHUTDOWN_NOTICE + "\n");
        for (const session of sessions) session.outbox.push(notice);
        const flushed = Promise.all([...sessions].map((session) => session.outbox.flushed()));
        if (await within(flushed, FINAL_FLUSH_MS) === TIMED_OUT) {
          log.info(`${CHAT_LABEL} Some members did not take the shutdown notice in time`);
        }
      }
      await service.stop();
    },
  };
}

async function sayAndClose(session: ChatSession, line: string): Promise<void> {
  session.send(line);
  await within(session.outbox.flushed(), FINAL_FLUSH_MS);
}

function smallestPositive(chat: { nameTimeout: number; idleTimeout: number }): number {
  const positive = [chat.nameTimeout, chat.idleTimeout].filter((ms) => ms > 0);
  return positive.length > 0 ? Math.min(...positive) : 4000;
}
