/**
 * One connection to the file service: request lines one after another
 * (LIST, STAT, GET, PUT, DEL, MOVE) until end of input or a broken transfer.
 * The protocol is in protocol.ts and docs/files.md; the directory rules in
 * store.ts; pacing and the speed floor in pace.ts.
 */
import { within } from "../base/deadline.ts";
import { isDisconnect, linger, type Writer } from "../base/io.ts";
import type { Logger } from "../base/logger.ts";
import { formatBytes } from "../base/progress.ts";
import type { TrackedConn } from "../net/tcp_service.ts";
import type { FilesConfig } from "./config.ts";
import { hashPrefix, loadHashing, sha256 } from "./hashing.ts";
import { quoteName } from "./names.ts";
import { RateFloor, throttleFor } from "./pace.ts";
import {
  CHUNK_SIZE,
  describeFile,
  digestLine,
  entryLine,
  errorLine,
  FILE_LABEL,
  MAX_LINE,
  parseChunkLine,
  parseDigestLine,
  parseRequest,
  type Request,
} from "./protocol.ts";
import { pump, PumpError } from "./pump.ts";
import type { FileCounters } from "./status.ts";
import { diskError, type FileStore, StoreError, type Upload } from "./store.ts";
import { LineTimeout, LineTooLong, WireReader, writeLine } from "./wire.ts";

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

/** LIST lines per write. */
const LIST_SLICE = 256;

/** What every connection of one file service shares. */
export interface FileServiceState {
  store: FileStore;
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
   * --max-transfers-per-ip of them for `peerHost`); throws StoreError busy
   * when none is free.
   */
  inTransferSlot(peerHost: string, run: () => Promise<boolean>): Promise<boolean>;
}

