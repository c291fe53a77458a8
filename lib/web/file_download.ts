/**
 * GET and HEAD of a stored file: Content-Length, an ETag that is the
 * file's SHA-256, Last-Modified, one byte range (206, or 416 past the end),
 * If-Range and If-None-Match, so `curl -C -` and `wget -c` resume. A whole
 * file whose digest is known goes out through Deno's own file stream; a
 * range, or a file whose digest is not known yet (copied in by hand), is
 * read here, the latter hashed on the way and its digest recorded.
 */
import type { Hash } from "node:crypto";
import { closeQuietly } from "../base/io.ts";
import { join } from "../base/path.ts";
import { loadHashing, sha256 } from "../files/hashing.ts";
import type { FileEntry } from "../files/protocol.ts";
import { contentTypeFor, STORED_FILE_POLICY } from "./content_type.ts";
import type { WebContext } from "./context.ts";
import { SECURITY_HEADERS } from "./headers.ts";
import { ifRangeHolds, noneMatchHits, parseRange } from "./range.ts";
import { SMALL_FILE_MAX } from "./small_files.ts";
import { claimSlot } from "./transfer_slot.ts";

/** Bytes per read when the stream is read here. */
const READ_CHUNK = 256 * 1024;

/** What every download carries: the security headers, under the stored files' own policy. */
const FILE_HEADERS: readonly [string, string][] = [
  ...SECURITY_HEADERS.filter(([name]) => name !== "content-security-policy"),
  ["content-security-policy", STORED_FILE_POLICY],
];

/** The entity tag of a file: its SHA-256 in quotes, or null when not known. */
export function etagOf(entry: FileEntry): string | null {
  return entry.sha256 === null ? null : `"${entry.sha256}"`;
}

/** What a GET or HEAD asks of one file: the answer's status, headers and bytes. */
type Plan =
  | { done: Response }
  | { done: null; status: number; headers: Headers; start: number; length: number; whole: boolean };

/** Status and headers for `entry` as `request` asks for it (ranges, conditionals, HEAD). */
function plan(request: Request, name: string, entry: FileEntry): Plan {
  const etag = etagOf(entry);
  const lastModified = new Date(entry.mtimeMs).toUTCString();
  // One list, one Headers at the end: each set() on a Headers costs a validation pass.
  const list: [string, string][] = [
    ...FILE_HEADERS,
    ["accept-ranges", "bytes"],
    ["last-modified", lastModified],
    ["cache-control", "no-cache"],
  ];
  if (etag !== null) list.push(["etag", etag]);
  if (noneMatchHits(request.headers.get("if-none-match"), etag)) {
    return { done: new Response(null, { status: 304, headers: list }) };
  }
  const query = request.url.indexOf("?");
  if (query >= 0 && new URLSearchParams(request.url.slice(query + 1)).has("download")) {
    list.push(["content-disposition", attachment(name)]);
  }
  const size = entry.size;
  const asked = ifRangeHolds(request.headers.get("if-range"), etag, lastModified)
    ? parseRange(request.headers.get("range"), size)
    : null;
  if (asked === "unsatisfiable") {
    list.push(["content-range", `bytes */${size}`]);
    return { done: new Response(null, { status: 416, headers: list }) };
  }
  list.push(["content-type", contentTypeFor(name)]);
  const start = asked?.start ?? 0;
  const length = asked === null ? size : asked.end - asked.start + 1;
  const status = asked === null ? 200 : 206;
  if (asked !== null) list.push(["content-range", `bytes ${start}-${asked.end}/${size}`]);
  list.push(["content-length", String(length)]);
  const headers = new Headers(list);
  if (request.method === "HEAD") return { done: new Response(null, { status, headers }) };
  return { done: null, status, headers, start, length, whole: asked === null };
}

