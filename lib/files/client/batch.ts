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
import { Progress } from "../../base/progress.ts";
import { type FileSession, ServerError } from "./file_client.ts";
import { canonicalName, nameRefusal, quoteName } from "../names.ts";
import type { FileEntry } from "../protocol.ts";
import { downloadFile } from "./download.ts";
import type { TransferOptions, TransferSummary } from "./transfer.ts";
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

/** The --json object of a batch. */
export interface BatchSummary {
  action: "upload" | "download";
  files: TransferSummary[];
  /** Files in the batch. */
  count: number;
  /** Of those, already there and identical. */
  skipped: number;
  /** Bytes of every file. */
  size: number;
  /** Bytes that crossed the network in this run. */
  transferred: number;
  seconds: number;
  bytesPerSecond: number;
}

/** Options of a batch run. */
export interface BatchOptions extends Omit<TransferOptions, "onStart" | "onBytes"> {
  /** Draw the progress display on stderr (default: when stderr is a terminal). */
  progress?: boolean;
  /** Called as each file is done (the per-file line). */
  onFile?: (summary: TransferSummary) => void;
}

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
      await walk(path, top, plan);
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

async function walk(dir: string, prefix: string, plan: UploadPlan): Promise<void> {
  const entries = await Array.fromAsync(Deno.readDir(dir));
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    const name = `${prefix}/${canonicalName(entry.name)}`;
    if (entry.name.startsWith(".")) {
      plan.left.push({ path, why: "a hidden name" });
    } else if (entry.isSymlink) {
      plan.left.push({ path, why: "a symlink, not followed" });
    } else if (entry.isDirectory) {
      await walk(path, name, plan);
    } else if (entry.isFile) {
      plan.items.push({ path, name, size: (await Deno.lstat(path)).size, listed: true });
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

/** Uploads every item in order over `session`; see the module comment. */
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
  return await runBatch("upload", plan.items, options, (item, transfer) => {
    const known = item.listed ? remote.get(item.name) ?? null : undefined;
    return uploadFile(session, item.path, item.name, transfer, known);
  });
}

/** Downloads every item in order over `session`; see the module comment. */
export async function runDownloads(
  session: FileSession,
  plan: DownloadPlan,
  options: BatchOptions,
): Promise<BatchSummary> {
  const items = plan.items.map((item) => ({ ...item, size: item.entry.size }));
  return await runBatch("download", items, options, async (item, transfer) => {
    if (plan.batch) Deno.mkdirSync(dirname(item.target), { recursive: true });
    return await downloadFile(session, item.name, item.target, transfer, item.entry);
  });
}

async function runBatch<T extends { name: string; size: number }>(
  action: "upload" | "download",
  items: T[],
  options: BatchOptions,
  run: (item: T, transfer: TransferOptions) => Promise<TransferSummary>,
): Promise<BatchSummary> {
  const total = items.reduce((sum, item) => sum + item.size, 0);
  const progress = new Progress({
    label: "",
    total,
    ...(options.progress === undefined ? {} : { enabled: options.progress }),
  });
  const began = performance.now();
  const files: TransferSummary[] = [];
  let done = 0;
  try {
    for (const [index, item] of items.entries()) {
      progress.label = items.length > 1
        ? `[${index + 1}/${items.length}] ${quoteName(item.name)}`
        : quoteName(item.name);
      const before = done;
      let result: TransferSummary;
      try {
        result = await run(item, {
          force: options.force,
          limitRate: options.limitRate,
          note: (line) => {
            progress.finish();
            options.note?.(line);
          },
          onStart: (resumedFrom) => {
            progress.exclude(resumedFrom);
            done += resumedFrom;
            progress.update(done);
          },
          onBytes: (bytes) => {
            done += bytes;
            progress.update(done);
          },
        });
      } catch (error) {
        if (items.length > 1 && error instanceof RuntimeError) {
          const message = `${error.message} (${files.length} of ${items.length} files were done)`;
          throw error instanceof ServerError
            ? new ServerError(error.code, message)
            : new RuntimeError(message, { cause: error, exitCode: error.exitCode });
        }
        throw error;
      }
      if (result.skipped) progress.exclude(item.size);
      done = before + item.size;
      progress.update(done);
      files.push(result);
      progress.finish();
      options.onFile?.(result);
    }
  } finally {
    progress.finish();
  }
  const seconds = (performance.now() - began) / 1000;
  const transferred = files.reduce((sum, file) => sum + file.transferred, 0);
  return {
    action,
    files,
    count: files.length,
    skipped: files.filter((file) => file.skipped).length,
    size: total,
    transferred,
    seconds: Math.round(seconds * 1000) / 1000,
    bytesPerSecond: seconds > 0 ? Math.round(transferred / seconds) : 0,
  };
}