/** Raised inside an upload that must end with an ERR line; nothing of it is kept. */
class Refusal extends Error {
  readonly error: StoreError;
  /** A read is still pending on the connection (a line deadline passed). */
  readonly readPending: boolean;
  constructor(error: StoreError, readPending = false) {
    super(error.message);
    this.error = error;
    this.readPending = readPending;
  }
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
      await loadHashing(); // at once but for the first connections after start-up
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
        if (!(error instanceof StoreError)) throw error;
        log.event(
          `${FILE_LABEL} Refused ${describe(request)} from ${this.#peer}: ${error.message}`,
        );
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
        const entries = await store.list(request.prefix);
        await writeLine(this.#out, `OK ${entries.length}`);
        // In slices: a listing of a large store is written as the client reads it.
        for (let i = 0; i < entries.length; i += LIST_SLICE) {
          await writeLine(this.#out, entries.slice(i, i + LIST_SLICE).map(entryLine).join("\n"));
        }
        return true;
      }
      case "stat":
        await writeLine(this.#out, `OK ${describeFile(store.stat(request.name))}`);
        return true;
      case "get":
        return await slot(() => this.#send(request.name, request.offset));
      case "put":
        return await slot(() => this.#receive(request.name, request.size, request.force));
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
      throw new StoreError(
        "forbidden",
        "Deleting and renaming are turned off on this server (serve --allow-delete turns them on)",
      );
    }
    if (tokenRequired && !this.#tracked.authenticated) {
      throw new StoreError(
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
        throw new StoreError(
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

  /**
   * PUT: READY <offset>, bytes to the temporary file (`size` of them, or
   * chunks when size is null), the client's digest, commit.
   */
  async #receive(name: string, size: number | null, force: boolean): Promise<boolean> {
    const { store, log } = this.#state;
    const out = this.#out;
    const peer = this.#peer;
    const upload = await store.beginUpload(name, size, force);
    try {
      await writeLine(out, `READY ${upload.offset}`);
      const resumed = upload.offset > 0 ? `, resuming at byte ${upload.offset}` : "";
      const length = size === null ? "streamed" : `${size} bytes`;
      log.event(
        `${FILE_LABEL} Receiving ${quoteName(name)} (${length}) from ${peer}${resumed}`,
      );
      const buffer = new Uint8Array(Math.min(CHUNK_SIZE, Math.max(size ?? 1, 1)));
      if (!await hashPrefix(upload.file, upload.offset, upload.hash, buffer)) {
        upload.discard(); // the part file shrank under us: start clean next time
        const failure = `The partial upload of ${quoteName(name)} was damaged; retry`;
        log.error(`${FILE_LABEL} ${failure}`);
        await writeLine(out, errorLine("io", failure));
        await this.#linger(); // the client is already sending bytes
        return false;
      }
      // One floor for the whole transfer: chunk headers and the trailer
      // included, so a trickle of tiny chunks is caught too.
      using floor = this.#floor(`Upload of ${quoteName(name)}`, { resumable: size !== null });
      let complete: boolean;
      try {
        complete = size === null
          ? await this.#chunks(upload, floor)
          : await this.#copyIn(upload, size - upload.offset, floor);
      } catch (error) {
        if (error instanceof Refusal) return await this.#refuseUpload(upload, error);
        throw error;
      }
      if (!complete) return await this.#interrupted(upload);
      let trailer: string | null;
      try {
        trailer = await this.#wire.readLine();
      } catch (error) {
        const refusal = lineRefusal(
          error,
          `After the bytes of ${quoteName(name)}, the "SHA256 <hex>" line`,
        );
        if (refusal === null) throw error;
        return await this.#refuseUpload(upload, new Refusal(refusal, error instanceof LineTimeout));
      }
      floor.stop();
      if (trailer === null) return await this.#interrupted(upload);
      const expected = parseDigestLine(trailer);
      if (expected === null) {
        upload.discard();
        throw new StoreError(
          "bad-request",
          `Expected "SHA256 <hex>" after the bytes of ${quoteName(name)}; nothing was kept`,
        );
      }
      const { entry } = await upload.commit(expected);
      log.event(
        `${FILE_LABEL} Stored ${
          quoteName(name)
        } (${entry.size} bytes) from ${peer}, SHA-256 ${entry.sha256}`,
      );
      await writeLine(out, `OK ${entry.sha256}`);
      return true;
    } finally {
      await upload.release();
    }
  }

  /**
   * The chunks of a streamed PUT ("<n>\n" + n bytes, "0\n" at the end);
   * false when the client went away first. Throws Refusal.
   */
  async #chunks(upload: Upload, floor: RateFloor): Promise<boolean> {
    while (true) {
      let header: string | null;
      try {
        header = await this.#wire.readLine();
      } catch (error) {
        const refusal = lineRefusal(error, "A chunk length line");
        if (refusal === null) throw error;
        throw new Refusal(refusal, error instanceof LineTimeout);
      }
      if (header === null) return false;
      const length = parseChunkLine(header);
      if (length === null) {
        throw new Refusal(
          new StoreError(
            "bad-request",
            `Expected a chunk length (0 to 16777216, 0 ends the file) in the upload of ${
              quoteName(upload.name)
            }; nothing was kept`,
          ),
        );
      }
      if (length === 0) return true;
      if (!(await this.#copyIn(upload, length, floor))) return false;
    }
  }

  /**
   * Copies `length` bytes from the client into the upload, paced by
   * --max-rate-per-conn and watched by --min-rate. False when the client
   * went away first; throws Refusal for a full store or disk.
   */
  async #copyIn(upload: Upload, length: number, floor: RateFloor): Promise<boolean> {
    const { counters, config } = this.#state;
    let received: number;
    try {
      received = await pump(this.#wire, upload.writer, length, {
        hash: upload.hash,
        throttle: throttleFor(config.maxRatePerConn),
        onProgress: (_, moved) => {
          counters.bytesUploaded += moved;
          floor.add(moved);
        },
      });
    } catch (error) {
      if (!(error instanceof PumpError)) throw error;
      if (error.side === "read") {
        if (!isDisconnect(error.cause)) throw error.cause;
        return false;
      }
      throw new Refusal(diskError(upload.name, error.cause));
    }
    return received === length;
  }

  /** Ends an upload with an ERR line; nothing of it is kept. */
  async #refuseUpload(upload: Upload, refusal: Refusal): Promise<boolean> {
    upload.discard();
    const { error } = refusal;
    const { log } = this.#state;
    const line = `${FILE_LABEL} Upload of ${
      quoteName(upload.name)
    } from ${this.#peer} refused: ${error.message}`;
    if (error.code === "no-space" || error.code === "io") log.error(line);
    else log.event(line);
    const reply = errorLine(error.code, error.message);
    if (refusal.readPending) {
      await this.#lastWord(reply, 0); // a read is still pending: no draining
    } else {
      await writeLine(this.#out, reply).catch(() => {});
      await this.#linger();
    }
    return false;
  }

  /** Keeps (or, for a stream, drops) what arrived, then says so. */
  async #interrupted(upload: Upload): Promise<boolean> {
    await upload.release(); // --max-partial applies before the line below is logged
    const kept = upload.size === null
      ? "a streamed upload cannot resume, so nothing was kept"
      : "kept for resuming";
    this.#state.log.event(
      `${FILE_LABEL} Upload of ${
        quoteName(upload.name)
      } from ${this.#peer} interrupted at byte ${upload.received}; ${kept}`,
    );
    return false;
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

/** A line that broke the rules (too long, too slow) as the ERR to send, or null. */
function lineRefusal(error: unknown, what: string): StoreError | null {
  if (error instanceof LineTooLong) {
    return new StoreError("bad-request", `${what} is over ${MAX_LINE} bytes without a newline`);
  }
  if (error instanceof LineTimeout) {
    return new StoreError(
      "timeout",
      `${what} was not completed within ${error.ms / 1000} s of its first byte (--request-timeout)`,
    );
  }
  return null;
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
  }
}
