/**
 * Server console output. Lines are batched into one write per turn of the
 * event loop, so logging every message costs little: text lines are joined
 * and encoded once per batch, and a service can hand over a line as bytes it
 * already holds, skipping decoding and encoding. If stdout stops draining (a
 * paused terminal, a full pipe) lines are dropped past a bound and counted,
 * rather than stalling the services or growing memory. Lines that can repeat
 * at a peer's will (refusals, failures) go through {@link Logger.repeated}:
 * the first is printed, the rest counted and summarised at most once per
 * interval, so a flood cannot become a log flood.
 */

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
  /** Milliseconds between two lines of one repeated kind (--summary-interval). Default 60 s. */
  summaryInterval?: number;
}

/** How often a line of one kind may be printed; see {@link Logger.repeated}. */
export const SUMMARY_INTERVAL = 60_000;

/** One kind of repeated line: when it was last printed and what was held back since. */
interface Repeat {
  printedAt: number;
  held: number;
  level: "event" | "info";
  summary: (count: number, seconds: number) => string;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const LF = 0x0a;
const FIRST_BUFFER = 16 * 1024;
const encoder = new TextEncoder();

/** Buffered, bounded, line-oriented console logger. */
export class Logger {
  readonly quiet: boolean;
  #sink: LogSink;
  #maxQueued: number;
  // Lines waiting for the next write: bytes in #queue, then text lines not yet
  // encoded in #texts. The drain swaps in #spare while it writes.
  #queue = new Uint8Array(FIRST_BUFFER);
  #queued = 0;
  #spare = new Uint8Array(0);
  #texts: string[] = [];
  #textLength = 0;
  #dropped = 0;
  #draining: Promise<void> | null = null;
  #summaryInterval: number;
  #repeats = new Map<string, Repeat>();

  constructor(options: LoggerOptions = {}) {
    this.quiet = options.quiet ?? false;
    this.#maxQueued = options.maxQueued ?? 1024 * 1024;
    this.#sink = options.sink ?? Deno.stdout;
    this.#summaryInterval = options.summaryInterval ?? SUMMARY_INTERVAL;
  }

  /** A per-message line (received messages, joins); silenced by --quiet. */
  event(line: string): void {
    if (!this.quiet) this.#enqueue(line);
  }

  /**
   * A per-message line given as bytes: `head` then `body`. The caller
   * guarantees they are printable UTF-8 (no control characters), so no
   * decoding is needed. Silenced by --quiet.
   */
  eventBytes(head: Uint8Array, body: Uint8Array): void {
    if (this.quiet || !this.#admit()) return;
    this.#encodeTexts();
    const at = this.#reserve(head.length + body.length + 1);
    this.#queue.set(head, at);
    this.#queue.set(body, at + head.length);
    this.#queue[at + head.length + body.length] = LF;
    this.#startDrain();
  }

  /** Start-up, shutdown and other lines that --quiet keeps. */
  info(line: string): void {
    this.#enqueue(line);
  }

  /** A problem worth seeing in the server log; never silenced. */
  error(line: string): void {
    this.#enqueue(line);
  }

  /**
   * A line a peer can make the server repeat at will (a refusal, a failed
   * authentication). The first of its `kind` is printed; the following ones
   * within the summary interval are only counted, and `summary(count,
   * seconds)` is printed for them when the interval is over. So each kind
   * prints at most one line per interval whatever the rate. `level` "event"
   * is silenced by --quiet, "info" is not. Kinds must be a small, fixed set
   * (never one per peer).
   */
  repeated(
    kind: string,
    level: "event" | "info",
    line: string | (() => string),
    summary: (count: number, seconds: number) => string,
  ): void {
    if (level === "event" && this.quiet) return;
    const now = performance.now();
    const repeat = this.#repeats.get(kind);
    if (
      repeat === undefined || (repeat.held === 0 && now - repeat.printedAt >= this.#summaryInterval)
    ) {
      this.#repeats.set(kind, { printedAt: now, held: 0, level, summary, timer: undefined });
      this.#enqueue(typeof line === "string" ? line : line());
      return;
    }
    repeat.held++;
    repeat.summary = summary;
    if (repeat.timer === undefined) {
      const wait = Math.max(0, repeat.printedAt + this.#summaryInterval - now);
      const timer = setTimeout(() => this.#summarise(repeat), wait);
      // A pending summary never keeps the process alive.
      Deno.unrefTimer(timer);
      repeat.timer = timer;
    }
  }

  /** Prints the summaries held back so far, then resolves when every queued line has been written. */
  async flush(): Promise<void> {
    for (const repeat of this.#repeats.values()) this.#summarise(repeat);
    await this.written();
  }

  /** Resolves when every queued line has been written (summaries held back stay held). */
  async written(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  #summarise(repeat: Repeat): void {
    clearTimeout(repeat.timer);
    repeat.timer = undefined;
    if (repeat.held === 0) return;
    const now = performance.now();
    const seconds = Math.max(1, Math.round((now - repeat.printedAt) / 1000));
    const line = repeat.summary(repeat.held, seconds);
    repeat.held = 0;
    repeat.printedAt = now;
    this.#enqueue(line);
  }

  #enqueue(line: string): void {
    if (!this.#admit()) return;
    this.#texts.push(line);
    this.#textLength += line.length + 1;
    this.#startDrain();
  }

  // The bound: past it a line is counted, not kept; the first line admitted
  // afterwards is preceded by the count.
  #admit(): boolean {
    if (this.#queued + this.#textLength > this.#maxQueued) {
      this.#dropped++;
      return false;
    }
    if (this.#dropped > 0) {
      const note = `[Server] ${this.#dropped} log lines dropped: the console was not keeping up`;
      this.#dropped = 0;
      this.#texts.push(note);
      this.#textLength += note.length + 1;
    }
    return true;
  }

  // One join and one encode for a run of text lines, not one per line.
  #encodeTexts(): void {
    if (this.#texts.length === 0) return;
    const bytes = encoder.encode(this.#texts.join("\n") + "\n");
    this.#texts.length = 0;
    this.#textLength = 0;
    // Reserve first: it may replace #queue with a larger buffer, and
    // `this.#queue.set(bytes, this.#reserve(n))` would write into the old one.
    const at = this.#reserve(bytes.length);
    this.#queue.set(bytes, at);
  }

  /** Makes room for `bytes` more and returns where they go. */
  #reserve(bytes: number): number {
    const at = this.#queued;
    const needed = at + bytes;
    if (needed > this.#queue.length) {
      const grown = new Uint8Array(Math.max(needed, this.#queue.length * 2));
      grown.set(this.#queue.subarray(0, at));
      this.#queue = grown;
    }
    this.#queued = needed;
    return at;
  }

  #startDrain(): void {
    this.#draining ??= this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queued > 0 || this.#texts.length > 0) {
        this.#encodeTexts();
        const bytes = this.#queue.subarray(0, this.#queued);
        // Lines logged during the write go to the other buffer.
        const full = this.#queue;
        this.#queue = this.#spare.length >= FIRST_BUFFER
          ? this.#spare
          : new Uint8Array(FIRST_BUFFER);
        this.#queued = 0;
        for (let written = 0; written < bytes.length;) {
          written += await this.#sink.write(bytes.subarray(written));
        }
        this.#spare = full;
      }
    } catch {
      // stdout is gone (closed pipe): nothing useful to do but stop logging.
      this.#queued = 0;
      this.#texts.length = 0;
      this.#textLength = 0;
    } finally {
      this.#draining = null;
    }
  }
}
