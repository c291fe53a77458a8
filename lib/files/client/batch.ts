/**
 * Several files in one command: which local files an upload of PATH...
 * sends (folders walked, names `folder/sub/file`), which server files a
 * download of NAME... fetches (folders listed), and running them one after
 * another over one connection with one progress display. A file already
 * there and identical is skipped and a partial one resumes, so re-running
 * an interrupted command finishes it.
 */
import {
  basename,
  dirname,
  joinPath as join,
  resolvePath as resolve,
} from "../../base/local_path.ts";
import { RuntimeError } from "../../base/errors.ts";
import { type FileSession, ServerError } from "./file_client.ts";
import { canonicalName, nameRefusal, quoteName } from "../names.ts";
import type { FileEntry } from "../protocol.ts";
import { pathExists } from "../../base/fs_libc.ts";
import { loadHashing, sha256, SMALL_HASH_BYTES } from "../hashing.ts";
import { statNow } from "../records.ts";
import { downloadFile } from "./download.ts";
import { downloadMany } from "./many_down.ts";
import { uploadMany } from "./many_up.ts";
import { type BatchOptions, type BatchSummary, BatchTracker } from "./tracker.ts";
import { localReadError, uploadFile } from "./upload.ts";

/** One local file of an upload. */
export interface UploadItem {
  path: string;
  /** Its name on the server (NFC). */
  name: string;
  size: number;
  /** Found in a folder whose listing the batch fetches first. */
  listed: boolean;
}

/** One server file of a download. */
export interface DownloadItem {
  name: string;
  /** The local file it becomes. */
  target: string;
  /** What the server said about it when the download was planned. */
  entry: FileEntry;
}

/** What an upload of PATH... sends. */
export interface UploadPlan {
  items: UploadItem[];
  /** Server folders (one per folder given) whose listing says what is already there. */
  folders: string[];
  /** More than one PATH, or a folder: reported as a batch. */
  batch: boolean;
  /** Local entries not sent (hidden names, symlinks inside folders, devices), and why. */
  left: { path: string; why: string }[];
}

/** What a download of NAME... fetches. */
export interface DownloadPlan {
  items: DownloadItem[];
  /** More than one NAME, or a folder: reported as a batch. */
  batch: boolean;
}

export type { BatchOptions, BatchSummary, RefusedFile } from "./tracker.ts";

/**
 * Walks the PATHs: files as they are, folders recursively (names keep the
 * folder's own name as their first segment; `name` replaces the name of a
 * single PATH). Hidden entries and symlinks inside folders are left out (and
 * listed in `left`). Throws RuntimeError for a missing path or a name the
 * server would refuse, before anything is sent.
 */
export async function planUpload(paths: string[], name?: string): Promise<UploadPlan> {
  const plan: UploadPlan = { items: [], folders: [], batch: paths.length > 1, left: [] };
  for (const path of paths) {
    const info = await statLocal(path);
    const top = canonicalName(name ?? basename(resolve(path)));
    if (info.isFile) {
      plan.items.push({ path, name: top, size: info.size, listed: false });
    } else if (info.isDirectory) {
      plan.batch = true;
      plan.folders.push(top);
      walk(path, top, plan);
    } else {
      throw new RuntimeError(
        `Cannot upload ${
          quoteName(path)
        }: not a regular file or folder (to send a pipe, use: upload - --name NAME)`,
      );
    }
  }
  const seen = new Map<string, string>();
  for (const item of plan.items) {
    const why = nameRefusal(item.name);
    if (why !== null) {
      throw new RuntimeError(
        `Cannot upload ${quoteName(item.path)}: its name ${
          quoteName(item.name)
        } is refused: ${why}`,
      );
    }
    const other = seen.get(item.name);
    if (other !== undefined) {
      throw new RuntimeError(
        `${quoteName(other)} and ${quoteName(item.path)} would both be ${
          quoteName(item.name)
        } on the server`,
      );
    }
    seen.set(item.name, item.path);
  }
  return plan;
}

