/**
 * GET /files/FOLDER/?archive=tar: every file under a folder as one tar,
 * streamed as it is read (no temporary file, memory bounded by one read),
 * inside a top folder named after the folder. Files removed meanwhile are
 * skipped; each file's size is the one it had when opened.
 */
import { closeQuietly } from "../base/io.ts";
import type { WebContext } from "./context.ts";
import { attachment } from "./file_download.ts";
import { withSecurityHeaders } from "./headers.ts";
import { tarEnd, tarHeader, tarPadding } from "./tar.ts";
import { claimSlot } from "./transfer_slot.ts";
import { FileRefusal } from "../files/server/refusals.ts";

const READ_CHUNK = 256 * 1024;

/** The tar of `folder` ("" for the top). Throws FileRefusal (no such folder, busy). */
export async function archiveResponse(folder: string, ctx: WebContext): Promise<Response> {
  const { store } = ctx.files;
  const entries = await store.list(folder === "" ? null : folder);
  const top = folder === "" ? "files" : folder.slice(folder.lastIndexOf("/") + 1);
  const prefix = folder === "" ? "" : folder + "/";
  await claimSlot(ctx.files, ctx.remote.hostname, ctx.completed);
  const counters = ctx.counters;
  const fileCounters = ctx.files.counters;
  let index = -1;
  let current: { file: Deno.FsFile; left: number; size: number } | null = null;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        // Each pull enqueues something or ends the stream: a pull that does
        // neither is never followed by another.
        while (true) {
          if (current !== null) {
            const open = current;
            const buffer = new Uint8Array(Math.min(READ_CHUNK, open.left));
            const n = open.left === 0 ? null : await open.file.read(buffer);
            if (n !== null) {
              open.left -= n;
              return enqueue(controller, buffer.subarray(0, n));
            }
            // Done (or the file shrank: zeros keep the archive readable).
            closeQuietly(open.file);
            current = null;
            const tail = new Uint8Array(open.left + tarPadding(open.size).length);
            if (tail.length > 0) return enqueue(controller, tail);
            continue;
          }
          while (++index < entries.length) {
            const entry = entries[index]!;
            let opened: Awaited<ReturnType<typeof store.openRead>>;
            try {
              opened = await store.openRead(entry.name);
            } catch (error) {
              if (error instanceof FileRefusal) continue; // removed or replaced meanwhile
              throw error;
            }
            const { file, entry: now } = opened;
            current = { file, left: now.size, size: now.size };
            const path = `${top}/${now.name.slice(prefix.length)}`;
            return enqueue(controller, tarHeader({ path, size: now.size, mtimeMs: now.mtimeMs }));
          }
          enqueue(controller, tarEnd());
          controller.close();
          return;
        }
      } catch (error) {
        if (current !== null) closeQuietly(current.file);
        controller.error(error);
      }
    },
    cancel() {
      if (current !== null) closeQuietly(current.file);
    },
  });

  function enqueue(controller: ReadableStreamDefaultController<Uint8Array>, bytes: Uint8Array) {
    counters.bytesOut += bytes.length;
    fileCounters.bytesDownloaded += bytes.length;
    controller.enqueue(bytes);
  }

  const headers = withSecurityHeaders(new Headers());
  headers.set("content-type", "application/x-tar");
  headers.set("content-disposition", attachment(`${top}.tar`));
  headers.set("cache-control", "no-store");
  return new Response(body, { status: 200, headers });
}
