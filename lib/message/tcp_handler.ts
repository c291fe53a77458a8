/**
 * One TCP message connection. How its bytes are cut into messages is
 * --framing:
 * - `line`: every line (LF or CRLF) is a message and gets one reply line.
 *   Bytes without a newline count as a message once the peer pauses for
 *   --flush-delay or half-closes. A line must end within --line-timeout of
 *   its first byte, so a peer dribbling bytes cannot hold a connection forever.
 * - `raw`: the first read is the message (LFs inside it still split it),
 *   answered at once with replies without a newline, and the connection is
 *   closed: what the original server did, and what the original client
 *   (`sendall(b"Hello"); recv(1024)`) waits for.
 * - `auto`: the connection's first read decides: at most 1024 bytes and no
 *   newline is the original client, so `raw`; anything else is `line`.
 */
import { TIMED_OUT, within } from "../base/deadline.ts";
import { concatBytes, writeAll } from "../base/io.ts";
import type { Logger } from "../base/logger.ts";
import { looksLikeAuth } from "../security/protocol.ts";
import { type LineHandler, LineSplitter } from "../net/line_splitter.ts";
import { GrowingBuffer } from "../net/read_buffer.ts";
import type { TrackedConn } from "../net/tracked_conn.ts";
import type { ServiceDeps } from "../service.ts";
import type { MessageConfig } from "./config.ts";
import { type ExitCountdown, exitRefusal, isExitCommand } from "./exit.ts";
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

/** The longest first read `--framing auto` takes for the original client's message. */
export const AUTO_RAW_MAX = 1024;

// The first read has room for one byte more than AUTO_RAW_MAX, so a longer
// message shows itself as a full buffer. Reads then grow (to READ_MAX) on a
// busy connection (pipelining, long messages), while 10,000 idle ones stay cheap.
const READ_FIRST = AUTO_RAW_MAX + 1;
const READ_MAX = 8 * 1024;
/** First-read buffers kept for reuse: raw connections come and go by the thousand. */
const POOLED = 256;

const LF = 0x0a;
/** How long the line saying why the connection closes may take to go out. */
const LATE_WRITE_MS = 1000;

/** The replies of one framing: with a trailing newline (line) or without (raw). */
interface Replies {
  acks: ReplyRun;
  overLong: Uint8Array;
  shuttingDown: Uint8Array;
  late: Uint8Array;
  refused(reason: string): Uint8Array;
}

function repliesFor(config: MessageConfig, lineTimeout: number, newline: boolean): Replies {
  const reply = (text: string) => {
    const bytes = replyLine(TCP_LABEL, text);
    return newline ? bytes : bytes.subarray(0, -1);
  };
  return {
    acks: new ReplyRun(reply(RECEIVED)),
    overLong: reply(tooLong(config.maxMessage)),
    shuttingDown: reply(SHUTTING_DOWN),
    late: reply(lateLine(lineTimeout)),
    refused: (reason) => reply(refusedExit(reason)),
  };
}

/** What one message asks for, judged the same way whatever the framing. */
type Verdict = "ack" | "exit" | string;

/**
 * Counts and logs one message and says what it needs: an acknowledgement,
 * the shutdown (an allowed `exit`), or the reason an `exit` is refused.
 */
function judge(
  bytes: Uint8Array,
  tracked: TrackedConn,
  head: () => Uint8Array,
  parts: { config: MessageConfig; log: Logger; counters: MessageCounters },
): Verdict {
  const { config, log } = parts;
  parts.counters.tcp++;
  if (!log.quiet) {
    // A token sent to a server without one: never into the log.
    if (looksLikeAuth(bytes)) logAuthLine(log, TCP_LABEL, tracked.peer);
    else logMessage(log, TCP_LABEL, tracked.peer, head, bytes);
  }
  if (!isExitCommand(bytes)) return "ack";
  const refusal = exitRefusal(config.exitFrom, tracked.peerHost, tracked.authenticated);
  if (refusal === null) return "exit";
  log.repeated(
    `${TCP_LABEL} refused exit`,
    "info",
    () => `${TCP_LABEL} Refused exit from ${tracked.peer}: ${refusal}`,
    (n, s) => `${TCP_LABEL} Refused exit ${n} more times in ${s}s: ${refusal}`,
  );
  return refusal;
}

