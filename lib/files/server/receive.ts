/**
 * PUT on the server: READY <offset>, the bytes into the upload's part file
 * (`size` of them, or chunks when the size is not known), the client's
 * digest, commit; or the ERR line that ends it, or an interruption that
 * keeps it for resuming. The connection it runs on is FileConnection.
 */
import { isDisconnect, type Writer } from "../../base/io.ts";
import type { Logger } from "../../base/logger.ts";
import { hashPrefix } from "../hashing.ts";
import { quoteName } from "../names.ts";
import { type RateFloor, throttleFor } from "../pace.ts";
import { CHUNK_SIZE, errorLine, FILE_LABEL, parseChunkLine, parseDigestLine } from "../protocol.ts";
import { pump, PumpError } from "../pump.ts";
import type { FileCounters } from "../status.ts";
import { LineTimeout, type WireReader, writeLine } from "../../net/wire_reader.ts";
import { diskError, FileRefusal, lineRefusal } from "./refusals.ts";
import type { FileStore } from "./store.ts";
import type { Upload } from "./upload.ts";

/** What receiving an upload needs of its connection. */
export interface UploadChannel {
  /** The connection's reader: request lines and bytes. */
  wire: WireReader;
  /** Writes to the client. */
  out: Writer;
  /** The client's address, for log lines. */
  peer: string;
  store: FileStore;
  log: Logger;
  /** The service's counters; bytes received are added as they arrive. */
  counters: Pick<FileCounters, "bytesUploaded">;
  /** --max-rate-per-conn, bytes per second; 0: no limit. */
  maxRatePerConn: number;
  /** Watches the transfer against --min-rate; ends it with an ERR line when too slow. */
  floor(what: string, upload: { resumable: boolean }): RateFloor;
  /** Drains what a refused client still sends. */
  linger(): Promise<void>;
  /** A last line, then the connection closed `graceMs` later (0: at once). */
  lastWord(line: string, graceMs: number): Promise<void>;
}

/**
 * Raised inside an upload that must end with an ERR line (a bad chunk line,
 * a full disk, a line deadline); nothing of it is kept.
 */
class UploadRefused extends Error {
  readonly error: FileRefusal;
  /** A read is still pending on the connection (a line deadline passed). */
  readonly readPending: boolean;
  constructor(error: FileRefusal, readPending = false) {
    super(error.message);
    this.error = error;
    this.readPending = readPending;
  }
}

/**
 * PUT: READY <offset>, bytes to the temporary file (`size` of them, or
 * chunks when size is null), the client's digest, commit. False when the
 * connection cannot carry another request. Throws FileRefusal (refused
 * before or at the commit), which the connection sends as its ERR line.
 */
export async function receiveUpload(
  channel: UploadChannel,
  name: string,
  size: number | null,
  force: boolean,
): Promise<boolean> {
  const { store, log, out, peer } = channel;
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
      await channel.linger(); // the client is already sending bytes
      return false;
    }
    // One floor for the whole transfer: chunk headers and the trailer
    // included, so a trickle of tiny chunks is caught too.
    using floor = channel.floor(`Upload of ${quoteName(name)}`, { resumable: size !== null });
    let complete: boolean;
    try {
      complete = size === null
        ? await readChunks(channel, upload, floor)
        : await copyIn(channel, upload, size - upload.offset, floor);
    } catch (error) {
      if (error instanceof UploadRefused) return await refuseUpload(channel, upload, error);
      throw error;
    }
    if (!complete) return await interrupted(channel, upload);
    let trailer: string | null;
    try {
      trailer = await channel.wire.readLine();
    } catch (error) {
      const refusal = lineRefusal(
        error,
        `After the bytes of ${quoteName(name)}, the "SHA256 <hex>" line`,
      );
      if (refusal === null) throw error;
      return await refuseUpload(
        channel,
        upload,
        new UploadRefused(refusal, error instanceof LineTimeout),
      );
    }
    floor.stop();
    if (trailer === null) return await interrupted(channel, upload);
    const expected = parseDigestLine(trailer);
    if (expected === null) {
      upload.discard();
      throw new FileRefusal(
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
 * false when the client went away first. Throws UploadRefused.
 */
async function readChunks(
  channel: UploadChannel,
  upload: Upload,
  floor: RateFloor,
): Promise<boolean> {
  while (true) {
    let header: string | null;
    try {
      header = await channel.wire.readLine();
    } catch (error) {
      const refusal = lineRefusal(error, "A chunk length line");
      if (refusal === null) throw error;
      throw new UploadRefused(refusal, error instanceof LineTimeout);
    }
    if (header === null) return false;
    const length = parseChunkLine(header);
    if (length === null) {
      throw new UploadRefused(
        new FileRefusal(
          "bad-request",
          `Expected a chunk length (0 to 16777216, 0 ends the file) in the upload of ${
            quoteName(upload.name)
          }; nothing was kept`,
        ),
      );
    }
    if (length === 0) return true;
    if (!(await copyIn(channel, upload, length, floor))) return false;
  }
}

/**
 * Copies `length` bytes from the client into the upload, paced by
 * --max-rate-per-conn and watched by --min-rate. False when the client
 * went away first; throws UploadRefused for a full store or disk.
 */
async function copyIn(
  channel: UploadChannel,
  upload: Upload,
  length: number,
  floor: RateFloor,
): Promise<boolean> {
  const { counters, maxRatePerConn } = channel;
  let received: number;
  try {
    received = await pump(channel.wire, upload.writer, length, {
      hash: upload.hash,
      throttle: throttleFor(maxRatePerConn),
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
    throw new UploadRefused(diskError(upload.name, error.cause));
  }
  return received === length;
}

/** Ends an upload with an ERR line; nothing of it is kept. */
async function refuseUpload(
  channel: UploadChannel,
  upload: Upload,
  refusal: UploadRefused,
): Promise<boolean> {
  upload.discard();
  const { error } = refusal;
  const { log } = channel;
  const line = `${FILE_LABEL} Upload of ${
    quoteName(upload.name)
  } from ${channel.peer} refused: ${error.message}`;
  if (error.code === "no-space" || error.code === "io") log.error(line);
  else log.event(line);
  const reply = errorLine(error.code, error.message);
  if (refusal.readPending) {
    await channel.lastWord(reply, 0); // a read is still pending: no draining
  } else {
    await writeLine(channel.out, reply).catch(() => {});
    await channel.linger();
  }
  return false;
}

/** Keeps (or, for a stream, drops) what arrived, then says so. */
async function interrupted(channel: UploadChannel, upload: Upload): Promise<boolean> {
  await upload.release(); // --max-partial applies before the line below is logged
  const kept = upload.size === null
    ? "a streamed upload cannot resume, so nothing was kept"
    : "kept for resuming";
  channel.log.event(
    `${FILE_LABEL} Upload of ${
      quoteName(upload.name)
    } from ${channel.peer} interrupted at byte ${upload.received}; ${kept}`,
  );
  return false;
}
