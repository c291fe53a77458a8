/**
 * serve --proxy-protocol: connections from a trusted load balancer start with
 * a PROXY protocol header (v1 text or v2 binary), and the client it names is
 * the peer for --allow/--deny, --max-conns-per-ip, --exit-from, the token's
 * lock-out and the log. The balancer here is the test itself, on 127.0.0.1.
 */
import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import { parseV1, ProxyHeaderError, readProxyHeader } from "../lib/net/proxy_header.ts";
import { encode } from "../lib/base/text.ts";
import { LineClient, runCli } from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";

const TCP = "[TCP Server]";
const CHAT = "[Chat Server]";
const ACK = "[TCP Server] Your message was received!";

function v1(client: string, port: number): string {
  const family = client.includes(":") ? "TCP6" : "TCP4";
  const server = client.includes(":") ? "::1" : "127.0.0.1";
  return `PROXY ${family} ${client} ${server} ${port} 9001\r\n`;
}

/** A version 2 header: PROXY over TCP6 from `client` (16 bytes), or LOCAL. */
function v2(client: Uint8Array | null, port = 0): Uint8Array {
  const signature = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
  if (client === null) return new Uint8Array([...signature, 0x20, 0x00, 0x00, 0x00]);
  const block = new Uint8Array(36);
  block.set(client, 0);
  block[31] = 1; // destination ::1
  new DataView(block.buffer).setUint16(32, port);
  new DataView(block.buffer).setUint16(34, 9001);
  return new Uint8Array([...signature, 0x21, 0x21, 0x00, 36, ...block]);
}

/** Reads the header from `bytes` the way the service does, and what it left unread. */
async function parse(bytes: Uint8Array): Promise<[Deno.NetAddr | null, number]> {
  let offset = 0;
  const reader = {
    read(buffer: Uint8Array): Promise<number | null> {
      if (offset >= bytes.length) return Promise.resolve(null);
      const n = Math.min(buffer.length, bytes.length - offset);
      buffer.set(bytes.subarray(offset, offset + n));
      offset += n;
      return Promise.resolve(n);
    },
  };
  const source = await readProxyHeader(reader);
  return [source, bytes.length - offset];
}

Deno.test("proxy header: v1 and v2 are read to their last byte and no further; bad ones refused", async () => {
  deepStrictEqual(await parse(encode(v1("203.0.113.7", 5555) + "hello\n")), [
    { transport: "tcp", hostname: "203.0.113.7", port: 5555 },
    "hello\n".length,
  ]);
  deepStrictEqual(await parse(encode("PROXY UNKNOWN\r\nx")), [null, 1]);
  const ipv6 = new Uint8Array(16);
  ipv6.set([0x20, 0x01, 0x0d, 0xb8], 0);
  ipv6[15] = 1;
  deepStrictEqual(await parse(new Uint8Array([...v2(ipv6, 4444), 0x68, 0x69])), [
    { transport: "tcp", hostname: "2001:db8::1", port: 4444 },
    2,
  ]);
  deepStrictEqual(await parse(new Uint8Array([...v2(null), 0x68])), [null, 1]);
  for (
    const bad of [
      "hello there, no header\n",
      "PROXY TCP4 203.0.113.7 127.0.0.1 5555\r\n",
      "PROXY TCP4 2001:db8::1 ::1 5555 9001\r\n",
      "PROXY TCP4 203.0.113.7 127.0.0.1 99999 9001\r\n",
      "PROXY TCP4 " + "1".repeat(120) + "\r\n",
      "PROXY TCP4 203.0.113.7",
    ]
  ) {
    await parse(encode(bad)).then(
      () => ok(false, `accepted ${JSON.stringify(bad)}`),
      (error) => ok(error instanceof ProxyHeaderError, String(error)),
    );
  }
  throws(() => parseV1("PROXY UDP4 1.2.3.4 1.2.3.4 1 2"), ProxyHeaderError);
});

Deno.test("proxy header: 3,000 mangled headers give an address or ProxyHeaderError, never another error", async () => {
  // A seeded generator: a failure names an input that can be replayed.
  let seed = 0x9e3779b9;
  const random = (n: number) => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed % n;
  };
  const ipv6 = new Uint8Array(16).fill(7);
  const samples = [encode(v1("203.0.113.7", 5555)), encode(v1("2001:db8::7", 1)), v2(ipv6, 80)];
  for (let i = 0; i < 3000; i++) {
    const bytes = new Uint8Array(samples[i % samples.length]!);
    for (let flips = 1 + random(4); flips > 0; flips--) bytes[random(bytes.length)] = random(256);
    const cut = random(4) === 0 ? bytes.subarray(0, random(bytes.length)) : bytes;
    try {
      const [source] = await parse(new Uint8Array([...cut, ...encode("after\n")]));
      if (source !== null) ok(source.port >= 0 && source.port <= 65535, `port ${source.port}`);
    } catch (error) {
      ok(error instanceof ProxyHeaderError, `input ${i}: ${error}`);
    }
  }
});

