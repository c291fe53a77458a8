/**
 * Baseline: the least a Deno UDP request/reply service can do. Receives into
 * one buffer and sends one fixed reply datagram back; no logging, no checks.
 *
 * Usage: deno run --allow-net=127.0.0.1 udp_echo.ts [port]
 */

// Same length as the message service's acknowledgement.
const REPLY = new TextEncoder().encode("[UDP Server] Your message was received!");

const socket = Deno.listenDatagram({
  transport: "udp",
  hostname: "127.0.0.1",
  port: Number(Deno.args[0] ?? 0),
});
console.log(`[Bare UDP] Listening on 127.0.0.1:${(socket.addr as Deno.NetAddr).port}`);
const buffer = new Uint8Array(65_536);
while (true) {
  try {
    const [, from] = await socket.receive(buffer);
    await socket.send(REPLY, from);
  } catch (error) {
    if (error instanceof Deno.errors.BadResource) break;
    // an ICMP error from one peer: keep serving the others
  }
}
