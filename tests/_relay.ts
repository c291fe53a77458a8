/**
 * Test helper: a TCP relay in front of a server (Redis) that can go silent
 * without closing anything, as a stopped process or a partition that sends
 * no reset looks from the other side. While frozen it still accepts
 * connections but forwards nothing in either direction; thawed, it forwards
 * again, what it held first.
 */

/** A loopback relay to `127.0.0.1:targetPort`, on a port of its own. */
export class TcpRelay implements AsyncDisposable {
  readonly port: number;
  #listener: Deno.Listener;
  #targetPort: number;
  #conns = new Set<Deno.Conn>();
  #pumps = new Set<Promise<void>>();
  #accepting: Promise<void>;
  #thawed: Promise<void> = Promise.resolve();
  #thaw: () => void = () => {};
  #closed = false;

  constructor(targetPort: number) {
    this.#targetPort = targetPort;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    this.#accepting = this.#accept();
  }

  /** redis://127.0.0.1:PORT of the relay. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Stops forwarding (connections stay open, new ones are accepted). */
  freeze(): void {
    this.#thawed = new Promise((resolve) => this.#thaw = resolve);
  }

  /** Forwards again. */
  thaw(): void {
    this.#thaw();
  }

  async #accept(): Promise<void> {
    for await (const client of this.#listener) {
      let server: Deno.Conn;
      try {
        server = await Deno.connect({ hostname: "127.0.0.1", port: this.#targetPort });
      } catch {
        client.close();
        continue;
      }
      if (this.#closed) {
        client.close();
        server.close();
        continue;
      }
      this.#conns.add(client).add(server);
      const pair = Promise.all([this.#pump(client, server), this.#pump(server, client)]);
      const done = pair.then(() => {
        this.#pumps.delete(done);
      });
      this.#pumps.add(done);
    }
  }

  async #pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        await this.#thawed;
        if (this.#closed) break;
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
    } catch {
      // either side gone
    }
    for (const conn of [from, to]) {
      if (this.#conns.delete(conn)) {
        try {
          conn.close();
        } catch {
          // closed already
        }
      }
    }
  }

  /** Closes the listener and every connection, and waits for the pumps. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#thaw();
    this.#listener.close();
    await this.#accepting.catch(() => {});
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // closed already
      }
    }
    this.#conns.clear();
    await Promise.all(this.#pumps);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
