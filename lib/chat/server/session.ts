/**
 * One chat connection: the name handshake, then a member's lines and
 * commands. Reading is the only thing a session awaits, besides the cluster
 * (--redis) when a name is claimed or a new room's history is read: lines
 * that arrive meanwhile wait their turn, so order is kept. Everything it
 * sends goes through its Outbox. It talks through a ChatTransport: a TCP
 * connection or a WebSocket, the same session for both.
 */
import { TIMED_OUT, within } from "../../base/deadline.ts";
import { isDisconnect } from "../../base/io.ts";
import { looksLikeAuth } from "../../security/protocol.ts";
import type { Logger } from "../../base/logger.ts";
import { decodeLenient, printable } from "../../base/text.ts";
import type { ChatConfig } from "../config.ts";
import type { ChatTransport } from "./transport.ts";
import { Outbox } from "./outbox.ts";
import {
  alreadyInRoomLine,
  authNotSentLine,
  CHAT_LABEL,
  ECHO_OFF_LINE,
  ECHO_ON_LINE,
  GOODBYE_LINE,
  HELP_LINES,
  IDLE_LINE,
  invalidNameLine,
  invalidRoomLine,
  isValidName,
  JSON_OFF_LINE,
  JSON_ON_LINE,
  JSON_ONLY_LINE,
  kickedDoneLine,
  kickedElsewhereLine,
  LOBBY,
  NAME_TIMEOUT_LINE,
  nameKey,
  noSuchMemberLine,
  NOT_OPERATOR_LINE,
  roomFullLine,
  roomName,
  slowDownLine,
  takenNameLine,
  tooLongLine,
  tooManyRoomsLine,
  unknownCommandLine,
  usageLine,
} from "../protocol.ts";
import { TokenBucket } from "../../base/rate_limit.ts";
import { type HistoryEvent, systemBytes } from "../events.ts";
import type { Hub } from "./hub.ts";
import type { Member, Room } from "./room.ts";

// How long a last line (goodbye, refusal, shutdown) may take to drain before the close.
export const FINAL_FLUSH_MS = 1000;

/** A connection to the chat service, from the first byte to the close. */
export class ChatSession implements Member {
  name = "";
  joinedAt = 0;
  room: Room | null = null;
  json = false;
  echo = false;
  readonly peer: string;
  readonly outbox: Outbox;
  readonly transport: ChatTransport;
  #hub: Hub;
  #config: ChatConfig;
  #log: Logger;
  #bucket: TokenBucket;
  #limited = false;
  #joined = false;
  #done = false;
  #leaveReason: string | undefined;
  /** A cluster step in flight (claim, rename, history); later lines wait for it. */
  #waiting: Promise<void> | null = null;
  /** Lines (copied) or overflows that arrived while #waiting; at most one read's worth. */
  #backlog: (Uint8Array | null)[] = [];

  /**
   * The generic --idle-timeout does not apply to chat (a member who only
   * reads is normal): a new connection has --chat-name-timeout from its open
   * to give a name, and a joined member --chat-idle-timeout of silence.
   */
  constructor(transport: ChatTransport, hub: Hub, config: ChatConfig, log: Logger) {
    this.transport = transport;
    this.peer = transport.peer;
    this.json = transport.jsonOnly;
    this.#hub = hub;
    this.#config = config;
    this.#log = log;
    this.#bucket = new TokenBucket(config.rate, config.burst);
    this.outbox = new Outbox(transport.writer, config.buffer, () => transport.close());
    transport.idle = {
      ms: config.nameTimeout,
      from: "open",
      onExpire: () => {
        this.#log.event(`${CHAT_LABEL} ${this.peer} gave no name in time; closing`);
        this.finish(NAME_TIMEOUT_LINE);
      },
    };
  }

  /** Authenticated with the server's token (never, when the server has none). */
  get operator(): boolean {
    return this.transport.authenticated;
  }

  /** True once the member has a name and is in the room. */
  get joined(): boolean {
    return this.#joined;
  }

  /** Closes the socket; the read loop in run() then ends. */
  disconnect(): void {
    this.outbox.discard();
    this.transport.close();
  }

  /** Queues a line; a connection that cannot take it is stuck and is closed. */
  send(line: string): void {
    if (this.#hub.has(this)) {
      this.#hub.send(this, line);
    } else if (!this.outbox.push(systemBytes(line, this.json))) {
      this.disconnect();
    }
  }

  /**
   * Ends the session with a last line: the room is told `reason` now, the
   * socket closes once the line is written (or after FINAL_FLUSH_MS).
   */
  finish(line: string, reason?: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#leaveReason = reason;
    this.#hub.leave(this, reason);
    this.send(line);
    void this.closeAfterFlush();
  }

  /** Closes the socket once everything queued is written, or FINAL_FLUSH_MS passed. */
  async closeAfterFlush(): Promise<void> {
    await within(this.outbox.flushed(), FINAL_FLUSH_MS);
    this.transport.close();
  }

