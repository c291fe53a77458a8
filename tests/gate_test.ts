/**
 * The security gate in process, in front of a TcpService, on an injected
 * clock: the failed-authentication budget of one address and how it refills
 * (one try every 6 s), with no real time waited out.
 */
import { equal, match } from "node:assert/strict";
import { Logger } from "../lib/base/logger.ts";
import { decodeLenient, encode } from "../lib/base/text.ts";
import { TcpService } from "../lib/net/tcp_service.ts";
import { AccessPolicy } from "../lib/security/access.ts";
import { AUTH_FAILURE_RATE, Gate } from "../lib/security/gate.ts";
import { Token } from "../lib/security/token_check.ts";

const TOKEN = "a-token-long-enough-to-be-accepted-0123456789";

/** Reads until the server closes; returns what it sent. */
async function readToEnd(conn: Deno.Conn): Promise<string> {
  const chunks: string[] = [];
  const buffer = new Uint8Array(256);
  try {
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      chunks.push(decodeLenient(buffer.subarray(0, n)));
    }
  } catch {
    // A reset after the last line counts as the close.
  }
  return chunks.join("");
}

Deno.test("gate: an address that spent --max-auth-failures is refused at accept until one try has refilled", async () => {
  const clock = { now: 0 };
  const log = new Logger({ sink: { write: (bytes) => Promise.resolve(bytes.length) } });
  const gate = new Gate({
    access: new AccessPolicy(),
    token: new Token(TOKEN),
    tls: null,
    authTimeout: 10_000,
    maxConnsPerIp: 0,
    maxAuthFailures: 2,
    now: () => clock.now,
  }, log);
  const service = TcpService.listen({
    label: "[Test]",
    service: "test service",
    hostname: "127.0.0.1",
    port: 0,
    log,
    maxConnections: 16,
    idle: { ms: 0 },
    busyReply: "BUSY",
    perAddressReply: () => "SHARE",
    gate,
    handle: async (tracked) => {
      await tracked.conn.write(encode("welcome\n"));
    },
  });
  const attempt = async (line: string) => {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: service.port });
    await conn.write(encode(line + "\n"));
    return await readToEnd(conn);
  };
  try {
    match(await attempt("AUTH wrong-1"), /AUTH FAILED: wrong token\n$/);
    match(await attempt("AUTH wrong-2"), /AUTH FAILED: wrong token\n$/);
    // The budget is spent: closed at accept, not a byte sent, the right token no help.
    equal(await attempt(`AUTH ${TOKEN}`), "");
    clock.now = 1000 / AUTH_FAILURE_RATE - 1;
    equal(await attempt(`AUTH ${TOKEN}`), "", "not yet refilled");
    clock.now = 1000 / AUTH_FAILURE_RATE;
    match(await attempt(`AUTH ${TOKEN}`), /AUTH OK\nwelcome\n$/);
    equal(gate.status().json.authFailures, 2);
    equal(gate.status().json.refusedConnections, 2);
  } finally {
    await service.stop();
    await log.flush(); // the summaries of the repeated refusals, and their timers
  }
});