/**
 * Collects the files under `dir`, synchronously (a listing and an lstat per
 * entry, no promise per file: a folder of 100,000 files is planned in
 * well under a second).
 */
function walk(dir: string, prefix: string, plan: UploadPlan): void {
  const entries = Array.from(Deno.readDirSync(dir));
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    const name = `${prefix}/${canonicalName(entry.name)}`;
    if (entry.name.startsWith(".")) {
      plan.left.push({ path, why: "a hidden name" });
    } else if (entry.isSymlink) {
      plan.left.push({ path, why: "a symlink, not followed" });
    } else if (entry.isDirectory) {
      walk(path, name, plan);
    } else if (entry.isFile) {
      plan.items.push({ path, name, size: Deno.lstatSync(path).size, listed: true });
    } else {
      plan.left.push({ path, why: "not a regular file" });
    }
  }
}

async function statLocal(path: string): Promise<Deno.FileInfo> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    throw localReadError(path, error);
  }
}

/**
 * Asks the server what the NAMEs are: a file, or a folder (all its files).
 * One NAME that is a file goes to `output` (a file, or a folder to put it
 * in; default ./its base name); anything more goes under the folder
 * `output` (default .), keeping the names' folders. Throws RuntimeError.
 */
export async function planDownload(
  session: FileSession,
  names: string[],
  output: string | undefined,
): Promise<DownloadPlan> {
  const found: FileEntry[] = [];
  let batch = names.length > 1;
  const client = await session.client();
  for (const given of names) {
    const name = canonicalName(given);
    const why = nameRefusal(name);
    if (why !== null) throw new RuntimeError(`Name ${quoteName(name)} refused: ${why}`);
    try {
      found.push(await client.stat(name));
      continue;
    } catch (error) {
      if (!(error instanceof ServerError) || !["not-found", "not-regular"].includes(error.code)) {
        throw error;
      }
      const files = await client.list(name).catch(() => null);
      if (files === null) throw error; // not a folder either: the first answer says why
      if (files.length === 0) {
        throw new RuntimeError(`The folder ${quoteName(name)} on the server holds no files`);
      }
      batch = true;
      found.push(...files);
    }
  }
  for (const entry of found) {
    const why = nameRefusal(entry.name);
    if (why !== null) {
      throw new RuntimeError(
        `The server listed a name refused here: ${quoteName(entry.name)}: ${why}`,
      );
    }
  }
  if (!batch) {
    const entry = found[0]!;
    let target = output ?? basename(entry.name);
    if (output !== undefined && (await Deno.stat(output).catch(() => null))?.isDirectory) {
      target = join(output, basename(entry.name));
    }
    return { items: [{ name: entry.name, target, entry }], batch };
  }
  const folder = output ?? ".";
  const info = await Deno.stat(folder).catch(() => null);
  if (info !== null && !info.isDirectory) {
    throw new RuntimeError(
      `Cannot download several files into ${
        quoteName(folder)
      }: it is a file (--output takes a folder here)`,
    );
  }
  const seen = new Set<string>();
  const items = found.filter((entry) => !seen.has(entry.name) && seen.add(entry.name)).map((
    entry,
  ) => ({ name: entry.name, target: join(folder, ...entry.name.split("/")), entry }));
  return { items, batch };
}

/**
 * Files at most this big go pipelined in a batch (PUTS, GETS) and are sent
 * again whole if cut short; bigger ones go one by one and resume.
 */
export const PIPELINED_MAX = 256 * 1024;

/**
 * Uploads every item over `session`: the small files of a batch pipelined
 * (many_up.ts), the others one after another; see the module comment.
 */
