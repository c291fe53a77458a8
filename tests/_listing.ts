/**
 * Big stores for the LIST tests: a tree of many small files written fast
 * (synchronously), a raw LIST reader that keeps only what it checks, and a
 * TCP message client that counts the replies it gets meanwhile.
 */
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { writeAll } from "../lib/base/io.ts";
import { LineClient } from "./_helpers.ts";

/**
 * Writes `count` files of a few bytes into `dir`, spread over `folders`
 * folders; returns their names sorted as LIST sorts them (UTF-16 order).
 */
export function writeTree(dir: string, count: number, folders: number): string[] {
  const encoder = new TextEncoder();
  const names: string[] = [];
  for (let f = 0; f < folders; f++) Deno.mkdirSync(join(dir, folderName(f)), { recursive: true });
  for (let i = 0; i < count; i++) {
    const name = `${folderName(i % folders)}/f${String(i).padStart(6, "0")}.txt`;
    Deno.writeFileSync(join(dir, name), encoder.encode(String(i)));
    names.push(name);
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function folderName(index: number): string {
  return `d${String(index).padStart(3, "0")}`;
}

/** What a raw LIST returned: the count it promised and the names, in order. */
export interface RawListing {
  count: number;
  names: string[];
}

/** Options of {@link rawList}. */
export interface RawListOptions {
  /** Called after each read with the lines so far (a test's event hook). */
  onChunk?: (linesSoFar: number) => void;
  /** Awaited after the request is sent, before the first read (a late reader). */
  beforeReading?: () => Promise<unknown>;
}

/**
 * Sends `LIST [prefix]` on a fresh connection and reads the whole reply.
 * Names only are kept.
 */
export async function rawList(
  port: number,
  prefix: string | null = null,
  options: RawListOptions = {},
): Promise<RawListing> {
  const { onChunk = () => {}, beforeReading } = options;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, new TextEncoder().encode(prefix === null ? "LIST\n" : `LIST ${prefix}\n`));
    await beforeReading?.();
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(64 * 1024);
    let text = "";
    let count = -1;
    const names: string[] = [];
    while (count < 0 || names.length < count) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error(`LIST: EOF after ${names.length} of ${count} lines`);
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
      const lines = text.split("\n");
      text = lines.pop()!;
      for (const line of lines) {
        if (count < 0) {
          const match = line.match(/^OK (\d+)$/);
          ok(match, `LIST reply: ${line}`);
          count = Number(match[1]);
          continue;
        }
        const entry = line.match(/^\d+ \d+ (?:[0-9a-f]{64}|-) (.+)$/);
        ok(entry, `LIST line: ${line}`);
        names.push(entry[1]!);
      }
      onChunk(names.length);
    }
    equal(text, "", "nothing after the promised lines");
    return { count, names };
  } finally {
    conn.close();
  }
}

/**
 * A TCP message client sending one line after another until stopped,
 * counting replies; `mark()` reads the count (for before/after events).
 */
export class Witness {
  replies = 0;
  #client: LineClient;
  #running: Promise<void>;
  #stop = false;
  #waiters: (() => void)[] = [];

  private constructor(client: LineClient) {
    this.#client = client;
    this.#running = this.#loop();
  }

  static async start(port: number): Promise<Witness> {
    return new Witness(await LineClient.connect(port));
  }

  async #loop(): Promise<void> {
    // Bounded: at most 1,000,000 round trips, each within LineClient's 5 s.
    for (let i = 0; i < 1_000_000 && !this.#stop; i++) {
      const reply = await this.#client.request("witness");
      ok(reply?.includes("received"), `message reply: ${reply}`);
      this.replies++;
      for (const resolve of this.#waiters.splice(0)) resolve();
    }
  }

  /** Resolves at the next reply after this call. */
  nextReply(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stop = true;
    try {
      await this.#running;
    } finally {
      this.#client.close();
    }
  }
}

/** What {@link listWhileWitnessing} saw. */
export interface WitnessedListings {
  listings: RawListing[];
  /** The witness's replies when the first line of any listing arrived (-1: none had lines). */
  atFirstLine: number;
  /** Its replies when the last listing ended. */
  atEnd: number;
}

/**
 * Runs `count` whole LISTs on `port` at once while `witness` keeps asking,
 * and notes how many replies it had when the first listing line came and
 * when the last listing ended: some must fall between, or the listings held
 * the server up.
 */
export async function listWhileWitnessing(
  port: number,
  witness: Witness,
  count: number,
): Promise<WitnessedListings> {
  await witness.nextReply();
  let atFirstLine = -1;
  const listings = await Promise.all(
    Array.from({ length: count }, () =>
      rawList(port, null, {
        onChunk: (lines) => {
          if (lines > 0 && atFirstLine < 0) atFirstLine = witness.replies;
        },
      })),
  );
  return { listings, atFirstLine, atEnd: witness.replies };
}