Deno.test("serve --proxy-protocol: the header's client is the peer for the log, --allow, --max-conns-per-ip and --exit-from", async () => {
  await using server = await InProcessServer.start(
    [
      "--services",
      "message,chat",
      "--tcp-port",
      "0",
      "--udp-port",
      "0",
      "--chat-port",
      "0",
      "--proxy-protocol",
      "127.0.0.1",
      "--allow",
      "127.0.0.1,203.0.113.0/24,2001:db8::/32",
      "--max-conns-per-ip",
      "1",
    ],
    [TCP, CHAT],
  );
  const port = server.port(TCP);
  await server.waitFor(/PROXY protocol header; the client it names is the peer$/);

  using first = await LineClient.connect(port);
  await first.send(v1("203.0.113.7", 5555) + "hello\n");
  equal(await first.readLine(), ACK);
  await server.waitFor(/^\[TCP Server\] Received from 203\.0\.113\.7:5555: hello$/);

  // The cap counts the client, not the balancer: the same client again is refused,
  // another one through the same balancer is not.
  using again = await LineClient.connect(port);
  await again.send(v1("203.0.113.7", 5556) + "second\n");
  match((await again.readLine())!, /too many connections/);
  equal(await again.readLine(), null);
  using other = await LineClient.connect(port);
  await other.send(v2(new Uint8Array([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 2]), 4444));
  await other.send("from v2\n");
  equal(await other.readLine(), ACK);
  await server.waitFor(/^\[TCP Server\] Received from \[2001:db8::2\]:4444: from v2$/);

  // --allow applies to the client: 198.51.100.1 is not in it.
  using outsider = await LineClient.connect(port);
  await outsider.send(v1("198.51.100.1", 1) + "let me in\n");
  equal(await outsider.readLine(), null);
  await server.waitFor(/^\[TCP Server\] Refused 198\.51\.100\.1:1: not in --allow$/);

  // --exit-from local: the balancer is on this machine, the client is not.
  using remote = await LineClient.connect(port);
  await remote.send(v1("203.0.113.9", 2) + "exit\n");
  match((await remote.readLine())!, /^\[TCP Server\] Refusing exit: only clients on this machine/);

  // A connection from the balancer without a header is closed, and said so.
  using bare = await LineClient.connect(port);
  await bare.send("no header at all, just a message\n");
  equal(await bare.readLine(), null);
  await server.waitFor(
    /^\[TCP Server\] Closing 127\.0\.0\.1:\d+ \(a --proxy-protocol balancer\): no PROXY protocol header$/,
  );

  // The chat shows and logs the client too.
  using _ann = await joinThrough(server.port(CHAT), v1("203.0.113.20", 7000));
  await server.waitFor(/^\[Chat Server\] ann joined from 203\.0\.113\.20:7000$/);
});

/** Joins the chat as "ann" through a header. */
async function joinThrough(port: number, header: string): Promise<LineClient> {
  const client = await LineClient.connect(port);
  await client.send(header);
  match((await client.readLine())!, /Enter your name:$/);
  await client.send("ann\n");
  match((await client.readLine())!, /^! Joined as ann\./);
  return client;
}

Deno.test("serve --proxy-protocol: from anyone else a PROXY line is just data; with TLS it is a usage error", async () => {
  await using server = await InProcessServer.start(
    ["--services", "message", "--tcp-port", "0", "--udp-port", "0", "--proxy-protocol", "10.0.0.1"],
    [TCP],
  );
  using client = await LineClient.connect(server.port(TCP));
  await client.send(v1("203.0.113.7", 5555));
  equal(await client.readLine(), ACK);
  await server.waitFor(/^\[TCP Server\] Received from 127\.0\.0\.1:\d+: PROXY TCP4 203\.0\.113\.7/);

  const result = await runCli([
    "serve",
    "--proxy-protocol",
    "10.0.0.1",
    "--tls-cert",
    "cert.pem",
    "--tls-key",
    "key.pem",
  ]);
  equal(result.code, 2);
  match(result.stderr, /^error: --proxy-protocol cannot be used with --tls-cert/);
  const bad = await runCli(["serve", "--proxy-protocol", "balancer.example"]);
  equal(bad.code, 2);
  match(bad.stderr, /Invalid value "balancer\.example" for --proxy-protocol/);
});