/** The answer from a small file's bytes in memory. */
function respond(
  request: Request,
  name: string,
  entry: FileEntry,
  bytes: Uint8Array<ArrayBuffer>,
  ctx: WebContext,
): Response {
  const planned = plan(request, name, entry);
  if (planned.done !== null) return planned.done;
  const { status, headers, start, length } = planned;
  ctx.counters.bytesOut += length;
  ctx.files.counters.bytesDownloaded += length;
  return new Response(bytes.subarray(start, start + length), { status, headers });
}

/** Answers GET or HEAD of stored file `name`. Throws FileRefusal (not found, busy, ...). */
export async function downloadResponse(
  request: Request,
  name: string,
  ctx: WebContext,
): Promise<Response> {
  const { store } = ctx.files;
  const kept = ctx.smallFiles.get(name);
  if (kept !== null) return respond(request, name, kept.entry, kept.bytes, ctx);
  const { file, entry } = await store.openRead(name);
  let handedOver = false;
  try {
    if (entry.size <= SMALL_FILE_MAX && entry.sha256 !== null) {
      // Small and known: read whole, kept for the next request, answered from memory.
      const bytes = await readExactly(file, entry.size);
      const path = join(store.dir, ...name.split("/"));
      ctx.smallFiles.put(path, entry, bytes, file.statSync());
      return respond(request, name, entry, bytes, ctx);
    }
    const planned = plan(request, name, entry);
    if (planned.done !== null) return planned.done;
    const { status, headers, start, length, whole } = planned;
    await claimSlot(ctx.files, ctx.remote.hostname, ctx.completed);
    ctx.completed.then(() => {
      ctx.counters.bytesOut += length;
      ctx.files.counters.bytesDownloaded += length;
    }, () => {});
    let body: ReadableStream<Uint8Array>;
    if (whole && entry.sha256 !== null) {
      body = file.readable; // closes the file when done or cancelled
    } else {
      let hash: Hash | undefined;
      if (whole) {
        await loadHashing();
        hash = sha256();
      } else if (start > 0) {
        await file.seek(start, Deno.SeekMode.Start);
      }
      body = readStream(
        file,
        length,
        hash && {
          hash,
          done: (hex) => store.recordDigest(entry, hex),
        },
      );
    }
    handedOver = true;
    return new Response(body, { status, headers });
  } finally {
    if (!handedOver) closeQuietly(file);
  }
}

/**
 * `length` bytes of `file` from where it stands, as a stream; the file is
 * closed at the end or when the stream is cancelled. With `digest`, the
 * bytes are hashed and `done` is told the hex digest once all were read.
 */
function readStream(
  file: Deno.FsFile,
  length: number,
  digest?: { hash: Hash; done(hex: string): void },
): ReadableStream<Uint8Array> {
  let left = length;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (left === 0) {
          closeQuietly(file);
          controller.close();
          return;
        }
        const buffer = new Uint8Array(Math.min(READ_CHUNK, left));
        const n = await file.read(buffer);
        if (n === null) {
          // Cut short: the client sees fewer bytes than Content-Length said.
          closeQuietly(file);
          controller.error(new Error("the file ended early"));
          return;
        }
        const chunk = buffer.subarray(0, n);
        digest?.hash.update(chunk);
        left -= n;
        controller.enqueue(chunk);
        if (left === 0) {
          closeQuietly(file);
          if (digest) digest.done(digest.hash.digest("hex"));
          controller.close();
        }
      } catch (error) {
        closeQuietly(file);
        controller.error(error);
      }
    },
    cancel() {
      closeQuietly(file);
    },
  });
}

/** `length` bytes from where `file` stands; throws when it ends first. */
async function readExactly(file: Deno.FsFile, length: number): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = new Uint8Array(length);
  for (let got = 0; got < length;) {
    const n = await file.read(bytes.subarray(got));
    if (n === null) throw new Error("the file ended early");
    got += n;
  }
  return bytes;
}

/** Content-Disposition for saving a file under its last segment (RFC 6266, UTF-8 form). */
export function attachment(name: string): string {
  const base = name.slice(name.lastIndexOf("/") + 1);
  const ascii = base.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(base)}`;
}
