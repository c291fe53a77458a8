import { deepStrictEqual, equal, match } from "node:assert/strict";
import { connectionsThatFit, fdNeeded } from "../../lib/base/fd_limit.ts";
import { parseFlags } from "../../lib/base/flags.ts";
import { PerAddressCounter } from "../../lib/net/per_address.ts";
import { parseServeConfig, SERVE_SPEC, sizeConnections } from "../../lib/serve.ts";

// The services before the web service (issue 23), which the figures below were worked out for.
const config = (...args: string[]) =>
  parseServeConfig(
    parseFlags(
      SERVE_SPEC,
      args.includes("--services") ? args : ["--services", "message,chat,info,files", ...args],
    ),
  );

Deno.test("limits: connection caps fit the open-file limit with a reserve per service", () => {
  const plan = { services: 4, tcpServices: 3, perConnection: 1, extra: 32 };
  // 64 for the process, 32 per service, 2 per file transfer, then 3 TCP services.
  equal(connectionsThatFit(plan, 1024), Math.floor((1024 - 64 - 128 - 32) / 3));
  equal(fdNeeded(plan, 1024), 64 + 128 + 32 + 3 * 1024);
  equal(connectionsThatFit({ ...plan, perConnection: 2 }, 1024), Math.floor(800 / 6));
  equal(connectionsThatFit(plan, 100), 0);
});

Deno.test("limits: --max-conns is sized from the limit unless given, and warned about when it cannot fit", () => {
  const known = (soft: number) => ({ known: true as const, before: soft, soft, hard: soft });
  deepStrictEqual(sizeConnections(config(), known(1_000_000)), {
    maxConnections: 1024,
    notes: [],
    warnings: [],
  });
  const low = sizeConnections(config(), known(512));
  equal(low.maxConnections, 96);
  deepStrictEqual(low.notes, [
    "[Server] --max-conns 96 per TCP service: what an open-file limit of 512 allows",
  ]);
  const given = sizeConnections(config("--max-conns", "500"), known(512));
  equal(given.maxConnections, 500);
  match(given.warnings[0]!, /^--max-conns 500 for 3 TCP services needs up to 1724 open files/);
  const message = sizeConnections(config("--services", "message"), known(512));
  equal(message.maxConnections, 512 - 64 - 32);
  const unknown = sizeConnections(config(), { known: false, why: "--allow-ffi not granted" });
  equal(unknown.maxConnections, 266);
  deepStrictEqual(unknown.warnings, []);
  equal(
    unknown.notes[0],
    "[Server] Open-file limit not known (--allow-ffi not granted): caps assume 1024",
  );
});

Deno.test("limits: one counter per address: both forms of an IPv4 client share it, a release is counted once", () => {
  const counter = new PerAddressCounter(2);
  const first = counter.claim("10.0.0.1");
  const second = counter.claim("::ffff:10.0.0.1");
  deepStrictEqual(counter.claim("10.0.0.1"), { ok: false, open: 2 });
  equal(counter.claim("10.0.0.2").ok, true);
  if (!first.ok || !second.ok) throw new Error("claims under the cap refused");
  first.release();
  first.release();
  equal(counter.claim("10.0.0.1").ok, true);
  deepStrictEqual(counter.claim("10.0.0.1"), { ok: false, open: 2 });
  equal(new PerAddressCounter(0).claim("10.0.0.1").ok, true, "no cap");
  equal(new PerAddressCounter(0).addresses, 0);
});
