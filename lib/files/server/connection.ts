/**
 * One connection to the file service: request lines one after another
 * (LIST, STAT, GET, PUT, DEL, MOVE) until end of input or a broken transfer.
 * The protocol is in protocol.ts and docs/files.md; receiving an upload in
 * receive.ts; the directory rules in store.ts; pacing and the speed floor
 * in pace.ts.
 */
import { within } from "../../base/deadline.ts";
import { linger, type Writer } from "../../base/io.ts";
import type { Logger } from "../../base/logger.ts";
import { formatBytes } from "../../base/progress.ts";
import type { TrackedConn } from "../../net/tracked_conn.ts";
import type { FilesConfig } from "../config.ts";
import { hashPrefix, loadHashing, sha256 } from "../hashing.ts";
import { quoteName } from "../names.ts";
import { RateFloor, throttleFor } from "../pace.ts";
import {
  CHUNK_SIZE,
  describeFile,
  digestLine,
  errorLine,
  FILE_LABEL,
  MAX_LINE,
  parseRequest,
  type Request,
} from "../protocol.ts";
import { pump, PumpError } from "../pump.ts";
import type { FileCounters } from "../status.ts";
import { FileRefusal, lineRefusal } from "./refusals.ts";
import type { FileStore } from "./store.ts";
import type { ListingWorkers } from "./listing_workers.ts";
import { receiveUpload, type UploadChannel } from "./receive.ts";
import { type BatchChannel, receiveBatch, sendBatch } from "./batch.ts";
import { LineTooLong, WireReader, writeLine } from "../../net/wire_reader.ts";

// After refusing an upload mid-stream, read (and drop) what the client still
// sends for this long, so it sees the ERR line instead of a connection reset.
// The wire reader is drained, not the socket: it may hold some bytes already.
const UPLOAD_LINGER = { ms: 2000, maxBytes: Infinity };

// Ending a misbehaving connection (a trickle, a transfer below --min-rate):
// how long its last ERR line may take to go out, and how long the client
// then has to read it before the socket is closed (the server sends FIN at
// once, so a reset cannot destroy the line).
const LAST_WORD_MS = 1000;
const LAST_WORD_GRACE_MS = 1000;

/** What every connection of one file service shares. */
export interface FileServiceState {
  store: FileStore;
  /** Where LIST replies are made. */
  listings: ListingWorkers;
  log: Logger;
  config: Pick<
    FilesConfig,
    "allowDelete" | "maxRatePerConn" | "minRate" | "minRateWindow" | "requestTimeout"
  >;
  /** The server has a token: only authenticated clients may delete and rename. */
  tokenRequired: boolean;
  /** Bytes moved, for STATUS (files stored are the store's count). */
  counters: Pick<FileCounters, "bytesUploaded" | "bytesDownloaded">;
  /**
   * Runs a transfer in one of --max-transfers slots (at most
   * --max-transfers-per-ip of them for `peerHost`); throws FileRefusal busy
   * when none is free.
   */
  inTransferSlot(peerHost: string, run: () => Promise<boolean>): Promise<boolean>;
}

