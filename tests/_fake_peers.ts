/** Peers that are not socketkit: a TCP server with a fixed answer, a UDP port with nobody on it. */

/** A TCP server on port 0 that answers each connection's first bytes with `reply`. */
export async function fakeServer(
  reply: Uint8Array | null,
  run: (port: number) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      await conn.read(new Uint8Array(1024)).catch(() => null);
      if (reply !== null) {
        await conn.write(reply).catch(() => 0);
        conn.close();
      }
    }
  })();
  try {
    await run(listener.addr.port);
  } finally {
    listener.close();
    await serving.catch(() => {});
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // closed after its reply
      }
    }
  }
}

/** A UDP port with nothing on it: bound, read back, released. */
export function closedUdpPort(): number {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (socket.addr as Deno.NetAddr).port;
  socket.close();
  return port;
}
