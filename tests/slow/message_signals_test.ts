/**
 * SIGINT and SIGTERM on the real process: the clean shutdown path, and at
 * once (the test times the stop, so it lives in the slow tier).
 */
import { equal, ok } from "node:assert/strict";
import { LineClient, ServerProcess, udpRequest } from "../_helpers.ts";
import { ENGINE_RUNS } from "../_udp_engines.ts";

const ACK_TCP = "[TCP Server] Your message was received!";
const ACK_UDP = "[UDP Server] Your message was received!";

for (const { engine, args, options, skip } of ENGINE_RUNS) {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.test({
      name: `serve (${engine} engine): ${signal} takes the clean shutdown path and exits 0`,
      ignore: skip !== null,
      async fn() {
        await using server = await ServerProcess.start(args, undefined, options);
        using client = await LineClient.connect(server.port("[TCP Server]"));
        equal(await client.request("hi"), ACK_TCP);
        equal(await udpRequest(server.port("[UDP Server]"), "hi"), ACK_UDP);
        const started = performance.now();
        const { code } = await server.stop(signal);
        equal(code, 0);
        ok(performance.now() - started < 5000, "stopped at once, not after a timeout");
        equal(await client.readLine(), null);
        ok(server.lines.includes(`[Server] Shutting down (${signal})`));
        equal(server.lines.at(-1), "[Server] All services stopped.");
      },
    });
  }
}
