/**
 * One connection to the file service: request lines one after another
 * (LIST, STAT, GET, PUT) until end of input or a broken transfer. The
 * protocol is in protocol.ts and docs/files.md; the directory
 * rules in store.ts.
 */
import { isDisconnect, linger, type Writer } from "../base/io.ts";
import type { Logger } from "../base/logger.ts";
import type { TrackedConn } from "../net/tcp_service.ts";
import { hashPrefix, sha256 } from "./hashing.ts";
import { quoteName } from "./names.ts";
import {
  CHUNK_SIZE,
  describeFile,
  digestLine,
  entryLine,
  errorLine,
  FILE_LABEL,
  MAX_LINE,
  parseDigestLine,
  parseRequest,
  type Request,
} from "./protocol.ts";
import { pump, PumpError } from "./pump.ts";
import type { FileCounters } from "./status.ts";
import { diskError, type FileStore, StoreError } from "./store.ts";
import { LineTooLong, WireReader, writeLine } from "./wire.ts";

// After refusing an upload mid-stream, read (and drop) what the client still
// sends for this long, so it sees the ERR line instead of a connection reset.
// The wire reader is drained, not the socket: it may hold some bytes already.
const UPLOAD_LINGER = { ms: 2000, maxBytes: Infinity };

/** What every connection of one file service shares. */
export interface FileServiceState {
  store: FileStore;
  log: Logger;
  /** Bytes moved, for STATUS (files stored are the store's count). */
  counters: Pick<FileCounters, "bytesUploaded" | "bytesDownloaded">;
  /** Runs a transfer in one of --max-transfers slots; throws StoreError busy when none is free. */
  inTransferSlot(run: () => Promise<boolean>): Promise<boolean>;
}

/** Serves one connection; see the module comment. */
export class FileConnection {
  #conn: Deno.Conn;
  #peer: string;
  #wire: WireReader;
  /** Writes to the connection, counting as activity for the idle timeout. */
  #out: Writer;
  #state: FileServiceState;

