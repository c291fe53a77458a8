/**
 * Server console output. Lines are batched into one write per turn of the
 * event loop, so logging every message costs little; if stdout stops draining
 * (a paused terminal, a full pipe) lines are dropped past a bound and counted,
 * rather than stalling the services or growing memory.
 */
import { encode } from "../net/text.ts";

/** Where a logger writes; Deno.stdout by default. */
export interface LogSink {
  write(bytes: Uint8Array): Promise<number>;
}

/** Options of {@link Logger}. */
export interface LoggerOptions {
  /** Drop per-message lines (`event`), keep `info` and `error`. Default false. */
  quiet?: boolean;
  /** Bytes queued before further lines are dropped. Default 1 MiB. */
  maxQueued?: number;
  /** Default Deno.stdout. */
  sink?: LogSink;
}

/** Buffered, bounded, line-oriented console logger. */
export class Logger {
  readonly quiet: boolean;
  #sink: LogSink;
  #maxQueued: number;
  #queue: string[] = [];
  #queued = 0;
  #dropped = 0;
  #draining: Promise<void> | null = null;

  constructor(options: LoggerOptions = {}) {
    this.quiet = options.quiet ?? false;
    this.#maxQueued = options.maxQueued ?? 1024 * 1024;
    this.#sink = options.sink ?? Deno.stdout;
  }

  /** A per-message line (received messages, joins); silenced by --quiet. */
  event(line: string): void {
    if (!this.quiet) this.#enqueue(line);
  }

  /** Start-up, shutdown and other lines that --quiet keeps. */
  info(line: string): void {
    this.#enqueue(line);
  }

  /** A problem worth seeing in the server log; never silenced. */
  error(line: string): void {
    this.#enqueue(line);
  }

  /** Resolves when every queued line has been written. */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  #enqueue(line: string): void {
    if (this.#queued > this.#maxQueued) {
      this.#dropped++;
      return;
    }
    if (this.#dropped > 0) {
      const note = `[Server] ${this.#dropped} log lines dropped: the console was not keeping up`;
      this.#dropped = 0;
      this.#queue.push(note);
    }
    this.#queue.push(line);
    this.#queued += line.length + 1;
    this.#draining ??= this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const text = this.#queue.join("\n") + "\n";
        this.#queue = [];
        this.#queued = 0;
        const bytes = encode(text);
        for (let written = 0; written < bytes.length;) {
          written += await this.#sink.write(bytes.subarray(written));
        }
      }
    } catch {
      // stdout is gone (closed pipe): nothing useful to do but stop logging.
      this.#queue = [];
    } finally {
      this.#draining = null;
    }
  }
}
