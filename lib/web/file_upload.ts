/**
 * PUT /files/NAME: the request body streamed into the file store, through
 * the store's own upload (same name rules, --max-file-size, --max-dir-size,
 * atomic visibility once complete, SHA-256 recorded). An existing name is
 * 409 unless `?force=1`. A digest the client sends (`X-Sha256: HEX`,
 * `Digest: sha-256=BASE64` or `Repr-Digest: sha-256=:BASE64:`) must match
 * what arrived, or nothing is kept. A body that stops (the client went
 * away, or slower than --min-rate over --min-rate-window) keeps nothing.
 */
import { writeAll } from "../base/io.ts";
import { quoteName } from "../files/names.ts";
import { RateFloor } from "../files/pace.ts";
import { FileRefusal } from "../files/server/refusals.ts";
import type { FileEntry } from "../files/protocol.ts";
import type { WebContext } from "./context.ts";
import { etagOf } from "./file_download.ts";
import { jsonResponse } from "./headers.ts";
import { WEB_LABEL } from "./label.ts";

/** Bytes gathered before one write to the part file. */
const WRITE_BATCH = 1024 * 1024;

/** Why an upload body ended early. */
class BodyEnded extends Error {}

/** Answers PUT of `name`. Throws FileRefusal (bad name, exists, too large, no space, ...). */
export async function uploadResponse(
  request: Request,
  name: string,
  ctx: WebContext,
): Promise<Response> {
  const { files, log } = ctx;
  const url = new URL(request.url);
  const force = isOn(url.searchParams.get("force"));
  const declared = declaredLength(request);
  const expected = expectedDigest(request.headers);
  const { maxFileSize } = files.store.options;
  if (declared !== null && declared > maxFileSize) {
    throw new FileRefusal(
      "too-large",
      `${
        quoteName(name)
      } is ${declared} bytes, over the server's limit of ${maxFileSize} bytes (--max-file-size)`,
    );
  }
  const peer = ctx.remote.hostname;
  let stored!: { entry: FileEntry; created: boolean };
  await files.inTransferSlot(peer, async () => {
    // Always a streamed upload: an HTTP body starts at byte 0, never resumes a part.
    const upload = await files.store.beginUpload(name, null, force);
    try {
      log.event(`${WEB_LABEL} Receiving ${quoteName(name)} from ${peer}`);
      const received = await receiveBody(request, upload, ctx);
      if (declared !== null && received !== declared) {
        throw new BodyEnded(`the body ended after ${received} of ${declared} bytes`);
      }
      const actual = upload.hash.copy().digest("hex");
      stored = await upload.commit(expected ?? actual);
    } catch (error) {
      if (error instanceof BodyEnded || !(error instanceof FileRefusal)) {
        log.event(
          `${WEB_LABEL} Upload of ${quoteName(name)} from ${peer} ended early: ${
            error instanceof Error ? error.message : error
          }; nothing was kept`,
        );
      }
      if (error instanceof BodyEnded) {
        throw new FileRefusal(
          "timeout",
          `The upload of ${quoteName(name)} ended early: ${error.message}; nothing was kept`,
        );
      }
      throw error;
    } finally {
      await upload.release(); // a streamed upload that did not commit is discarded
    }
    return true;
  });
  const { entry, created } = stored;
  log.event(
    `${WEB_LABEL} Stored ${
      quoteName(name)
    } (${entry.size} bytes) from ${peer}, SHA-256 ${entry.sha256}`,
  );
  const headers: Record<string, string> = {
    "x-sha256": entry.sha256!,
    "repr-digest": `sha-256=:${hexToBase64(entry.sha256!)}:`,
    etag: etagOf(entry)!,
  };
  if (created) headers.location = new URL(request.url).pathname;
  return jsonResponse(created ? 201 : 200, {
    name: entry.name,
    size: entry.size,
    mtime: new Date(entry.mtimeMs).toISOString(),
    sha256: entry.sha256,
  }, headers);
}

/**
 * Copies the body into the upload, hashing it, in batches of WRITE_BATCH;
 * resolves to the bytes received. Throws BodyEnded when the client stops
 * or is too slow, FileRefusal when the store refuses a write.
 */
async function receiveBody(
  request: Request,
  upload: Awaited<ReturnType<WebContext["files"]["store"]["beginUpload"]>>,
  ctx: WebContext,
): Promise<number> {
  if (request.body === null) return 0;
  const reader = request.body.getReader();
  const { minRate, minRateWindow } = ctx.files.config;
  let slow = false;
  using floor = new RateFloor({
    minRate,
    windowMs: minRateWindow,
    onSlow: () => {
      slow = true;
      reader.cancel().catch(() => {});
    },
  });
  const batch = new Uint8Array(WRITE_BATCH);
  let filled = 0;
  let received = 0;
  const flush = async () => {
    if (filled === 0) return;
    await writeAll(upload.writer, batch.subarray(0, filled));
    filled = 0;
  };
  try {
    while (true) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        throw new BodyEnded(
          slow ? `slower than --min-rate` : `${error instanceof Error ? error.message : error}`,
        );
      }
      if (next.done) break;
      if (slow) throw new BodyEnded("slower than --min-rate");
      const chunk = next.value;
      upload.hash.update(chunk);
      received += chunk.length;
      floor.add(chunk.length);
      ctx.counters.bytesIn += chunk.length;
      ctx.files.counters.bytesUploaded += chunk.length;
      if (chunk.length >= WRITE_BATCH - filled) {
        await flush();
        if (chunk.length >= WRITE_BATCH) {
          await writeAll(upload.writer, chunk);
          continue;
        }
      }
      batch.set(chunk, filled);
      filled += chunk.length;
    }
    if (slow) throw new BodyEnded("slower than --min-rate");
    await flush();
    return received;
  } finally {
    reader.releaseLock();
  }
}

/** Content-Length, or null for a chunked body. */
function declaredLength(request: Request): number | null {
  const header = request.headers.get("content-length");
  if (header === null || !/^\d{1,16}$/.test(header.trim())) return null;
  return Number(header.trim());
}

/**
 * The SHA-256 the client expects, as hex, from X-Sha256, Repr-Digest or
 * Digest; null when it sent none. Throws FileRefusal bad-request for a
 * malformed value.
 */
export function expectedDigest(headers: Headers): string | null {
  const hex = headers.get("x-sha256");
  if (hex !== null) {
    const value = hex.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(value)) {
      throw new FileRefusal("bad-request", "X-Sha256 must be 64 hex digits");
    }
    return value;
  }
  for (const header of ["repr-digest", "digest"]) {
    const field = headers.get(header);
    if (field === null) continue;
    for (const part of field.split(",")) {
      const match = part.trim().match(/^sha-256=:?([A-Za-z0-9+/=]+):?$/i);
      if (match === null) continue;
      const bytes = base64ToBytes(match[1]!);
      if (bytes === null || bytes.length !== 32) {
        throw new FileRefusal("bad-request", `${header}: sha-256 must be 32 bytes in base64`);
      }
      return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
    }
  }
  return null;
}

function base64ToBytes(text: string): Uint8Array | null {
  try {
    return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
  } catch {
    return null;
  }
}

function hexToBase64(hex: string): string {
  let binary = "";
  for (let i = 0; i < hex.length; i += 2) {
    binary += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  }
  return btoa(binary);
}

/** A query flag that is on: present and not "0"/"false"/"no". */
export function isOn(value: string | null): boolean {
  return value !== null && !["0", "false", "no"].includes(value.toLowerCase());
}
