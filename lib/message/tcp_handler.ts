/**
 * One TCP message connection: every line (LF or CRLF) is acknowledged with
 * one reply line. Bytes without a newline count as a message once the peer
 * pauses for --flush-delay or half-closes, so the original client (send, then
 * wait) gets its reply too. A line must end within --line-timeout of its first
 * byte, so a peer dribbling bytes cannot hold a connection forever.
 */
import { TIMED_OUT, within } from "../base/deadline.ts";
import { looksLikeAuth } from "../security/protocol.ts";
import { LineSplitter } from "../net/line_splitter.ts";
import { GrowingBuffer } from "../net/read_buffer.ts";
import type { TrackedConn } from "../net/tcp_service.ts";
import type { ServiceDeps } from "../service.ts";
import type { MessageConfig } from "./config.ts";
import { exitRefusal, isExitCommand } from "./exit.ts";
import { ReplyBatch, ReplyRun } from "./reply_batch.ts";
import type { MessageCounters } from "./status.ts";
import {
  lateLine,
  logAuthLine,
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

const LF = 0x0a;
/** How long the line saying why the connection closes may take to go out. */
const LATE_WRITE_MS = 1000;

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
  const lineTimeout = deps.tcp.lineTimeout;
  const lateReply = replyLine(TCP_LABEL, lateLine(lineTimeout));

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
        if (!log.quiet) {
          // A token sent to a server without one: never into the log.
          if (looksLikeAuth(bytes)) logAuthLine(log, TCP_LABEL, peer);
          else logMessage(log, TCP_LABEL, peer, head, bytes);
        }
        if (!isExitCommand(bytes)) {
          replies.repeat();
          return;
        }
        const refusal = exitRefusal(config.exitFrom, tracked.peerHost, tracked.authenticated);
        if (refusal === null) {
          exiting = true;
          replies.push(shuttingDown);
        } else {
          log.repeated(
            `${TCP_LABEL} refused exit`,
            "info",
            () => `${TCP_LABEL} Refused exit from ${peer}: ${refusal}`,
            (n, s) => `${TCP_LABEL} Refused exit ${n} more times in ${s}s: ${refusal}`,
          );
          replies.push(replyLine(TCP_LABEL, refusedExit(refusal)));
        }
      },
      overflow() {
        if (exiting) return;
        log.repeated(
          `${TCP_LABEL} over-long`,
          "event",
          () => `${TCP_LABEL} Discarded an over-long message from ${peer}`,
          (n, s) => `${TCP_LABEL} Discarded ${n} more over-long messages in ${s}s`,
        );
        replies.push(overLong);
      },
    };

    // The line deadline (TcpService's RequestRule): its clock starts at a
    // line's first byte and only a newline stops it. A pause still gets the
    // bytes so far answered (--flush-delay) and stops the clock while the
    // peer waits; but if more bytes of the same line follow, the clock goes
    // on from the line's first byte, unless the pause itself lasted
    // --line-timeout. So the original client (a message without newline,
    // then silence) is never cut off, and a dribble is. The loop sees the
    // flag at its next turn (bytes arrive, or --flush-delay passes); a
    // handler stuck writing to a peer that reads nothing is closed after that.
    let lineStart: number | null = null;
    let lastBytes = 0;
    let late = false;
    if (lineTimeout > 0) {
      tracked.request = {
        ms: lineTimeout,
        onExpire: () => {
          late = true;
          setTimeout(() => tracked.close(), config.flushDelay + 2 * LATE_WRITE_MS);
        },
      };
    }
    const noteBytes = (chunk: Uint8Array) => {
      const endsLine = chunk[chunk.length - 1] === LF;
      // The usual case, whole lines: nothing to time (this runs for every read).
      if (endsLine && lineStart === null) return;
      const now = Date.now();
      if (lineStart !== null && now - lastBytes >= lineTimeout) lineStart = null;
      lastBytes = now;
      if (endsLine) lineStart = null;
      else if (chunk.lastIndexOf(LF) !== -1) lineStart = now; // a line began in this chunk
      else lineStart ??= now;
      tracked.requestDone();
      if (lineStart !== null) tracked.requestStarted(lineStart);
    };

    // Replies produced by one read go out in one write; awaiting it means a
    // peer that does not read its replies stops being read (backpressure).
    const sendReplies = () => replies.writeTo(conn);

    let read = readSoon(conn, buffer.bytes);
    while (true) {
      const result = splitter.hasPending ? await within(read, config.flushDelay) : await read;
      if (result === TIMED_OUT) {
        splitter.flush(handler);
        tracked.requestDone(); // answered; the peer may be waiting
      } else if (result === null) {
        splitter.flush(handler); // half-close: what is pending is a message
        await sendReplies();
        break;
      } else {
        tracked.touch();
        const chunk = buffer.bytes.subarray(0, result);
        if (lineTimeout > 0) noteBytes(chunk);
        splitter.push(chunk, handler);
        buffer.filled(result);
      }
      if (late || (lineStart !== null && lastBytes - lineStart > lineTimeout)) {
        log.repeated(
          `${TCP_LABEL} late line`,
          "event",
          () => `${TCP_LABEL} Closing ${peer}: a line took longer than ${lineTimeout} ms`,
          (n, s) => `${TCP_LABEL} Closed ${n} more connections for slow lines in ${s}s`,
        );
        replies.push(lateReply);
        await within(sendReplies(), LATE_WRITE_MS);
        return;
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
