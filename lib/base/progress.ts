/**
 * A one-line progress bar for transfers (bytes, percent, rate, ETA), drawn on
 * stderr only when stderr is a terminal, at most ten times a second. With an
 * unknown total (a pipe) it shows bytes and rate only.
 */
import { encode } from "./text.ts";

/** Options of {@link Progress}. */
export interface ProgressOptions {
  /** Text before the bar, e.g. the file name. */
  label: string;
  /** Bytes in the whole transfer; null when unknown (a pipe). */
  total: number | null;
  /** Bytes already done before this run (a resume); the rate ignores them. */
  start?: number;
  /** Draw at all. Default: stderr is a terminal. */
  enabled?: boolean;
}

const REDRAW_MS = 100;

/** A transfer's progress line. */
export class Progress {
  #label: string;
  #total: number | null;
  #start: number;
  #enabled: boolean;
  #began = performance.now();
  #lastDraw = 0;
  #drawn = false;

  constructor(options: ProgressOptions) {
    this.#label = options.label;
    this.#total = options.total;
    this.#start = options.start ?? 0;
    this.#enabled = options.enabled ?? Deno.stderr.isTerminal();
  }

  /** What the line starts with (a batch names the file in progress). */
  set label(label: string) {
    this.#label = label;
  }

  /**
   * Counts `bytes` of the total as done without moving them in this run (a
   * resumed prefix, a file skipped), so the rate ignores them.
   */
  exclude(bytes: number): void {
    this.#start += bytes;
  }

  /** Reports `done` bytes of the total (including any resumed prefix). */
  update(done: number): void {
    if (!this.#enabled) return;
    const now = performance.now();
    const total = this.#total;
    if (now - this.#lastDraw < REDRAW_MS && (total === null || done < total)) return;
    this.#lastDraw = now;
    const seconds = (now - this.#began) / 1000;
    const rate = seconds > 0 ? (done - this.#start) / seconds : 0;
    let line: string;
    if (total === null) {
      line = `${this.#label} ${formatBytes(done)} ${formatBytes(rate)}/s`;
    } else {
      const percent = total > 0 ? Math.min(100, (done / total) * 100) : 100;
      const eta = rate > 0 ? formatDuration((total - done) / rate) : "--:--";
      const width = 24;
      const filled = Math.round((percent / 100) * width);
      const bar = "#".repeat(filled) + "-".repeat(width - filled);
      line = `${this.#label} [${bar}] ${formatBytes(done)} / ${formatBytes(total)} ` +
        `${percent.toFixed(0).padStart(3)}% ${formatBytes(rate)}/s ETA ${eta}`;
    }
    this.#write(`\r${line}\x1b[K`);
    this.#drawn = true;
  }

  /** Clears the line, so the summary that follows stands alone (the next update redraws it). */
  finish(): void {
    if (this.#drawn) this.#write("\r\x1b[K");
    this.#drawn = false;
  }

  #write(text: string): void {
    try {
      Deno.stderr.writeSync(encode(text));
    } catch {
      this.#enabled = false; // stderr went away: carry on without a bar
    }
  }
}

/** "1.5 MiB", "512 B". */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** "0:05", "1:02:03". */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}