/** Serves one connection; see the module comment. */
export class FileConnection {
  #tracked: TrackedConn;
  #conn: Deno.Conn;
  #peer: string;
  #wire: WireReader;
  /** Writes to the connection, counting as activity for the idle timeout. */
  #out: Writer;
  #state: FileServiceState;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(tracked: TrackedConn, state: FileServiceState) {
    const { conn } = tracked;
    // Replies are single lines; a reply must not wait for a delayed ACK.
    tracked.setNoDelay(true);
    this.#tracked = tracked;
    this.#conn = conn;
    this.#peer = tracked.peer;
    this.#state = state;
    this.#wire = new WireReader(conn, {
      lineBuffer: MAX_LINE,
      onRead: () => tracked.touch(),
      lineTimeout: state.config.requestTimeout,
    });
    // A download only writes, so writes count as activity for the idle timeout too.
    this.#out = {
      write: (bytes) => {
        tracked.touch();
        return conn.write(bytes);
      },
    };
  }

  /** Requests one after another until EOF or a broken transfer. */
  async run(): Promise<void> {
    try {
      // Transfers hash with node:crypto, which the service loads after its
      // Listening line; a connection that comes first waits for it here.
      await loadHashing();
      await this.#requests();
    } finally {
      clearTimeout(this.#closeTimer);
    }
  }

  async #requests(): Promise<void> {
    const { log } = this.#state;
    const out = this.#out;
    log.event(`${FILE_LABEL} Connection from ${this.#peer}`);
    while (true) {
      let line: string | null;
      try {
        line = await this.#wire.readLine();
      } catch (error) {
        const refusal = lineRefusal(error, "Request line");
        if (refusal === null) throw error;
        log.event(`${FILE_LABEL} Closing ${this.#peer}: ${refusal.message}`);
        if (error instanceof LineTooLong) {
          await writeLine(out, errorLine(refusal.code, refusal.message));
          await this.#linger();
        } else {
          // A read is still pending (the deadline left it): say why and close.
          await this.#lastWord(errorLine(refusal.code, refusal.message), 0);
        }
        break;
      }
      if (line === null) break;
      const request = parseRequest(line);
      if ("error" in request) {
        await writeLine(out, errorLine("bad-request", request.error));
        continue;
      }
      let keepOpen: boolean;
      try {
        keepOpen = await this.#serve(request);
      } catch (error) {
        if (!(error instanceof FileRefusal)) throw error;
        // A STAT for a name not there yet is how an upload asks, not a refusal.
        if (!(request.kind === "stat" && error.code === "not-found")) {
          log.event(
            `${FILE_LABEL} Refused ${describe(request)} from ${this.#peer}: ${error.message}`,
          );
        }
        await writeLine(out, errorLine(error.code, error.message));
        keepOpen = true;
      }
      if (!keepOpen) break;
    }
    log.event(`${FILE_LABEL} ${this.#peer} disconnected`);
  }

  /** Serves one request; false when the connection cannot carry another. */
  async #serve(request: Request): Promise<boolean> {
    const { store, inTransferSlot, log } = this.#state;
    const slot = (run: () => Promise<boolean>) => inTransferSlot(this.#tracked.peerHost, run);
    switch (request.kind) {
      case "list": {
        // Made in a worker thread, written as the client reads (listing_workers.ts).
        const folder = store.listingFolder(request.prefix);
        await this.#state.listings.write(this.#out, {
          root: store.dir,
          metaDir: store.metaDir,
          folder,
        });
        return true;
      }
      case "stat":
        await writeLine(this.#out, `OK ${describeFile(store.stat(request.name))}`);
        return true;
      case "get":
        return await slot(() => this.#send(request.name, request.offset));
      case "put":
        return await slot(() =>
          receiveUpload(this.#channel(), request.name, request.size, request.force)
        );
      case "puts":
        return await slot(() => receiveBatch(this.#batchChannel(), request.force));
      case "gets":
        return await slot(() => sendBatch(this.#batchChannel()));
      case "del": {
        this.#mayManage();
        const entry = store.remove(request.name);
        log.event(
          `${FILE_LABEL} Deleted ${quoteName(entry.name)} (${entry.size} bytes) for ${this.#peer}`,
        );
        await writeLine(this.#out, "OK");
        return true;
      }
      case "move": {
        this.#mayManage();
        const entry = await store.move(request.from, request.to);
        log.event(
          `${FILE_LABEL} Renamed ${quoteName(request.from)} to ${
            quoteName(entry.name)
          } for ${this.#peer}`,
        );
        await writeLine(this.#out, "OK");
        return true;
      }
    }
  }

  /** DEL and MOVE: only with --allow-delete, and with a token only for authenticated clients. */
  #mayManage(): void {
    const { config, tokenRequired } = this.#state;
    if (!config.allowDelete) {
      throw new FileRefusal(
        "forbidden",
        "Deleting and renaming are turned off on this server (serve --allow-delete turns them on)",
      );
    }
    if (tokenRequired && !this.#tracked.authenticated) {
      throw new FileRefusal(
        "forbidden",
        "Only clients that presented the server's token may delete or rename",
      );
    }
  }

  /**
   * Watches the transfer against --min-rate; when it ends one, an upload is
   * sent an ERR line first (`upload`: whether it can resume); a download
   * cannot carry one and is just closed.
   */
  #floor(what: string, upload?: { resumable: boolean }): RateFloor {
    const { config, log } = this.#state;
    return new RateFloor({
      minRate: config.minRate,
      windowMs: config.minRateWindow,
      onSlow: (moved) => {
        const message = `${what} moved ${moved} bytes in ${
          config.minRateWindow / 1000
        } s, under the server's minimum of ${formatBytes(config.minRate)}/s (--min-rate)`;
        log.event(`${FILE_LABEL} Ending slow transfer with ${this.#peer}: ${message}`);
        if (upload) {
          const hint = upload.resumable ? "; run the same command to resume" : "";
          const line = errorLine("too-slow", `${message}${hint}`);
          this.#lastWord(line, LAST_WORD_GRACE_MS).catch(() => {});
        } else {
          this.#tracked.close();
        }
      },
    });
  }

  /** GET: header, bytes from `offset`, then the digest of the whole file. */
  async #send(name: string, offset: number): Promise<boolean> {
    const { store, log, counters, config } = this.#state;
    const out = this.#out;
    const peer = this.#peer;
    const { file, entry } = await store.openRead(name);
    try {
      if (offset > entry.size) {
        throw new FileRefusal(
          "bad-offset",
          `Offset ${offset} is past the end of ${quoteName(name)} (${entry.size} bytes)`,
        );
      }
      await writeLine(out, `OK ${describeFile(entry)}`);
      const resumed = offset > 0 ? ` from byte ${offset}` : "";
      log.event(
        `${FILE_LABEL} Sending ${quoteName(name)} (${entry.size} bytes) to ${peer}${resumed}`,
      );
      // A digest recorded when the file was uploaded (hashed as it streamed in)
      // is sent as it is: no pass over the file, and the client, which hashes
      // what it receives, then also catches a copy damaged on the server's disk.
      // Only a file without one (copied in by hand) is hashed while it is sent.
      const hash = entry.sha256 === null ? sha256() : undefined;
      if (hash && offset > 0) {
        const buffer = new Uint8Array(Math.min(CHUNK_SIZE, offset));
        if (!await hashPrefix(file, offset, hash, buffer)) return this.#shrank(name);
      } else if (offset > 0) {
        await file.seek(offset, Deno.SeekMode.Start);
      }
      const length = entry.size - offset;
      using floor = this.#floor(`Download of ${quoteName(name)}`);
      let sent: number;
      try {
        sent = await pump(file, out, length, {
          ...(hash ? { hash } : {}),
          throttle: throttleFor(config.maxRatePerConn),
          onProgress: (_, moved) => {
            counters.bytesDownloaded += moved;
            floor.add(moved);
          },
        });
      } catch (error) {
        if (error instanceof PumpError && error.side === "write") {
          log.event(`${FILE_LABEL} ${peer} stopped downloading ${quoteName(name)}`);
          return false;
        }
        throw error;
      }
      floor.stop();
      if (sent < length) return this.#shrank(name);
      const hex = hash ? hash.digest("hex") : entry.sha256!;
      await writeLine(out, digestLine(hex));
      // Best effort: on a full disk the digest is simply computed again next time.
      if (hash) store.recordDigest(entry, hex);
      log.event(`${FILE_LABEL} Sent ${quoteName(name)} to ${peer}, SHA-256 ${hex}`);
      return true;
    } finally {
      file.close();
    }
  }

  #shrank(name: string): boolean {
    this.#state.log.error(
      `${FILE_LABEL} ${quoteName(name)} shrank while being sent to ${this.#peer}; closed`,
    );
    return false;
  }

  /** What receiving an upload (receive.ts) needs of this connection. */
  #channel(): UploadChannel {
    const { store, log, counters, config } = this.#state;
    return {
      wire: this.#wire,
      out: this.#out,
      peer: this.#peer,
      store,
      log,
      counters,
      maxRatePerConn: config.maxRatePerConn,
      floor: (what, upload) => this.#floor(what, upload),
      linger: () => this.#linger(),
      lastWord: (line, graceMs) => this.#lastWord(line, graceMs),
    };
  }

  /** What the pipelined requests (batch.ts) need of this connection. */
  #batchChannel(): BatchChannel {
    const { store, log, counters } = this.#state;
    return {
      wire: this.#wire,
      out: this.#out,
      peer: this.#peer,
      store,
      log,
      counters,
      sendFile: (name) => this.#send(name, 0),
    };
  }

  /** Drains what a refused client still sends, through the wire reader. */
  #linger(): Promise<void> {
    return linger(this.#conn, { ...UPLOAD_LINGER, reader: this.#wire });
  }

  /**
   * A last line to a client that may be misbehaving, bounded in time; then
   * FIN, and the connection closed `graceMs` later (0: at once), which ends
   * any read or write still pending on it.
   */
  async #lastWord(line: string, graceMs: number): Promise<void> {
    const write = writeLine(this.#out, line);
    write.catch(() => {});
    await within(write, LAST_WORD_MS);
    if (graceMs <= 0) return this.#tracked.close();
    try {
      await this.#conn.closeWrite();
    } catch {
      // already gone
    }
    this.#closeTimer = setTimeout(() => this.#tracked.close(), graceMs);
  }
}

function describe(request: Request): string {
  switch (request.kind) {
    case "list":
      return request.prefix === null ? "LIST" : `LIST ${quoteName(request.prefix)}`;
    case "stat":
      return `STAT ${quoteName(request.name)}`;
    case "get":
      return `GET ${quoteName(request.name)}`;
    case "put":
      return `PUT ${quoteName(request.name)}`;
    case "del":
      return `DEL ${quoteName(request.name)}`;
    case "move":
      return `MOVE ${quoteName(request.from)} ${quoteName(request.to)}`;
    case "puts":
      return "PUTS";
    case "gets":
      return "GETS";
  }
}