  /** Reads and handles lines until end of input, /quit or the socket closing. */
  async run(): Promise<void> {
    const transport = this.transport;
    const handler = {
      line: (bytes: Uint8Array) => {
        if (this.#waiting) this.#backlog.push(bytes.slice());
        else this.#later(this.#onLine(bytes));
      },
      overflow: () => {
        if (this.#waiting) this.#backlog.push(null);
        else this.#onOverflow();
      },
    };
    let reason: string | undefined;
    try {
      while (!this.#done) {
        const more = await transport.read(handler);
        await this.#catchUp(); // no more reading while a cluster step is in flight
        if (!more) break;
      }
    } catch (error) {
      if (!isDisconnect(error)) throw error;
      if (error instanceof Deno.errors.ConnectionReset) reason = "connection reset";
    } finally {
      this.#hub.leave(this, this.#leaveReason ?? reason);
    }
    // After /quit or a half-close the replies still go out before the close.
    if (!transport.closed) {
      const flushed = await within(this.outbox.flushed(), FINAL_FLUSH_MS);
      if (flushed === TIMED_OUT) this.disconnect();
    }
  }

  /** Notes a cluster step in flight (if any): later lines wait until it is done. */
  #later(step: Promise<void> | void): void {
    if (step) this.#waiting = step;
  }

  /** Waits for the step in flight, then handles the lines that waited, in order. */
  async #catchUp(): Promise<void> {
    while (this.#waiting) {
      await this.#waiting;
      this.#waiting = null;
      while (this.#backlog.length > 0 && !this.#waiting) {
        const bytes = this.#backlog.shift()!;
        if (bytes === null) this.#onOverflow();
        else this.#later(this.#onLine(bytes));
      }
    }
  }

