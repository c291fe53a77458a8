import { deepStrictEqual, ok } from "node:assert/strict";
import { machineNames } from "../../lib/security/tls_names.ts";

Deno.test("tls names: loopback names first, then --host and --tls-name, once each, IPv6 in one spelling", () => {
  const names = machineNames("192.0.2.7", ["LAN.example", "0:0::1", "192.0.2.7"]);
  deepStrictEqual(names.slice(0, 3), ["localhost", "127.0.0.1", "::1"]);
  ok(names.includes("192.0.2.7"));
  ok(names.includes("lan.example"));
  deepStrictEqual(names.filter((name) => name === "::1" || name === "192.0.2.7").length, 2);
  deepStrictEqual(new Set(names).size, names.length);
});

Deno.test("tls names: a wildcard --host is not a name", () => {
  for (const host of ["0.0.0.0", "::"]) {
    const names = machineNames(host, []);
    ok(!names.includes(host) && !names.includes("0.0.0.0"), names.join(" "));
  }
});
