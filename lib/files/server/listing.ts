/**
 * The listing of the store: which files LIST shows, in which order, and how
 * its lines go out without holding up the rest of the server.
 *
 * LIST answers `OK <count>` before its lines, so the server must know every
 * file before it sends the first. It takes a snapshot: one walk of the
 * folders, in the order of the listing (each folder read, sorted and walked
 * depth-first, so the names come out sorted as whole names), keeping of each
 * file only its name, size and time. The lines, with their digests (the
 * store's records, read one by one), are made while they are written: a slow
 * reader holds the writing back, never more than one chunk is in memory, and
 * a file deleted meanwhile is still listed as the snapshot saw it.
 *
 * Both steps run in slices of SLICE_MS and then let the event loop serve
 * everything else, so four clients listing 100,000 files do not stall a chat
 * or a message reply.
 */
import { writeAll, type Writer } from "../../base/io.ts";
import { MAX_DEPTH, nameRefusal } from "../names.ts";
import { entryLine, type FileEntry } from "../protocol.ts";
import { lstatNow, mtimeOf } from "../records.ts";

/** Milliseconds of synchronous work a listing does before letting the others in. */
const SLICE_MS = 2;

/** Characters of listing lines written at once. */
const CHUNK_CHARS = 64 * 1024;

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
 */
export async function takeSnapshot(root: string, folder: string): Promise<FileSnapshot> {
  const snapshot = new FileSnapshot();
  await walk(root, folder, snapshot, new Slices());
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
  slices: Slices,
): Promise<void> {
  const path = folder === "" ? root : `${root}/${folder}`;
  const items: Item[] = [];
  try {
    // One call reads the whole folder on a worker thread; the loop stays free.
    for await (const entry of Deno.readDir(path)) {
      const name = folder === "" ? entry.name : `${folder}/${entry.name}`;
      if (nameRefusal(name) !== null) continue; // hidden, .socketkit, not NFC, ...
      if (entry.isDirectory && !entry.isSymlink) {
        // Names over the depth limit are never entered: the walk is bounded by MAX_DEPTH.
        const depth = folder === "" ? 1 : countSlashes(folder) + 2;
        if (depth < MAX_DEPTH) items.push({ key: name + "/", name, leaf: entry.name, folder: true });
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
    if (slices.due()) await slices.next();
  }
}

function countSlashes(text: string): number {
  let count = 0;
  for (let i = text.indexOf("/"); i !== -1; i = text.indexOf("/", i + 1)) count++;
  return count;
}

/**
 * Writes a LIST reply: `OK <count>`, then one line per file of `snapshot`,
 * described by `describe` (which adds the digest), in chunks, each awaited:
 * a reader that stops reading stops the listing, not the server.
 */
export async function writeListing(
  out: Writer,
  snapshot: FileSnapshot,
  describe: (name: string, size: number, mtimeMs: number) => FileEntry,
): Promise<void> {
  const encoder = new TextEncoder();
  const slices = new Slices();
  let text = `OK ${snapshot.count}\n`;
  for (let i = 0; i < snapshot.count; i++) {
    text += entryLine(describe(snapshot.names[i]!, snapshot.size(i), snapshot.mtimeMs(i))) + "\n";
    const due = slices.due();
    if (text.length >= CHUNK_CHARS || due) {
      await writeAll(out, encoder.encode(text));
      text = "";
      if (due) await slices.next();
    }
  }
  await writeAll(out, encoder.encode(text));
}

/**
 * Time slices of synchronous work: due() once SLICE_MS have passed since
 * the slice began, next() lets the event loop run its I/O and timers and
 * starts a new slice.
 */
class Slices {
  #began = performance.now();

  due(): boolean {
    return performance.now() - this.#began >= SLICE_MS;
  }

  async next(): Promise<void> {
    // Not setTimeout(0): nested timers are clamped to 4 ms, so a long listing
    // would spend most of its time asleep. setImmediate runs after pending I/O.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#began = performance.now();
  }
}
