/**
 * Load generator for a UDP request/reply service: `senders` sockets, each
 * keeping `window` datagrams in flight. A sender that hears nothing for
 * `timeoutMs` counts its outstanding datagrams as lost and sends afresh, so a
 * lost datagram costs a pause, not the run. Loss is reported as sent minus
 * answered over the whole run, after a drain.
 */
import { Histogram } from "../_histogram.ts";
import {
  deadline,
  describe,
  emptyResult,
  epochNow,
  type GeneratorResult,
  measureOwnCpu,
  readConfig,
  report,
  type WindowConfig,
} from "./_common.ts";

/** Settings of this generator. */
export interface UdpConfig extends WindowConfig {
  senders: number;
  /** Datagrams in flight per sender. */
  window: number;
  /** Silence after which a sender's outstanding datagrams count as lost. */
  timeoutMs: number;
  message: string;
}

/** One socket and its in-flight bookkeeping. */
class Sender {
  readonly socket: Deno.DatagramConn;
  readonly sentAt: Float64Array;
  head = 0;
  tail = 0;
  inFlight = 0;
  lastHeard = epochNow();
  closed = false;

  constructor(window: number) {
    this.socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    this.sentAt = new Float64Array(window);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

async function main(): Promise<void> {
  const config = readConfig<UdpConfig>();
  const histogram = new Histogram();
  const result: GeneratorResult = {
    ...emptyResult(config),
    sent: 0,
    received: 0,
  };
  const fail = (error: unknown) => {
    result.errors++;
    result.firstError ??= describe(error);
  };
  const request = new TextEncoder().encode(config.message);
  const target: Deno.NetAddr = { transport: "udp", hostname: config.hostname, port: config.port };
  const senders = Array.from({ length: config.senders }, () => new Sender(config.window));
  const hardStop = deadline(config.endAt + config.drainMs);
  hardStop.reached.then(() => senders.forEach((sender) => sender.close()));
  const cpu = measureOwnCpu(config);

  async function fill(sender: Sender): Promise<void> {
    while (sender.inFlight < config.window && !sender.closed) {
      const now = epochNow();
      if (now >= config.endAt) return;
      sender.sentAt[sender.tail] = now;
      sender.tail = (sender.tail + 1) % config.window;
      sender.inFlight++;
      result.sent!++;
      await sender.socket.send(request, target);
    }
  }

  // Gives up on datagrams nobody answered; after the window, closes senders
  // whose last datagrams were lost so their receive loops end.
  const watchdog = setInterval(() => {
    const now = epochNow();
    for (const sender of senders) {
      if (sender.closed || sender.inFlight === 0 || now - sender.lastHeard < config.timeoutMs) {
        continue;
      }
      sender.inFlight = 0;
      sender.head = sender.tail;
      sender.lastHeard = now;
      if (now >= config.endAt) sender.close();
      else fill(sender).catch(fail);
    }
  }, Math.max(5, config.timeoutMs / 4));

  async function run(sender: Sender): Promise<void> {
    const buffer = new Uint8Array(2048);
    await fill(sender);
    while (!sender.closed && (sender.inFlight > 0 || epochNow() < config.endAt)) {
      try {
        await sender.socket.receive(buffer);
      } catch (error) {
        if (sender.closed) return;
        throw error;
      }
      const now = epochNow();
      sender.lastHeard = now;
      result.received!++;
      if (sender.inFlight === 0) continue; // a late reply to a datagram already counted lost
      if (now >= config.startAt && now < config.endAt) {
        result.messages++;
        histogram.record((now - sender.sentAt[sender.head]!) * 1000);
      }
      sender.head = (sender.head + 1) % config.window;
      sender.inFlight--;
      await fill(sender);
    }
  }

  const done = Promise.all(senders.map((sender) => run(sender).catch(fail)));
  await done; // bounded: the hard stop closes every socket
  clearInterval(watchdog);
  hardStop.clear();
  senders.forEach((sender) => sender.close());
  result.cpuMs = await cpu;
  result.latency = histogram.toJSON();
  report(result);
}

if (import.meta.main) await main();