  #onLine(bytes: Uint8Array): Promise<void> | void {
    if (this.#done) return;
    if (!this.#joined) {
      if (looksLikeAuth(bytes)) return this.send(authNotSentLine(this.operator, true));
      return this.#onName(bytes);
    }
    if (bytes.length === 0) return;
    if (!this.#bucket.take()) {
      if (!this.#limited) this.send(slowDownLine(this.#config.rate, this.#config.burst));
      this.#limited = true;
      return;
    }
    this.#limited = false;
    if (looksLikeAuth(bytes)) return this.send(authNotSentLine(this.operator, false));
    const text = printable(decodeLenient(bytes));
    if (text.trim() === "") return;
    if (text.startsWith("//")) return this.#hub.say(this, text.slice(1));
    if (text.startsWith("/")) return this.#command(text);
    this.#hub.say(this, text);
  }

  #onOverflow(): void {
    if (this.#done) return;
    if (this.#joined) {
      this.send(tooLongLine(this.#config.maxLine));
    } else {
      this.send(invalidNameLine(`(over ${this.#config.maxLine} bytes)`));
    }
  }

  #onName(bytes: Uint8Array): Promise<void> | void {
    const name = decodeLenient(bytes).trim();
    if (!isValidName(name)) return this.send(invalidNameLine(shorten(printable(name))));
    const cluster = this.#hub.relay;
    if (cluster === null) {
      this.#joinAs(name);
      return;
    }
    if (this.#hub.full) return this.finish(roomFullLine(this.#config.maxMembers));
    if (this.#hub.find(name)) return this.send(takenNameLine(name));
    // Unique across the cluster: claimed in Redis first (one round trip).
    return cluster.claim(name, LOBBY).then((claimed) => {
      if (claimed === "taken") return this.send(takenNameLine(name));
      if (this.#done || !this.#joinAs(name)) cluster.released(name);
    });
  }

  /** Joins as `name` (free, valid); false when refused. */
  #joinAs(name: string): boolean {
    const refusal = this.#hub.join(this, name);
    if (refusal === null) {
      this.#joined = true;
      this.transport.idle = {
        ms: this.#config.idleTimeout,
        onExpire: () => this.finish(IDLE_LINE, "idle"),
      };
    } else if (refusal === "taken") {
      this.send(takenNameLine(name));
    } else {
      this.finish(roomFullLine(this.#config.maxMembers));
    }
    return refusal === null;
  }

  #command(text: string): Promise<void> | void {
    const space = text.indexOf(" ");
    const word = (space < 0 ? text : text.slice(0, space)).toLowerCase();
    const arg = space < 0 ? "" : text.slice(space + 1).trim();
    const hub = this.#hub;
    switch (word) {
      case "/users":
        return hub.reply(this, {
          type: "users",
          room: this.room!.name,
          users: hub.names(this.room),
        });
      case "/rooms":
        return hub.reply(this, { type: "rooms", rooms: hub.rooms() });
      case "/join":
        return this.#join(arg);
      case "/msg":
        return this.#whisper(arg);
      case "/me":
        if (arg === "") return this.send(usageLine("/me ACTION, e.g. /me waves"));
        return hub.say(this, arg, true);
      case "/name":
        return this.#rename(arg);
      case "/kick":
        return this.#kick(arg);
      case "/json":
        return this.#jsonMode(arg.toLowerCase());
      case "/echo":
        if (arg !== "on" && arg !== "off") return this.send(usageLine("/echo on|off"));
        this.echo = arg === "on";
        return this.send(this.echo ? ECHO_ON_LINE : ECHO_OFF_LINE);
      case "/quit":
        this.#done = true;
        return this.send(GOODBYE_LINE);
      case "/help":
        for (const line of HELP_LINES) this.send(line);
        return;
      default:
        return this.send(unknownCommandLine(shorten(word)));
    }
  }

  #join(arg: string): Promise<void> | void {
    if (arg === "") return this.send(usageLine("/join #ROOM"));
    const name = roomName(arg);
    if (name === null) return this.send(invalidRoomLine(shorten(arg)));
    const cluster = this.#hub.relay;
    const same = this.room !== null && nameKey(this.room.name) === nameKey(name);
    if (cluster === null || same || this.#hub.hasRoom(name)) return this.#move(name, []);
    // A room new here may have a past on other instances: read it first.
    const release = this.#hub.expectRoom(name);
    return cluster.history(name).then((history) => {
      if (!this.#done && this.#hub.has(this)) this.#move(name, history);
    }).finally(release);
  }

  #move(name: string, history: HistoryEvent[]): void {
    const refusal = this.#hub.move(this, name, history);
    if (refusal === "same") this.send(alreadyInRoomLine(this.room!.name));
    if (refusal === "rooms") this.send(tooManyRoomsLine(name, this.#config.maxRooms));
  }

  #whisper(arg: string): void {
    const space = arg.indexOf(" ");
    const to = space < 0 ? arg : arg.slice(0, space);
    const text = space < 0 ? "" : arg.slice(space + 1).trim();
    if (to === "" || text === "") return this.send(usageLine("/msg NAME TEXT"));
    if (!this.#hub.whisper(this, to, text)) this.send(noSuchMemberLine(shorten(to)));
  }

  #kick(arg: string): void {
    if (!this.operator) return this.send(NOT_OPERATOR_LINE);
    const space = arg.indexOf(" ");
    const name = space < 0 ? arg : arg.slice(0, space);
    const reason = space < 0 ? "" : shorten(arg.slice(space + 1).trim(), 200);
    if (name === "") return this.send(usageLine("/kick NAME [REASON]"));
    const target = this.#hub.find(name);
    const remote = target ? undefined : this.#hub.remote(name);
    if (remote) {
      this.#hub.kickRemote(this, remote.name, reason);
      return this.send(kickedElsewhereLine(remote.name));
    }
    if (!target) return this.send(noSuchMemberLine(shorten(name)));
    const kicked = target.name;
    this.#hub.kick(this, target, reason);
    if (target !== this) this.send(kickedDoneLine(kicked));
  }

  #jsonMode(arg: string): void {
    if (arg === "off") {
      if (this.transport.jsonOnly) return this.send(JSON_ONLY_LINE);
      this.json = false;
      return this.send(JSON_OFF_LINE);
    }
    if (arg !== "" && arg !== "on" && arg !== "nohistory") {
      return this.send(usageLine("/json [nohistory], or /json off"));
    }
    this.json = true;
    this.send(JSON_ON_LINE);
    this.#hub.replay(this, arg !== "nohistory");
  }

  #rename(name: string): Promise<void> | void {
    if (name === "") return this.send(usageLine("/name NEWNAME"));
    if (!isValidName(name)) return this.send(invalidNameLine(shorten(name), false));
    const cluster = this.#hub.relay;
    const holder = this.#hub.find(name);
    if (cluster === null || name === this.name || (holder && holder !== this)) {
      this.#renameTo(name);
      return;
    }
    const old = this.name;
    return cluster.rename(old, name).then((renamed) => {
      if (renamed === "taken") return this.send(takenNameLine(name, false));
      // Gone or renamed meanwhile (a conflict after a split): give the claim back.
      if (this.#done || !this.#hub.has(this) || this.name !== old) return cluster.released(name);
      if (!this.#renameTo(name)) cluster.released(name);
    });
  }

  /** Renames locally; false when refused. */
  #renameTo(name: string): boolean {
    const refusal = this.#hub.rename(this, name);
    if (refusal === "taken") this.send(takenNameLine(name, false));
    if (refusal === "same") this.send(`! You are already ${name}`);
    return refusal === null;
  }
}

/** Keeps echoed input short: a refusal need not repeat a 4 KiB line. */
function shorten(text: string, max = 40): string {
  return text.length > max ? text.slice(0, max) + "..." : text;
}
