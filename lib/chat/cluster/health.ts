/**
 * Whether this instance is part of the cluster right now: both connections
 * up and registered. A change is logged once (one "degraded" line per
 * outage, one recovery line), never per failed call.
 */

/** What {@link Health} tells its owner. */
export interface HealthHooks {
  log: (line: string) => void;
  /** Just degraded (before the line is logged). */
  onDegraded: () => void;
  /** The recovery line's details, e.g. "rejoined with 2 member(s), ...". */
  recovered: () => string;
  /** Just recovered (after the line is logged): send what was queued. */
  onRecovered: () => void;
}

/** The health and lifetime of one cluster instance. */
export class Health {
  /** The command connection is up. */
  commandsUp = true;
  /** The reader's connection is up. */
  readerUp = true;
  /** This instance is registered (false from a reconnect until the rejoin is done). */
  registered = false;
  /** connect() has succeeded; connection errors before count as a failed connect. */
  started = false;
  /** close() has begun: nothing new is sent, no line is logged. */
  closing = false;
  /** close() has stopped the reader: nothing is written any more. */
  closed = false;
  #degraded = false;
  #hooks: HealthHooks;

  constructor(hooks: HealthHooks) {
    this.#hooks = hooks;
  }

  /** True while Redis is away (or this instance is not registered yet again). */
  get degraded(): boolean {
    return this.#degraded;
  }

  /** Recomputes the state after a change of the fields above; `reason` is what went wrong. */
  update(reason = ""): void {
    const degraded = !(this.commandsUp && this.readerUp && this.registered);
    if (degraded === this.#degraded) return;
    this.#degraded = degraded;
    if (this.closing) return;
    if (degraded) {
      // What is decided locally meanwhile (claims, renames) reaches Redis only
      // by a rejoin, even if the command connection itself never dropped: the
      // heartbeat or the next 'ready' makes one.
      this.registered = false;
      this.#hooks.onDegraded();
      this.#hooks.log(
        `cluster: degraded (${reason || "Redis unavailable"}); ` +
          `local members keep talking locally; reconnecting`,
      );
    } else {
      this.#hooks.log(`cluster: Redis is back; ${this.#hooks.recovered()}`);
      this.#hooks.onRecovered();
    }
  }
}
