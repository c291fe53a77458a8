/**
 * The baseline for bench/scenarios/chat.ts: the least a broadcast server can
 * do. Every line received goes to every other connection; no names, no
 * limits, no history, unbounded queues. Sends "ok" to each new connection
 * so a generator knows it is registered. Prints "listening PORT".
 */
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(`listening ${(listener.addr as Deno.NetAddr).port}`);

interface Peer {
  conn: Deno.TcpConn;
  /** Writes are chained so each connection's lines stay in order. */
  tail: Promise<void>;
}
const peers = new Set<Peer>();

function send(peer: Peer, bytes: Uint8Array): void {
  peer.tail = peer.tail.then(async () => {
    for (let written = 0; written < bytes.length;) {
      written += await peer.conn.write(bytes.subarray(written));
    }
  }).catch(() => {});
}

async function serve(peer: Peer): Promise<void> {
  const buffer = new Uint8Array(16 * 1024);
  let pending = new Uint8Array(0);
  try {
    while (true) {
      const n = await peer.conn.read(buffer);
      if (n === null) break;
      const data = new Uint8Array(pending.length + n);
      data.set(pending);
      data.set(buffer.subarray(0, n), pending.length);
      const end = data.lastIndexOf(0x0a) + 1;
      if (end > 0) {
        const lines = data.slice(0, end);
        for (const other of peers) if (other !== peer) send(other, lines);
      }
      pending = data.slice(end);
    }
  } catch {
    // reset: just forget the peer
  } finally {
    peers.delete(peer);
    try {
      peer.conn.close();
    } catch {
      // already closed
    }
  }
}

for await (const conn of listener) {
  conn.setNoDelay(true); // as the chat server does: latency over packet count
  const peer: Peer = { conn, tail: Promise.resolve() };
  peers.add(peer);
  send(peer, new TextEncoder().encode("ok\n"));
  serve(peer);
}
