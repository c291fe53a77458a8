/**
 * Test helper: a ChatCluster in process that records what it is told (other
 * instances' events, its log lines) and lets a test await one of them,
 * never polling.
 */
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import {
  ChatCluster,
  type ClusterEvent,
  type ClusterOptions,
} from "../lib/chat/cluster/cluster.ts";

/**
 * Intervals of a cluster scaled down 10 times from the defaults (heartbeat
 * 2 s, expiry 9 s, silence 6 s, XREAD block 1 s), in the same proportions,
 * so the failure logic runs as it does in production, on milliseconds. (A
 * busy machine can stall a process for a few hundred milliseconds: much
 * shorter silences would be noticed where there are none.)
 */
export const FAST: Partial<ClusterOptions> = {
  heartbeatMs: 200,
  expiryMs: 900,
  silenceMs: 600,
  blockMs: 100,
  resyncMs: 500,
  reconnectMinMs: 10,
  reconnectMaxMs: 300,
  closeWaitMs: 300,
};

/** A bound on each wait, so a broken test fails instead of hanging (not a timing claim). */
const WAIT_BOUND_MS = 30_000;

/** One cluster instance and what it recorded. */
export class Probe implements AsyncDisposable {
  /** Other instances' events, in the order received. */
  readonly events: ClusterEvent[] = [];
  /** The cluster's log lines. */
  readonly logs: string[] = [];
  #cluster: ChatCluster | null = null;
  #waiters = new Set<() => void>();

  /** Connects instance `id` to the Redis at `url`. */
  static async connect(
    url: string,
    id: string,
    options: Partial<ClusterOptions> = {},
  ): Promise<Probe> {
    const probe = new Probe();
    probe.#cluster = await ChatCluster.connect({
      historyLimit: 20,
      ...options,
      url,
      instanceId: id,
      log: (line) => probe.#record(probe.logs, line),
      onEvent: (event) => probe.#record(probe.events, event),
    });
    return probe;
  }

  get cluster(): ChatCluster {
    return this.#cluster!;
  }

  #record<T>(list: T[], item: T): void {
    list.push(item);
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** The texts of the messages received, in order. */
  texts(): string[] {
    return this.events.flatMap((e) => e.type === "message" ? [e.text] : []);
  }

  /**
   * Resolves once `condition` holds, checked now and after every event or
   * log line; rejects naming `what` if it never does.
   */
  async until(condition: () => boolean, what: string): Promise<void> {
    if (condition()) return;
    let waiter!: () => void;
    const met = new Promise<void>((resolve) => {
      waiter = () => {
        if (condition()) resolve();
      };
      this.#waiters.add(waiter);
    });
    try {
      if (await within(met, WAIT_BOUND_MS) === TIMED_OUT) {
        throw new Error(`${this.cluster.instanceId}: never saw ${what}`);
      }
    } finally {
      this.#waiters.delete(waiter);
    }
  }

  /**
   * Resolves with the first log line matching `pattern` from line number
   * `from` on (default: one already logged counts).
   */
  async logged(pattern: RegExp, from = 0): Promise<string> {
    const match = () => this.logs.slice(from).find((line) => pattern.test(line));
    await this.until(() => match() !== undefined, `a line ${pattern}`);
    return match()!;
  }

  /** Resolves with the first event that `test` accepts (one already received counts). */
  async received(test: (event: ClusterEvent) => boolean, what: string): Promise<ClusterEvent> {
    await this.until(() => this.events.some(test), what);
    return this.events.find(test)!;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cluster.close();
  }
}
