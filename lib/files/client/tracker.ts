/**
 * One batch's bookkeeping on the client: the progress display (files and
 * their rate while small files go pipelined, the file in progress when they
 * go one by one), each file's result as it is done, the files refused while
 * the others go on, and the summary (--json).
 */
import { RuntimeError } from "../../base/errors.ts";
import { Progress } from "../../base/progress.ts";
import { quoteName } from "../names.ts";
import { ServerError } from "./file_client.ts";
import type { ManyHooks, TransferOptions, TransferSummary } from "./transfer.ts";

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
  /** Files done (sent or received, and skipped) per second. */
  filesPerSecond: number;
  /** Files refused (by the server, or here), each with why; the others went on. */
  refused: RefusedFile[];
}

/** A file of a batch that was refused while the others went on. */
export interface RefusedFile {
  name: string;
  path: string;
  /** The server's error code, or "local". */
  code: string;
  message: string;
}

/** Options of a batch run. */
export interface BatchOptions extends Omit<TransferOptions, "onStart" | "onBytes"> {
  /** Draw the progress display on stderr (default: when stderr is a terminal). */
  progress?: boolean;
  /** Called as each file is done (the per-file line). */
  onFile?: (summary: TransferSummary) => void;
  /** Called for each file refused while the others go on. */
  onRefused?: (refused: RefusedFile) => void;
}

/** One batch's progress display, per-file results and refusals, and its summary. */
export class BatchTracker {
  readonly #action: "upload" | "download";
  readonly #options: BatchOptions;
  readonly #progress: Progress;
  readonly #total: number;
  readonly #count: number;
  readonly #began = performance.now();
  readonly #files: TransferSummary[] = [];
  readonly #refused: RefusedFile[] = [];
  /** The file going one by one now: the progress line names it. */
  #current: string | null = null;
  #moved = 0;
  #transferred = 0;

  /** @param count files in the batch @param total their bytes */
  constructor(
    action: "upload" | "download",
    count: number,
    total: number,
    options: BatchOptions,
  ) {
    this.#action = action;
    this.#options = options;
    this.#total = total;
    this.#count = count;
    this.#progress = new Progress({
      label: "",
      total: this.#total,
      ...(options.progress === undefined ? {} : { enabled: options.progress }),
    });
  }

  /** What the pipelined transfers report to. */
  readonly hooks: ManyHooks = {
    done: (path, name, size, hex, skipped) => {
      const seconds = (performance.now() - this.#began) / 1000;
      const result: TransferSummary = {
        action: this.#action,
        name,
        path,
        size,
        transferred: skipped ? 0 : size,
        resumedFrom: 0,
        skipped,
        // A pipelined file has no time of its own: from the batch's start to its confirmation.
        seconds: Math.round(seconds * 1000) / 1000,
        bytesPerSecond: skipped || seconds <= 0 ? 0 : Math.round(size / seconds),
        sha256: hex,
      };
      if (skipped) {
        this.#progress.exclude(size);
        this.#moved += size;
      } else {
        this.#transferred += size;
      }
      this.#add(result);
    },
    refused: (path, name, code, message) => {
      this.#refused.push({ name, path, code, message });
      this.#progress.finish();
      this.#options.onRefused?.({ name, path, code, message });
      this.#draw();
    },
    bytes: (count) => {
      this.#moved += count;
      this.#draw();
    },
  };

  #add(result: TransferSummary): void {
    this.#files.push(result);
    this.#progress.finish();
    this.#options.onFile?.(result);
    this.#draw();
  }

  #draw(): void {
    const done = this.#files.length;
    if (this.#current !== null) {
      this.#progress.label = this.#count > 1
        ? `[${done + 1}/${this.#count}] ${this.#current}`
        : this.#current;
    } else {
      const seconds = (performance.now() - this.#began) / 1000;
      const rate = seconds > 0 ? Math.round(done / seconds) : 0;
      this.#progress.label = `[${done}/${this.#count} files, ${rate} files/s]`;
    }
    this.#progress.update(this.#moved);
  }

  /** Transfers `items` one after another (big files, or no pipelining). */
  async oneByOne<T extends { name: string; size: number }>(
    items: T[],
    run: (item: T, transfer: TransferOptions) => Promise<TransferSummary>,
  ): Promise<void> {
    const options = this.#options;
    for (const item of items) {
      const before = this.#moved;
      this.#current = quoteName(item.name);
      let result: TransferSummary;
      try {
        result = await run(item, {
          force: options.force,
          limitRate: options.limitRate,
          note: (line) => {
            this.#progress.finish();
            options.note?.(line);
          },
          onStart: (resumedFrom) => {
            this.#progress.exclude(resumedFrom);
            this.#moved += resumedFrom;
            this.#draw();
          },
          onBytes: (bytes) => {
            this.#moved += bytes;
            this.#draw();
          },
        });
      } catch (error) {
        if (this.#count > 1 && error instanceof RuntimeError) {
          const message =
            `${error.message} (${this.#files.length} of ${this.#count} files were done)`;
          throw error instanceof ServerError
            ? new ServerError(error.code, message)
            : new RuntimeError(message, { cause: error, exitCode: error.exitCode });
        }
        throw error;
      }
      if (result.skipped) this.#progress.exclude(item.size);
      this.#moved = before + item.size;
      this.#transferred += result.transferred;
      this.#current = null;
      this.#add(result);
    }
  }

  /** Clears the progress line. */
  finish(): void {
    this.#progress.finish();
  }

  /** The batch's --json object. */
  summary(): BatchSummary {
    const seconds = (performance.now() - this.#began) / 1000;
    const files = this.#files;
    return {
      action: this.#action,
      files,
      count: files.length,
      skipped: files.filter((file) => file.skipped).length,
      size: this.#total,
      transferred: this.#transferred,
      seconds: Math.round(seconds * 1000) / 1000,
      bytesPerSecond: seconds > 0 ? Math.round(this.#transferred / seconds) : 0,
      filesPerSecond: seconds > 0 ? Math.round(files.length / seconds) : 0,
      refused: this.#refused,
    };
  }
}
