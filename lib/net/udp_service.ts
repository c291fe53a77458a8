/**
 * The part every UDP service shares: one socket behind a UDP engine, a
 * receive loop that nothing a sender does can end (empty, oversized, binary
 * datagrams, ICMP errors, failed replies), access control and the token
 * through the gate, and a stop that closes the socket and waits for the loop.
 *
 * The loop works a batch at a time: each datagram of a batch is screened and
 * answered synchronously, the replies are collected, and the whole batch of
 * replies goes out in one send. So the batch engine moves many datagrams per
 * system call, and the Deno engine (batches of one) behaves exactly the same.
 */
import type { Logger } from "../base/logger.ts";
import { formatAddr } from "./address.ts";
import { replyBudget } from "./amplification.ts";
import { listenUdpEngine } from "./listen.ts";
import type { DeferredStarts, Reply, UdpEngine, UdpEngineChoice } from "./udp_engine.ts";

/** A datagram the gate let through: the request without its AUTH line. */
export interface AdmittedDatagram {
  admitted: true;
  payload: Uint8Array;
  /** It carried the server's token (false whenever the server has none). */
  authenticated: boolean;
}

/** A datagram the gate stopped, and what to send back for it (null: nothing). */
export interface RefusedDatagram {
  admitted: false;
  reply: Uint8Array | null;
}

/**
 * What a UdpService asks of the server's access control for each datagram.
 * The security layer implements it (security/gate.ts).
 */
export interface UdpGate {
  screen(data: Uint8Array, from: Deno.NetAddr, label: string): AdmittedDatagram | RefusedDatagram;
}

/** Options of {@link UdpService.listen}. */
export interface UdpServiceOptions {
  /** Console label, e.g. "[UDP Server]". */
  label: string;
  /** Name used in errors, e.g. "UDP message service". */
  service: string;
  hostname: string;
  port: number;
  /** Which engine moves the datagrams (serve --udp-engine). Default "deno". */
  engine?: UdpEngineChoice;
  /** Where the engine may put off its start-up work (serve's, run after its Listening lines). */
  deferred?: DeferredStarts;
  log: Logger;
  gate: UdpGate;
  /**
   * Answers one admitted datagram (its AUTH line already stripped): the reply
   * to send back, or null for none. `budget` is the largest reply that keeps
   * within 3x the whole datagram on the wire (amplification.ts); a longer one
   * is not sent. Called for one datagram at a time; the payload is valid only
   * during the call.
   */
  handle(datagram: AdmittedDatagram, from: Deno.NetAddr, budget: number): Uint8Array | null;
  /** Called once a batch's replies were sent (or failed), e.g. to stop the server on `exit`. */
  afterReplies?(): void;
}

/** A listening UDP service. */
export class UdpService {
  readonly port: number;
  readonly hostname: string;
  /** The engine in use: "deno" or "batch". */
  readonly engine: "deno" | "batch";
  #engine: UdpEngine;
  #options: UdpServiceOptions;
  #stopping = false;
  #loop: Promise<void>;
  #withheld = 0;

  private constructor(engine: UdpEngine, options: UdpServiceOptions) {
    this.#engine = engine;
    this.#options = options;
    this.port = engine.addr.port;
    this.hostname = engine.addr.hostname;
    this.engine = engine.kind;
    this.#loop = this.#receive();
  }

  /**
   * Binds with the chosen engine and starts receiving. Throws RuntimeError if
   * the address cannot be bound or the engine cannot run here.
   */
  static async listen(options: UdpServiceOptions): Promise<UdpService> {
    const { label, log } = options;
    const engine = await listenUdpEngine(
      options.service,
      options.hostname,
      options.port,
      options.engine ?? "deno",
      {
        onSendError: (to, error) => {
          log.repeated(
            `${label} reply failed`,
            "info",
            () => `${label} Reply to ${formatAddr(to)} failed: ${error.message}`,
            (n, s) => `${label} ${n} more replies failed in ${s}s: ${error.message}`,
          );
        },
        // e.g. an ICMP error surfaced on the socket: it concerns one peer, not
        // the service. Forged sources can cause these at will: summarised.
        onReceiveError: (error) => {
          log.repeated(
            `${label} receive failed`,
            "info",
            `${label} Receive failed: ${error.message}`,
            (n, s) => `${label} Receive failed ${n} more times in ${s}s: ${error.message}`,
          );
        },
        onFallback: (why) => log.info(`${label} ${why}`),
        ...(options.deferred ? { deferred: options.deferred } : {}),
      },
    );
    return new UdpService(engine, options);
  }

  /** Replies not sent because they were over 3x their request (a handler's mistake). */
  get withheld(): number {
    return this.#withheld;
  }

  /** Closes the socket; resolves when the receive loop has ended. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#engine.close();
    await this.#loop;
  }

  async #receive(): Promise<void> {
    const { label, log, gate, handle, afterReplies } = this.#options;
    const engine = this.#engine;
    while (!this.#stopping) {
      let batch;
      try {
        batch = await engine.receive();
      } catch (error) {
        // The engine itself failed (its worker died): nothing more will come.
        log.error(`${label} The UDP engine stopped: ${describe(error)}`);
        return;
      }
      if (batch === null) return;
      const replies: Reply[] = [];
      for (const { data, from } of batch) {
        const budget = replyBudget(data.length);
        const screened = gate.screen(data, from, label);
        // A refusal is a courtesy; a send error concerns that peer only.
        const reply = screened.admitted ? handle(screened, from, budget) : screened.reply;
        if (reply === null) continue;
        if (reply.length <= budget) replies.push({ data: reply, to: from });
        else this.#withhold(reply.length, data.length);
      }
      if (replies.length > 0) {
        try {
          await engine.send(replies);
        } catch (error) {
          if (this.#stopping || error instanceof Deno.errors.BadResource) return;
          log.error(`${label} Sending replies failed: ${describe(error)}`);
        }
      }
      afterReplies?.();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #withhold(reply: number, request: number): void {
    const { label, log } = this.#options;
    this.#withheld++;
    log.repeated(
      `${label} reply withheld`,
      "info",
      `${label} A ${reply}-byte reply to a ${request}-byte datagram was withheld: over 3x on the wire`,
      (n, s) => `${label} ${n} more replies withheld in ${s}s: over 3x their request`,
    );
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
