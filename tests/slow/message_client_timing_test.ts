/**
 * Message mode gives up in time: a silent TCP server times out, and UDP to a
 * port nobody listens on fails at once. They time the client, so they live
 * in the slow tier.
 */
import { equal, match, ok } from "node:assert/strict";
import { runCli } from "../_helpers.ts";
import { closedUdpPort, fakeServer } from "../_fake_peers.ts";

Deno.test("message mode: a TCP server that never answers times out with exit 1", async () => {
  await fakeServer(null, async (port) => {
    const started = performance.now();
    const result = await runCli(
      ["connect", "--tcp", `--tcp-port=${port}`, "--timeout=200ms", "--retries=1"],
      "hi\n",
    );
    equal(result.code, 1);
    match(
      result.stderr,
      /^error: No reply from 127\.0\.0\.1:\d+ within 0\.4 s over TCP: wrong port/,
    );
    ok(performance.now() - started < 30_000);
  });
});

Deno.test("message mode: UDP to a port where nothing listens fails at once (ICMP port unreachable)", async () => {
  const port = closedUdpPort();
  const started = performance.now();
  // 5 s a try, 3 tries: without the ICMP answer this would take 15 s.
  const result = await runCli(
    ["connect", "--udp", `--udp-port=${port}`, "--timeout=5s", "--retries=2"],
    "one\ntwo\n",
    { denoArgs: ["--allow-ffi"] },
  );
  const seconds = (performance.now() - started) / 1000;
  equal(result.code, 1, result.stderr);
  match(
    result.stderr,
    /^error: Nothing listens on UDP 127\.0\.0\.1:\d+: the host answered "port unreachable": is socketkit serve running/,
  );
  ok(seconds < 5, `took ${seconds.toFixed(1)} s`);
});
