/**
 * The client's pipelined download of many small files (`GETS`): the names
 * go out in large writes while a second task reads the files back to back,
 * each checked against its SHA-256 and written synchronously to a hidden
 * part file beside its output. Per group of files: one `syncfs` (or, without
 * FFI, the files synced concurrently), then every part renamed into place
 * (without replacing a file, unless --force), then each touched folder
 * synced once: a file is visible only verified and on disk.
 */
import { dirname } from "../../base/local_path.ts";
import { RuntimeError } from "../../base/errors.ts";
import { closeQuietly, writeAll } from "../../base/io.ts";
import { renameNoReplace, syncDirectory, syncFileSystem } from "../../base/fs_libc.ts";
import { encode } from "../../base/text.ts";
import { BatchInput } from "../batch_input.ts";
import { sha256 } from "../hashing.ts";
import { quoteName } from "../names.ts";
import { parseDigestLine, parseEndLine, parseEntry, parseReply, request } from "../protocol.ts";
import { removeNow } from "../records.ts";
import { partialPath } from "./download.ts";
import type { FileSession } from "./file_client.ts";
import type { ManyHooks } from "./transfer.ts";

/** Files written before one sync makes them durable and visible. */
const GROUP_FILES = 256;
/** Bytes of names gathered before one write. */
const WRITE_RUN = 64 * 1024;

/** A server file of a pipelined download. */
export interface ManyDownItem {
  name: string;
  /** The local file it becomes (its folder exists). */
  target: string;
}

interface Written {
  item: ManyDownItem;
  part: string;
  file: Deno.FsFile;
  size: number;
  sha256: string;
}

/**
 * Downloads `items` in one `GETS`; `force` replaces existing local files.
 * Throws RuntimeError when the connection is lost (files already renamed
 * into place stay; the parts of the group in progress are removed).
 */
export async function downloadMany(
  session: FileSession,
  items: ManyDownItem[],
  force: boolean,
  hooks: ManyHooks,
): Promise<void> {
  const client = await session.client();
  await client.writeLine(request.gets());
  const ready = await client.readReply();
  if (ready.word !== "READY") {
    throw new RuntimeError(`Unexpected reply to GETS from ${client.where}: ${ready.word}`);
  }
  // The names, written while the files come back.
  const names = (async () => {
    let run = "";
    for (const item of items) {
      run += item.name + "\n";
      if (run.length >= WRITE_RUN) {
        await writeAll(client.conn, encode(run));
        run = "";
      }
    }
    await writeAll(client.conn, encode(run + "\n"));
  })();
  names.catch(() => client.close()); // the read below then reports the loss
  const group: Written[] = [];
  // A group is made durable and visible while the next one arrives (at most two at once).
  let committed: Promise<void> = Promise.resolve();
  let inFlight = 0;
  const commitGroup = async () => {
    if (inFlight >= 2) await committed;
    const files = group.splice(0);
    inFlight++;
    const previous = committed;
    committed = (async () => {
      try {
        await previous;
        await commit(files, force, hooks);
      } finally {
        inFlight--;
      }
    })();
    committed.catch(() => {}); // awaited below
  };
  const input = new BatchInput(client.wire);
  const need = async (what: () => string | Uint8Array | null, size = 0) => {
    while (true) {
      const got = what();
      if (got !== null) return got;
      if (!(await input.fill(size))) {
        throw new RuntimeError(`Lost the connection to ${client.where} during the download`);
      }
    }
  };
  try {
    for (const item of items) {
      const header = parseReply(await need(() => input.line()) as string);
      if (!header.ok) {
        hooks.refused(item.target, item.name, header.code, header.message);
        continue;
      }
      const entry = header.word === "OK" ? parseEntry(header.rest, false) : null;
      if (entry === null) throw garbled(client.where);
      const bytes = await need(() => input.bytes(entry.size), entry.size) as Uint8Array;
      const ours = sha256().update(bytes).digest("hex");
      hooks.bytes(bytes.length);
      // The bytes view is valid until the next read: write them before anything else.
      const part = partialPath(item.target).data;
      let file: Deno.FsFile | null = null;
      try {
        file = Deno.openSync(part, { write: true, create: true, truncate: true });
        for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
      } catch (error) {
        if (file !== null) closeQuietly(file);
        removeNow(part);
        const detail = error instanceof Error ? error.message : String(error);
        hooks.refused(
          item.target,
          item.name,
          "local",
          `Cannot write ${quoteName(part)}: ${detail}`,
        );
        await need(() => input.line()); // its digest line
        continue;
      }
      const theirs = parseDigestLine(await need(() => input.line()) as string);
      if (theirs !== ours) {
        closeQuietly(file);
        removeNow(part);
        hooks.refused(
          item.target,
          item.name,
          "verify-failed",
          `Verification failed for ${
            quoteName(item.name)
          }: received SHA-256 ${ours}, the server sent ${theirs ?? "no digest"}; nothing was kept`,
        );
        continue;
      }
      group.push({ item, part, file, size: bytes.length, sha256: ours });
      if (group.length >= GROUP_FILES) await commitGroup();
    }
    const end = parseEndLine(await need(() => input.line()) as string);
    if (end === null) throw garbled(client.where);
    await commitGroup();
    await committed;
    await names;
  } catch (error) {
    for (const written of group) {
      closeQuietly(written.file);
      removeNow(written.part);
    }
    client.close();
    await names.catch(() => {});
    await committed.catch(() => {});
    throw client.lost(error);
  }
}

/** Durable, then visible, then the folders durable; each file reported done or refused. */
async function commit(group: Written[], force: boolean, hooks: ManyHooks): Promise<void> {
  if (group.length === 0) return;
  try {
    if (!(await syncFileSystem(dirname(group[0]!.part)))) {
      await Promise.all(group.map((written) => written.file.syncData()));
    } else {
      // syncfs covers one file system: a group spanning others syncs those files too.
      const dev = Deno.statSync(group[0]!.part).dev;
      const others = group.filter((written) => written.file.statSync().dev !== dev);
      await Promise.all(others.map((written) => written.file.syncData()));
    }
  } finally {
    for (const written of group) closeQuietly(written.file);
  }
  const folders = new Set<string>();
  const placed: Written[] = [];
  for (const written of group) {
    const { item, part } = written;
    try {
      if (force) Deno.renameSync(part, item.target);
      else if (!renameNoReplace(part, item.target)) {
        Deno.linkSync(part, item.target); // fails if the output appeared meanwhile
        Deno.removeSync(part);
      }
      folders.add(dirname(item.target));
      placed.push(written);
    } catch (error) {
      removeNow(part);
      const why = error instanceof Deno.errors.AlreadyExists
        ? `${quoteName(item.target)} already exists (use --force to replace it)`
        : `Cannot write ${quoteName(item.target)}: ${
          error instanceof Error ? error.message : error
        }`;
      hooks.refused(item.target, item.name, "local", why);
    }
  }
  await Promise.all([...folders].map((folder) => syncDirectory(folder || ".")));
  for (const { item, size, sha256 } of placed) {
    hooks.done(item.target, item.name, size, sha256, false);
  }
}

function garbled(where: string): RuntimeError {
  return new RuntimeError(
    `Unexpected reply to GETS from ${where}: is this a socketkit file service?`,
  );
}
