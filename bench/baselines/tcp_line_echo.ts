/**
 * Baseline: the least a Deno TCP line service can do. Reads, counts newlines,
 * and writes one fixed reply line per newline from a preallocated buffer; no
 * framing limits, no logging, no protocol. Same read size and reply bytes as
 * the TCP message service, so the comparison is about the service's own cost.
 *
 * Usage: deno run --allow-net=127.0.0.1 tcp_line_echo.ts [port]
 */

// Same length as the message service's acknowledgement.
const REPLY = new TextEncoder().encode("[TCP Server] Your message was received!\n");
const READ_SIZE = 8 * 1024;
// Enough replies for a read made only of newlines.
const REPLIES = new Uint8Array(REPLY.length * READ_SIZE);
for (let i = 0; i < READ_SIZE; i++) REPLIES.set(REPLY, i * REPLY.length);
const LF = 0x0a;

async function serve(conn: Deno.TcpConn): Promise<void> {
  const buffer = new Uint8Array(READ_SIZE);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) return;
      const chunk = buffer.subarray(0, n);
      let lines = 0;
      for (let at = chunk.indexOf(LF); at !== -1; at = chunk.indexOf(LF, at + 1)) lines++;
      const out = REPLIES.subarray(0, lines * REPLY.length);
      for (let written = 0; written < out.length;) {
        written += await conn.write(out.subarray(written));
      }
    }
  } catch {
    // reset by the peer: the connection is simply over
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(Deno.args[0] ?? 0) });
console.log(`[Bare TCP] Listening on 127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);
for await (const conn of listener) serve(conn);