function logOverLong(log: Logger, tracked: TrackedConn): void {
  log.repeated(
    `${TCP_LABEL} over-long`,
    "event",
    () => `${TCP_LABEL} Discarded an over-long message from ${tracked.peer}`,
    (n, s) => `${TCP_LABEL} Discarded ${n} more over-long messages in ${s}s`,
  );
}

/** The connection handler of the TCP message service, for TcpService. */
export function tcpMessageHandler(
  config: MessageConfig,
  deps: ServiceDeps,
  counters: MessageCounters,
  exits: ExitCountdown,
): (tracked: TrackedConn) => Promise<void> {
  const { log } = deps;
  const lineTimeout = deps.tcp.lineTimeout;
  const lineReplies = repliesFor(config, lineTimeout, true);
  const rawReplies = repliesFor(config, lineTimeout, false);
  const pool: Uint8Array[] = [];
  const parts = { config, log, counters };

  // The raw path keeps no state between reads, so one splitter and one
  // handler serve every raw connection; `raw` is filled in for each read
  // (the split is synchronous).
  const rawSplitter = new LineSplitter(config.maxMessage);
  const raw = { tracked: null as TrackedConn | null, out: [] as Uint8Array[], exiting: false };
  const rawHandler: LineHandler = {
    line(bytes) {
      if (raw.exiting) return;
      const tracked = raw.tracked!;
      const verdict = judge(bytes, tracked, () => receivedHead(TCP_LABEL, tracked.peer), parts);
      if (verdict === "ack") raw.out.push(rawReplies.acks.reply);
      else if (verdict === "exit") {
        raw.exiting = true;
        raw.out.push(rawReplies.shuttingDown);
      } else raw.out.push(rawReplies.refused(verdict));
    },
    overflow() {
      if (raw.exiting) return;
      logOverLong(log, raw.tracked!);
      raw.out.push(rawReplies.overLong);
    },
  };

  /**
   * The replies to the one read of a raw connection, as one buffer (null:
   * none); `raw.exiting` says whether it held an allowed `exit`.
   */
  function answerRaw(tracked: TrackedConn, chunk: Uint8Array): Uint8Array | null {
    raw.tracked = tracked;
    raw.out = [];
    raw.exiting = false;
    rawSplitter.pushFinal(chunk, rawHandler);
    raw.tracked = null;
    return raw.out.length === 0 ? null : concatBytes(raw.out);
  }

  return async function handle(tracked: TrackedConn): Promise<void> {
    // Guarded so --quiet does not build a string per connection just to drop it.
    if (!log.quiet) log.event(`${TCP_LABEL} Connection from ${tracked.peer}`);
    const first = pool.pop() ?? new Uint8Array(READ_FIRST);
    // The buffer goes back to the pool only once its read has settled.
    const n = await tracked.conn.read(first);
    if (n === null) {
      if (pool.length < POOLED) pool.push(first);
    } else if (
      config.framing === "raw" ||
      (config.framing === "auto" && n <= AUTO_RAW_MAX && first.subarray(0, n).indexOf(LF) === -1)
    ) {
      const out = answerRaw(tracked, first.subarray(0, n));
      const exiting = raw.exiting;
      if (pool.length < POOLED) pool.push(first);
      if (out !== null) {
        const written = await tracked.conn.write(out);
        if (written < out.length) await writeAll(tracked.conn, out.subarray(written));
      }
      // A raw connection is answered and closed, as the original server did.
      // The server closing first also keeps the TIME_WAIT state on its side,
      // so a client opening thousands of connections a second does not run
      // out of local ports (it does when it has to close first).
      tracked.close();
      if (exiting) exits.accepted("tcp", `exit from ${tracked.peer} over TCP`);
    } else {
      // The splitter copies what it keeps, so the pooled buffer is free again.
      const chunk = first.subarray(0, n);
      const read = serveLines(tracked, chunk);
      if (pool.length < POOLED) pool.push(first);
      await read;
    }
    if (!log.quiet) log.event(`${TCP_LABEL} ${tracked.peer} disconnected`);
  };

  /**
   * Serves a connection in line framing, from its first read `firstChunk`
   * (processed before this returns its promise's first await).
   */
  async function serveLines(tracked: TrackedConn, firstChunk: Uint8Array): Promise<void> {
    const { conn } = tracked;
    const texts = lineReplies;
    const splitter = new LineSplitter(config.maxMessage);
    const buffer = new GrowingBuffer(READ_FIRST, READ_MAX);
    const replies = new ReplyBatch(texts.acks);
    let logHead: Uint8Array | null = null;
    const head = () => (logHead ??= receivedHead(TCP_LABEL, tracked.peer));
    let exiting = false;

    const handler: LineHandler = {
      line(bytes) {
        if (exiting) return;
        const verdict = judge(bytes, tracked, head, parts);
        if (verdict === "ack") replies.repeat();
        else if (verdict === "exit") {
          exiting = true;
          replies.push(texts.shuttingDown);
        } else replies.push(texts.refused(verdict));
      },
      overflow() {
        if (exiting) return;
        logOverLong(log, tracked);
        replies.push(texts.overLong);
      },
    };

    // The line deadline (TcpService's RequestRule): its clock starts at a
    // line's first byte and only a newline stops it. A pause still gets the
    // bytes so far answered (--flush-delay) and stops the clock while the
    // peer waits; but if more bytes of the same line follow, the clock goes
    // on from the line's first byte, unless the pause itself lasted
    // --line-timeout. So a client that sends a message without newline, then
    // silence, is never cut off, and a dribble is. The loop sees the flag at
    // its next turn (bytes arrive, or --flush-delay passes); a handler stuck
    // writing to a peer that reads nothing is closed after that.
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
      const now = tracked.now();
      if (lineStart !== null && now - lastBytes >= lineTimeout) lineStart = null;
      lastBytes = now;
      if (endsLine) lineStart = null;
      else if (chunk.lastIndexOf(LF) !== -1) lineStart = now; // a line began in this chunk
      else lineStart ??= now;
      tracked.requestDone();
      if (lineStart !== null) tracked.requestStarted(lineStart);
    };
    const take = (chunk: Uint8Array) => {
      tracked.touch();
      if (lineTimeout > 0) noteBytes(chunk);
      splitter.push(chunk, handler);
    };

    // Replies produced by one read go out in one write; awaiting it before
    // the next read is handled means a peer that does not read its replies
    // stops being read (backpressure).
    const sendReplies = () => replies.writeTo(conn);

    take(firstChunk);
    let result: number | null | typeof TIMED_OUT = firstChunk.length;
    let read: Promise<number | null> | null = null;
    while (true) {
      if (late || (lineStart !== null && lastBytes - lineStart > lineTimeout)) {
        log.repeated(
          `${TCP_LABEL} late line`,
          "event",
          () => `${TCP_LABEL} Closing ${tracked.peer}: a line took longer than ${lineTimeout} ms`,
          (n, s) => `${TCP_LABEL} Closed ${n} more connections for slow lines in ${s}s`,
        );
        replies.push(texts.late);
        await within(sendReplies(), LATE_WRITE_MS);
        return;
      }
      if (exiting) break;
      if (result === TIMED_OUT) {
        await sendReplies(); // the read is still pending
      } else {
        // The next read is under way while the replies go out: one turn of
        // the event loop less per read, and the write is still awaited
        // before anything more is handled.
        const sent = sendReplies();
        read = readSoon(conn, buffer.bytes);
        await sent;
      }
      result = splitter.hasPending ? await within(read!, config.flushDelay) : await read!;
      if (result === TIMED_OUT) {
        splitter.flush(handler);
        tracked.requestDone(); // answered; the peer may be waiting
      } else if (result === null) {
        splitter.flush(handler); // half-close: what is pending is a message
        break;
      } else {
        take(buffer.bytes.subarray(0, result));
        buffer.filled(result);
      }
    }
    await sendReplies();
    if (exiting) exits.accepted("tcp", `exit from ${tracked.peer} over TCP`);
  }
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
