/**
 * One TCP message connection: every line (LF or CRLF) is acknowledged with
 * one reply line. Bytes without a newline count as a message once the peer
 * pauses for --flush-delay or half-closes, so the original client (send, then
 * wait) gets its reply too.
 */
import { TIMED_OUT, within } from "../base/deadline.ts";
import { LineSplitter } from "../net/line_splitter.ts";
import { GrowingBuffer } from "../net/read_buffer.ts";
import type { TrackedConn } from "../net/tcp_service.ts";
import type { ServiceDeps } from "../service.ts";
import type { MessageConfig } from "./config.ts";
import { exitRefusal, isExitCommand } from "./exit.ts";
import { ReplyBatch, ReplyRun } from "./reply_batch.ts";
import type { MessageCounters } from "./status.ts";
import {
  logMessage,
  RECEIVED,
  receivedHead,
  refusedExit,
  replyLine,
  SHUTTING_DOWN,
  TCP_LABEL,
  tooLong,
} from "./protocol.ts";

// Reads start small so 10,000 idle connections stay cheap, and grow to the
// larger size on a busy connection (pipelining, long messages).
const READ_FIRST = 1024;
const READ_MAX = 8 * 1024;

/** The connection handler of the TCP message service, for TcpService. */
export function tcpMessageHandler(
  config: MessageConfig,
  deps: ServiceDeps,
  counters: MessageCounters,
): (tracked: TrackedConn) => Promise<void> {
  const { log } = deps;
  const acks = new ReplyRun(replyLine(TCP_LABEL, RECEIVED));
  const overLong = replyLine(TCP_LABEL, tooLong(config.maxMessage));
  const shuttingDown = replyLine(TCP_LABEL, SHUTTING_DOWN);

  return async function handle(tracked: TrackedConn): Promise<void> {
    const { conn, peer } = tracked;
    // Guarded so --quiet does not build a string per connection just to drop it.
    if (!log.quiet) log.event(`${TCP_LABEL} Connection from ${peer}`);
    const splitter = new LineSplitter(config.maxMessage);
    const buffer = new GrowingBuffer(READ_FIRST, READ_MAX);
    const replies = new ReplyBatch(acks);
    let logHead: Uint8Array | null = null;
    const head = () => (logHead ??= receivedHead(TCP_LABEL, peer));
    let exiting = false;

    const handler = {
      line(bytes: Uint8Array) {
        if (exiting) return;
        counters.tcp++;
        if (!log.quiet) logMessage(log, TCP_LABEL, peer, head, bytes);
        if (!isExitCommand(bytes)) {
          replies.repeat();
          return;
        }
        const refusal = exitRefusal(config.exitFrom, tracked.peerHost, tracked.authenticated);
        if (refusal === null) {
          exiting = true;
          replies.push(shuttingDown);
        } else {
          log.info(`${TCP_LABEL} Refused exit from ${peer}: ${refusal}`);
          replies.push(replyLine(TCP_LABEL, refusedExit(refusal)));
        }
      },
      overflow() {
        if (exiting) return;
        log.event(`${TCP_LABEL} Discarded an over-long message from ${peer}`);
        replies.push(overLong);
      },
    };

    // Replies produced by one read go out in one write; awaiting it means a
    // peer that does not read its replies stops being read (backpressure).
    const sendReplies = () => replies.writeTo(conn);

    let read = readSoon(conn, buffer.bytes);
    while (true) {
      const result = splitter.hasPending ? await within(read, config.flushDelay) : await read;
      if (result === TIMED_OUT) {
        splitter.flush(handler);
      } else if (result === null) {
        splitter.flush(handler); // half-close: what is pending is a message
        await sendReplies();
        break;
      } else {
        tracked.touch();
        splitter.push(buffer.bytes.subarray(0, result), handler);
        buffer.filled(result);
      }
      await sendReplies();
      if (exiting) {
        deps.requestShutdown(`exit from ${peer} over TCP`);
        break;
      }
      if (result !== TIMED_OUT) read = readSoon(conn, buffer.bytes);
    }
    if (!log.quiet) log.event(`${TCP_LABEL} ${peer} disconnected`);
  };
}

/**
 * Starts a read that may be left pending when the handler returns early; the
 * no-op catch keeps its rejection on close from counting as unhandled.
 */
function readSoon(conn: Deno.Conn, buffer: Uint8Array): Promise<number | null> {
  const read = conn.read(buffer);
  read.catch(() => {});
  return read;
}