  constructor(tracked: TrackedConn, state: FileServiceState) {
    const { conn } = tracked;
    this.#conn = conn;
    this.#peer = tracked.peer;
    this.#state = state;
    this.#wire = new WireReader(conn, { lineBuffer: MAX_LINE, onRead: () => tracked.touch() });
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
    const { log } = this.#state;
    const out = this.#out;
    log.event(`${FILE_LABEL} Connection from ${this.#peer}`);
    while (true) {
      let line: string | null;
      try {
        line = await this.#wire.readLine();
      } catch (error) {
        if (!(error instanceof LineTooLong)) throw error;
        await writeLine(out, errorLine("bad-request", `Request line over ${MAX_LINE} bytes`));
        await this.#linger();
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
    const { store, inTransferSlot } = this.#state;
    switch (request.kind) {
      case "list": {
        const entries = await store.list();
        const lines = [`OK ${entries.length}`, ...entries.map(entryLine)];
        await writeLine(this.#out, lines.join("\n"));
        return true;
      }
      case "stat":
        await writeLine(this.#out, `OK ${describeFile(await store.stat(request.name))}`);
        return true;
      case "get":
        return await inTransferSlot(() => this.#send(request.name, request.offset));
      case "put":
        return await inTransferSlot(() => this.#receive(request.name, request.size, request.force));
    }
  }

  /** GET: header, bytes from `offset`, then the digest of the whole file. */
  async #send(name: string, offset: number): Promise<boolean> {
    const { store, log, counters } = this.#state;
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
      let counted = 0;
      let sent: number;
      try {
        sent = await pump(file, out, length, {
          ...(hash ? { hash } : {}),
          onProgress: (copied) => {
            counters.bytesDownloaded += copied - counted;
            counted = copied;
          },
        });
      } catch (error) {
        if (error instanceof PumpError && error.side === "write") {
          log.event(`${FILE_LABEL} ${peer} stopped downloading ${quoteName(name)}`);
          return false;
        }
        throw error;
      }
      if (sent < length) return this.#shrank(name);
      const hex = hash ? hash.digest("hex") : entry.sha256!;
      await writeLine(out, digestLine(hex));
      if (hash) await store.recordDigest(entry, hex);
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

  /** PUT: READY <offset>, bytes to the temporary file, the client's digest, commit. */
  async #receive(name: string, size: number, force: boolean): Promise<boolean> {
    const { store, log, counters } = this.#state;
    const out = this.#out;
    const peer = this.#peer;
    const upload = await store.beginUpload(name, size, force);
    try {
      await writeLine(out, `READY ${upload.offset}`);
      const resumed = upload.offset > 0 ? `, resuming at byte ${upload.offset}` : "";
      log.event(
        `${FILE_LABEL} Receiving ${quoteName(name)} (${size} bytes) from ${peer}${resumed}`,
      );
      const buffer = new Uint8Array(Math.min(CHUNK_SIZE, Math.max(size, 1)));
      if (!await hashPrefix(upload.file, upload.offset, upload.hash, buffer)) {
        await upload.discard(); // the part file shrank under us: start clean next time
        const failure = `The partial upload of ${quoteName(name)} was damaged; retry`;
        log.error(`${FILE_LABEL} ${failure}`);
        await writeLine(out, errorLine("io", failure));
        await this.#linger(); // the client is already sending bytes
        return false;
      }
      const length = size - upload.offset;
      let counted = 0;
      let received: number;
      try {
        received = await pump(this.#wire, upload.file, length, {
          hash: upload.hash,
          onProgress: (copied) => {
            counters.bytesUploaded += copied - counted;
            counted = copied;
          },
        });
      } catch (error) {
        if (!(error instanceof PumpError)) throw error;
        if (error.side === "read") {
          if (!isDisconnect(error.cause)) throw error.cause;
          return this.#interrupted(name, upload.offset + counted);
        }
        await upload.discard();
        const failure = diskError(name, error.cause);
        log.error(
          `${FILE_LABEL} Upload of ${quoteName(name)} from ${peer} failed: ${failure.message}`,
        );
        await writeLine(out, errorLine(failure.code, failure.message));
        await this.#linger();
        return false;
      }
      if (received < length) return this.#interrupted(name, upload.offset + received);
      const trailer = await this.#wire.readLine();
      if (trailer === null) return this.#interrupted(name, size);
      const expected = parseDigestLine(trailer);
      if (expected === null) {
        await upload.discard();
        throw new StoreError(
          "bad-request",
          `Expected "SHA256 <hex>" after the bytes of ${quoteName(name)}`,
        );
      }
      let entry;
      try {
        ({ entry } = await upload.commit(expected));
      } catch (error) {
        throw error instanceof StoreError ? error : diskError(name, error);
      }
      log.event(
        `${FILE_LABEL} Stored ${
          quoteName(name)
        } (${size} bytes) from ${peer}, SHA-256 ${entry.sha256}`,
      );
      await writeLine(out, `OK ${entry.sha256}`);
      return true;
    } finally {
      upload.release();
    }
  }

  #interrupted(name: string, at: number): boolean {
    this.#state.log.event(
      `${FILE_LABEL} Upload of ${
        quoteName(name)
      } from ${this.#peer} interrupted at byte ${at}; kept for resuming`,
    );
    return false;
  }

  /** Drains what a refused client still sends, through the wire reader. */
  #linger(): Promise<void> {
    return linger(this.#conn, { ...UPLOAD_LINGER, reader: this.#wire });
  }
}

function describe(request: Request): string {
  switch (request.kind) {
    case "list":
      return "LIST";
    case "stat":
      return `STAT ${quoteName(request.name)}`;
    case "get":
      return `GET ${quoteName(request.name)}`;
    case "put":
      return `PUT ${quoteName(request.name)}`;
  }
}