export async function runUploads(
  session: FileSession,
  plan: UploadPlan,
  options: BatchOptions,
): Promise<BatchSummary> {
  const remote = new Map<string, FileEntry>();
  const client = await session.client();
  for (const folder of plan.folders) {
    try {
      for (const entry of await client.list(folder)) remote.set(entry.name, entry);
    } catch (error) {
      if (!(error instanceof ServerError && error.code === "not-found")) throw error;
    }
  }
  const total = plan.items.reduce((sum, item) => sum + item.size, 0);
  // Many files' worth of bytes: node:crypto's SHA-256 pays for its import.
  if (total > SMALL_HASH_BYTES) await loadHashing();
  const tracker = new BatchTracker("upload", plan.items.length, total, options);
  try {
    const pipelined = pipelines(plan.batch, options) ? plan.items.filter(small) : [];
    // Files given one by one are in no listing: ask for them all at once.
    const unlisted = pipelined.filter((item) => !item.listed).map((item) => item.name);
    if (unlisted.length > 0) {
      for (const [name, entry] of await client.statMany(unlisted)) remote.set(name, entry);
    }
    if (pipelined.length > 0) {
      await session.transfer(() =>
        uploadMany(session, pipelined, remote, options.force, tracker.hooks)
      );
    }
    const rest = pipelined.length > 0 ? plan.items.filter((item) => !small(item)) : plan.items;
    await tracker.oneByOne(rest, (item, transfer) => {
      const known = item.listed ? remote.get(item.name) ?? null : undefined;
      return uploadFile(session, item.path, item.name, transfer, known);
    });
  } finally {
    tracker.finish();
  }
  return tracker.summary();
}

/**
 * Downloads every item over `session`: the small files of a batch
 * pipelined (many_down.ts), the others one after another.
 */
export async function runDownloads(
  session: FileSession,
  plan: DownloadPlan,
  options: BatchOptions,
): Promise<BatchSummary> {
  const items = plan.items;
  const total = items.reduce((sum, item) => sum + item.entry.size, 0);
  if (total > SMALL_HASH_BYTES) await loadHashing();
  const tracker = new BatchTracker("download", items.length, total, options);
  const folders = new Set<string>();
  const folderFor = (target: string) => {
    const folder = dirname(target);
    if (plan.batch && !folders.has(folder)) {
      Deno.mkdirSync(folder, { recursive: true });
      folders.add(folder);
    }
  };
  try {
    const pipelined: DownloadItem[] = [];
    const rest: (DownloadItem & { size: number })[] = [];
    for (const item of items) {
      if (!pipelines(plan.batch, options) || !small(item.entry)) {
        rest.push({ ...item, size: item.entry.size });
        continue;
      }
      // Planned here, synchronously: an output already identical is skipped,
      // another one is refused without --force (the rest go on).
      // Most outputs do not exist yet: asked without an exception (100,000 of them add up).
      const local = pathExists(item.target) === false ? null : statNow(item.target);
      if (local !== null) {
        if (local.isFile && local.size === item.entry.size && item.entry.sha256 !== null) {
          const hex = sha256().update(Deno.readFileSync(item.target)).digest("hex");
          if (hex === item.entry.sha256) {
            tracker.hooks.done(item.target, item.name, item.entry.size, hex, true);
            continue;
          }
        }
        if (!local.isFile || !options.force) {
          const why = local.isFile ? "already exists (use --force to replace it)" : "is not a file";
          tracker.hooks.refused(
            item.target,
            item.name,
            "local",
            `${quoteName(item.target)} ${why}`,
          );
          continue;
        }
      }
      folderFor(item.target);
      pipelined.push(item);
    }
    if (pipelined.length > 0) {
      await session.transfer(() => downloadMany(session, pipelined, options.force, tracker.hooks));
    }
    await tracker.oneByOne(rest, async (item, transfer) => {
      folderFor(item.target);
      return await downloadFile(session, item.name, item.target, transfer, item.entry);
    });
  } finally {
    tracker.finish();
  }
  return tracker.summary();
}

/** Whether a batch goes pipelined: several files, and no --limit-rate (which paces one at a time). */
function pipelines(batch: boolean, options: BatchOptions): boolean {
  return batch && options.limitRate === 0;
}

function small(item: { size: number }): boolean {
  return item.size <= PIPELINED_MAX;
}
