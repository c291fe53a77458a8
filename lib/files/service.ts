/**
 * TCP file service (--file-port): list, stat, download and upload files in
 * --files-dir, with resume and SHA-256 verification of every transfer. The
 * protocol is in protocol.ts and README.md (File service); the directory rules in
 * store.ts.
 */
import { isDisconnect, linger, type Writer } from "../base/io.ts";
import { TcpService, type TrackedConn } from "../net/tcp_service.ts";
import type { RunningService, ServiceContext } from "../service.ts";
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
import { diskError, FileStore, StoreError } from "./store.ts";
import { LineTooLong, WireReader, writeLine } from "./wire.ts";

// After refusing an upload mid-stream, read (and drop) what the client still
// sends for this long, so it sees the ERR line instead of a connection reset.
// The wire reader is drained, not the socket: it may hold some bytes already.
const UPLOAD_LINGER = { ms: 2000, maxBytes: Infinity };
const SWEEP_EVERY_MS = 60 * 60 * 1000;

/** One connection's ends, as the request handlers use them. */
interface Session {
  conn: Deno.Conn;
  wire: WireReader;
  /** Writes to the connection, counting as activity for the idle timeout. */
  out: Writer;
  /** "127.0.0.1:50412". */
  peer: string;
}

/** Starts the file service on --file-port, storing files in --files-dir. */
export async function startFileService(context: ServiceContext): Promise<RunningService> {
  const { config, log, stats } = context;
  const store = await FileStore.open(config.filesDir, {
    maxFileSize: config.maxFileSize,
    keepPartial: config.keepPartial,
  });
  stats.filesStored = await store.count();
  let transfers = 0;

  /** One connection: requests one after another until EOF or a broken transfer. */
  async function handle(tracked: TrackedConn): Promise<void> {
    const { conn, peer } = tracked;
    const wire = new WireReader(conn, { lineBuffer: MAX_LINE, onRead: () => tracked.touch() });
    // A download only writes, so writes count as activity for the idle timeout too.
    const out: Writer = {
      write: (bytes) => {
        tracked.touch();
        return conn.write(bytes);
      },
    };
    log.event(`${FILE_LABEL} Connection from ${peer}`);
    while (true) {
      let line: string | null;
      try {
        line = await wire.readLine();
      } catch (error) {
        if (!(error instanceof LineTooLong)) throw error;
        await writeLine(out, errorLine("bad-request", `Request line over ${MAX_LINE} bytes`));
        await linger(conn, { ...UPLOAD_LINGER, reader: wire });
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
        keepOpen = await serveRequest(request, { conn, wire, out, peer });
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        log.event(`${FILE_LABEL} Refused ${describe(request)} from ${peer}: ${error.message}`);
        await writeLine(out, errorLine(error.code, error.message));
        keepOpen = true;
      }
      if (!keepOpen) break;
    }
    log.event(`${FILE_LABEL} ${peer} disconnected`);
  }

  /** Serves one request; false when the connection cannot carry another. */
  async function serveRequest(request: Request, session: Session): Promise<boolean> {
    const { out } = session;
    switch (request.kind) {
      case "list": {
        const entries = await store.list();
        stats.filesStored = entries.length;
        const lines = [`OK ${entries.length}`, ...entries.map(entryLine)];
        await writeLine(out, lines.join("\n"));
        return true;
      }
      case "stat":
        await writeLine(out, `OK ${describeFile(await store.stat(request.name))}`);
        return true;
      case "get":
        return await withTransferSlot(() => sendFile(request.name, request.offset, session));
      case "put":
        return await withTransferSlot(() =>
          receiveFile(request.name, request.size, request.force, session)
        );
    }
  }

  async function withTransferSlot(run: () => Promise<boolean>): Promise<boolean> {
    if (transfers >= config.maxTransfers) {
      throw new StoreError(
        "busy",
        `The server is running ${config.maxTransfers} transfers (--max-transfers); try again later`,
      );
    }
    transfers++;
    try {
      return await run();
    } finally {
      transfers--;
    }
  }

  /** GET: header, bytes from `offset`, then the digest of the whole file. */
  async function sendFile(name: string, offset: number, session: Session): Promise<boolean> {
    const { out, peer } = session;
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
        if (!await hashPrefix(file, offset, hash, buffer)) return shrank(name, peer);
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
            stats.bytesDownloaded += copied - counted;
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
      if (sent < length) return shrank(name, peer);
      const hex = hash ? hash.digest("hex") : entry.sha256!;
      await writeLine(out, digestLine(hex));
      if (hash) await store.recordDigest(entry, hex);
      log.event(`${FILE_LABEL} Sent ${quoteName(name)} to ${peer}, SHA-256 ${hex}`);
      return true;
    } finally {
      file.close();
    }
  }

  function shrank(name: string, peer: string): boolean {
    log.error(`${FILE_LABEL} ${quoteName(name)} shrank while being sent to ${peer}; closed`);
    return false;
  }

  /** PUT: READY <offset>, bytes to the temporary file, the client's digest, commit. */
  async function receiveFile(
    name: string,
    size: number,
    force: boolean,
    session: Session,
  ): Promise<boolean> {
    const { conn, wire, out, peer } = session;
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
        await linger(conn, { ...UPLOAD_LINGER, reader: wire }); // the client is already sending bytes
        return false;
      }
      const length = size - upload.offset;
      let counted = 0;
      let received: number;
      try {
        received = await pump(wire, upload.file, length, {
          hash: upload.hash,
          onProgress: (copied) => {
            stats.bytesUploaded += copied - counted;
            counted = copied;
          },
        });
      } catch (error) {
        if (!(error instanceof PumpError)) throw error;
        if (error.side === "read") {
          if (!isDisconnect(error.cause)) throw error.cause;
          return interrupted(name, peer, upload.offset + counted);
        }
        await upload.discard();
        const failure = diskError(name, error.cause);
        log.error(
          `${FILE_LABEL} Upload of ${quoteName(name)} from ${peer} failed: ${failure.message}`,
        );
        await writeLine(out, errorLine(failure.code, failure.message));
        await linger(conn, { ...UPLOAD_LINGER, reader: wire });
        return false;
      }
      if (received < length) return interrupted(name, peer, upload.offset + received);
      const trailer = await wire.readLine();
      if (trailer === null) return interrupted(name, peer, size);
      const expected = parseDigestLine(trailer);
      if (expected === null) {
        await upload.discard();
        throw new StoreError(
          "bad-request",
          `Expected "SHA256 <hex>" after the bytes of ${quoteName(name)}`,
        );
      }
      let stored;
      try {
        stored = await upload.commit(expected);
      } catch (error) {
        throw error instanceof StoreError ? error : diskError(name, error);
      }
      const { entry, created } = stored;
      if (created) stats.filesStored++;
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

  function interrupted(name: string, peer: string, at: number): boolean {
    log.event(
      `${FILE_LABEL} Upload of ${
        quoteName(name)
      } from ${peer} interrupted at byte ${at}; kept for resuming`,
    );
    return false;
  }

  const service = TcpService.listen({
    label: FILE_LABEL,
    service: "file service",
    hostname: config.host,
    port: config.filePort,
    log,
    maxConnections: config.maxConnections,
    idleTimeout: config.idleTimeout,
    busyReply: errorLine(
      "busy",
      `Too many connections (${config.maxConnections}); try again later`,
    ),
    guard: context.guard,
    handle,
  });
  const sweeper = setInterval(() => {
    store.sweep().catch((error) => log.error(`${FILE_LABEL} Cleaning up failed: ${error}`));
  }, SWEEP_EVERY_MS);
  return {
    label: FILE_LABEL,
    transport: "tcp",
    hostname: service.hostname,
    port: service.port,
    connections: () => service.connectionCount,
    async stop() {
      clearInterval(sweeper);
      await service.stop();
    },
  };
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
