/**
 * The WebSocket baseline for bench/scenarios/chat_web.ts: the least a
 * broadcast over Deno's WebSocket can do. Members connect to the HTTP port
 * and upgrade (any path); their first frame (a name) gets a
 * `{"type":"system","text":"Joined as NAME."}` frame back. Every line the
 * sender writes to the TCP port goes to every member as one text frame, with
 * no rooms, limits, history or queue bounds. Prints "listening TCP_PORT" and
 * "web HTTP_PORT".
 */
const sockets = new Set<WebSocket>();
const decoder = new TextDecoder();

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.onmessage = (event) => {
    if (sockets.has(socket)) return;
    sockets.add(socket);
    socket.send(JSON.stringify({ type: "system", text: `Joined as ${event.data}.` }));
  };
  socket.onclose = () => sockets.delete(socket);
  return response;
});

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(`listening ${(listener.addr as Deno.NetAddr).port}`);
console.log(`web ${server.addr.port}`);

async function serve(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  await conn.write(new TextEncoder().encode("ok\n"));
  const buffer = new Uint8Array(16 * 1024);
  let pending = "";
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      const lines = (pending + decoder.decode(buffer.subarray(0, n))).split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        // The same object a chat member gets, so the generator parses both alike.
        const frame = JSON.stringify({
          type: "message",
          room: "#lobby",
          from: "sender",
          text: line,
        });
        for (const socket of sockets) {
          if (socket.readyState === WebSocket.OPEN) socket.send(frame);
        }
      }
    }
  } catch {
    // reset: the run is over
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

for await (const conn of listener) serve(conn);
