/**
 * Independent clients (netcat, socat, Python's socket module) talk to the
 * real server, proving the wire protocol is what docs/ say. Each test
 * skips, saying why, when its tool is not installed.
 */
import { deepStrictEqual, equal } from "node:assert/strict";
import { hasCommand } from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";

const tools = {
  nc: await hasCommand("nc"),
  socat: await hasCommand("socat"),
  python3: await hasCommand("python3"),
};
for (const [tool, present] of Object.entries(tools)) {
  if (!present) console.log(`skipping the ${tool} client test: ${tool} is not installed`);
}

async function run(command: string, args: string[], stdin: string): Promise<string> {
  const child = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const output = await child.output();
  equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout);
}

Deno.test({
  name: "independent client: netcat sends lines over TCP and a datagram over UDP",
  ignore: !tools.nc,
  async fn() {
    await using server = await InProcessServer.start();
    // -N: shut down the write side at EOF, so the server sees a half-close and replies.
    const tcp = await run(
      "nc",
      ["-N", "127.0.0.1", String(server.port("[TCP Server]"))],
      "hi\nthere\n",
    );
    equal(tcp, "[TCP Server] Your message was received!\n".repeat(2));
    const udp = await run(
      "nc",
      ["-u", "-w", "1", "127.0.0.1", String(server.port("[UDP Server]"))],
      "hello",
    );
    equal(udp, "[UDP Server] Your message was received!");
  },
});

Deno.test({
  name: "independent client: socat over TCP",
  ignore: !tools.socat,
  async fn() {
    await using server = await InProcessServer.start();
    const out = await run(
      "socat",
      ["-t", "2", "-", `TCP:127.0.0.1:${server.port("[TCP Server]")}`],
      "one\r\n",
    );
    equal(out, "[TCP Server] Your message was received!\n");
  },
});

Deno.test({
  name:
    "independent client: the original Python client pattern (no newline, then recv) on both transports",
  ignore: !tools.python3,
  async fn() {
    await using server = await InProcessServer.start();
    const script = `
import socket, sys
tcp_port, udp_port = int(sys.argv[1]), int(sys.argv[2])
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.settimeout(5)
    s.connect(("127.0.0.1", tcp_port))
    s.sendall(b"Hello")
    print(s.recv(1024).decode().strip())
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
    u.settimeout(5)
    u.sendto(b"Hello", ("127.0.0.1", udp_port))
    print(u.recvfrom(1024)[0].decode())
`;
    const out = await run("python3", [
      "-c",
      script,
      String(server.port("[TCP Server]")),
      String(server.port("[UDP Server]")),
    ], "");
    deepStrictEqual(out.trim().split("\n"), [
      "[TCP Server] Your message was received!",
      "[UDP Server] Your message was received!",
    ]);
  },
});
