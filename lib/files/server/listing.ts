/**
 * The listing of the store: which files LIST shows, in which order, as
 * lines. LIST answers `OK <count>` before its lines, so every file must be
 * known before the first line goes: a listing is a snapshot, one walk of the
 * folders in the order of the listing (each folder read, sorted and walked
 * depth-first, so the names come out sorted as whole names) that keeps of
 * each file only its name, size and time. The lines, with their digests
 * (one record read per file, digests.ts), are made a chunk at a time as the
 * client reads them, so at most a chunk of lines is in memory, and a file
 * deleted meanwhile is still listed as the snapshot saw it.
 *
 * A LIST runs this in a worker thread (listing_workers.ts): it is
 * synchronous work, tens of µs a file, which on the event loop would hold up
 * every other client. The store's own walks (count, sweep) run it here,
 * in slices.
 */
import { MAX_DEPTH, nameRefusal } from "../names.ts";
import { entryLine, type FileEntry } from "../protocol.ts";
import { lstatNow, mtimeOf } from "../records.ts";

/**
 * Milliseconds of synchronous work a walk on the event loop does before it
 * lets the others in; each pause costs a timer (4 ms once timers nest).
 */
const SLICE_MS = 5;

/** The files under a folder at one moment, in listing order: names, sizes and times. */
export class FileSnapshot {
  /** Every name, sorted (UTF-16 order, as the listing promises). */
  readonly names: string[] = [];
  /** Size and mtime (ms) of file i at 2i and 2i+1: two numbers, not an object, per file. */
  #numbers = new Float64Array(2048);
  /** Bytes of every file together. */
  totalBytes = 0;

  /** How many files. */
  get count(): number {
    return this.names.length;
  }

  /** Size in bytes of file `index`. */
  size(index: number): number {
    return this.#numbers[2 * index]!;
  }

  /** Modification time (ms since the epoch) of file `index`. */
  mtimeMs(index: number): number {
    return this.#numbers[2 * index + 1]!;
  }

  /** Appends a file; the caller adds them in listing order. */
  add(name: string, size: number, mtimeMs: number): void {
    const index = this.names.length;
    if (2 * index + 2 > this.#numbers.length) {
      const grown = new Float64Array(this.#numbers.length * 2);
      grown.set(this.#numbers);
      this.#numbers = grown;
    }
    this.names.push(name);
    this.#numbers[2 * index] = size;
    this.#numbers[2 * index + 1] = mtimeMs;
    this.totalBytes += size;
  }
}

/**
 * Regular files under valid names in `folder` (a checked name, "" for the
 * whole store) of the store at `root` and below, sorted by name. Symlinks,
 * hidden names (and so `.socketkit/`) and names over the limits are never
 * entered or listed. Folders that vanish during the walk are skipped.
 * `shareLoop`: pause every that many milliseconds (default SLICE_MS) so
 * the event loop serves the other clients; a worker thread passes false.
 */
export async function takeSnapshot(
  root: string,
  folder: string,
  shareLoop: number | boolean = true,
): Promise<FileSnapshot> {
  const snapshot = new FileSnapshot();
  const share = shareLoop === false
    ? null
    : new LoopShare(shareLoop === true ? SLICE_MS : shareLoop);
  await walk(root, folder, snapshot, share);
  return snapshot;
}

/** An entry of a folder being walked: `key` sorts a folder as its name plus "/". */
interface Item {
  key: string;
  name: string;
  leaf: string;
  folder: boolean;
}

async function walk(
  root: string,
  folder: string,
  snapshot: FileSnapshot,
  slices: LoopShare | null,
): Promise<void> {
  const path = folder === "" ? root : `${root}/${folder}`;
  const items: Item[] = [];
  try {
    // On the event loop, one async call reads the whole folder on Deno's
    // thread pool, so the loop stays free; in a listing worker, the thread
    // hop would only add a wake-up per folder.
    const entries = slices === null
      ? Deno.readDirSync(path)
      : await Array.fromAsync(Deno.readDir(path));
    for (const entry of entries) {
      const name = folder === "" ? entry.name : `${folder}/${entry.name}`;
      if (nameRefusal(name) !== null) continue; // hidden, .socketkit, not NFC, ...
      if (entry.isDirectory && !entry.isSymlink) {
        // Names over the depth limit are never entered: the walk is bounded by MAX_DEPTH.
        const depth = folder === "" ? 1 : countSlashes(folder) + 2;
        if (depth < MAX_DEPTH) {
          items.push({ key: name + "/", name, leaf: entry.name, folder: true });
        }
      } else if (entry.isFile) {
        items.push({ key: name, name, leaf: entry.name, folder: false });
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return; // removed meanwhile
    }
    throw error;
  }
  // Every name in a folder "a" starts with "a/", so sorting the folder as "a/"
  // and walking it there puts its files exactly where a sort of whole names would.
  items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const item of items) {
    if (item.folder) {
      await walk(root, item.name, snapshot, slices);
      continue;
    }
    const info = lstatNow(`${path}/${item.leaf}`); // null: removed meanwhile
    if (info?.isFile) snapshot.add(item.name, info.size, mtimeOf(info));
    // lstat is synchronous (a thread hop each would double the time): share the loop.
    if (slices?.due()) await slices.next();
  }
}

function countSlashes(text: string): number {
  let count = 0;
  for (let i = text.indexOf("/"); i !== -1; i = text.indexOf("/", i + 1)) count++;
  return count;
}

/**
 * The lines of a LIST reply, a chunk at a time: `OK <count>` first, then one
 * line per file of the snapshot, described by `describe` (which adds the
 * digest).
 */
export class ListingLines {
  #snapshot: FileSnapshot;
  #describe: (name: string, size: number, mtimeMs: number) => FileEntry;
  #next = -1;

  constructor(
    snapshot: FileSnapshot,
    describe: (name: string, size: number, mtimeMs: number) => FileEntry,
  ) {
    this.#snapshot = snapshot;
    this.#describe = describe;
  }

  /** True once every line has been taken. */
  get done(): boolean {
    return this.#next >= this.#snapshot.count;
  }

  /** The next lines, about `chars` characters of them (at least one line). */
  take(chars: number): string {
    const snapshot = this.#snapshot;
    let text = "";
    if (this.#next < 0) {
      text = `OK ${snapshot.count}\n`;
      this.#next = 0;
    }
    while (this.#next < snapshot.count && text.length < chars) {
      const i = this.#next++;
      text += entryLine(this.#describe(snapshot.names[i]!, snapshot.size(i), snapshot.mtimeMs(i))) +
        "\n";
    }
    return text;
  }
}

/**
 * Time slices of synchronous work on the event loop: due() once `sliceMs`
 * have passed since the slice began, next() lets the loop poll its sockets
 * and starts a new slice.
 */
export class LoopShare {
  #began = performance.now();
  #sliceMs: number;

  /** `sliceMs`: default SLICE_MS. */
  constructor(sliceMs = SLICE_MS) {
    this.#sliceMs = sliceMs;
  }

  due(): boolean {
    return performance.now() - this.#began >= this.#sliceMs;
  }

  async next(): Promise<void> {
    // A timer, not setImmediate or a MessageChannel task: those run before
    // Deno polls its sockets again, so a loop yielding with them still
    // starves every connection (measured: one reply in a second).
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    this.#began = performance.now();
  }
}
