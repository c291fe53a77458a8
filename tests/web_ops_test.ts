/**
 * The operator's routes of the web service: /status (STATUS as JSON),
 * /metrics (checked by a parser of the Prometheus text format), /livez and
 * /readyz, which answers 503 while the server drains on shutdown and while
 * the chat's Redis is away (unless --redis-optional).
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { LineClient } from "./_helpers.ts";
import { tempDirs } from "./_files.ts";
import { FAST_WAITS } from "./_cluster.ts";
import { InProcessServer } from "./_in_process.ts";
import { REDIS_MISSING, RedisServer } from "./_redis.ts";
import { http, WEB_LABEL, webBase } from "./_web.ts";

/** One sample of the exposition. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text format 0.0.4: HELP and TYPE come
 * before their samples, names and label names are valid, label values are
 * escaped, values are floats, no series appears twice, counters end in
 * _total. Throws on the first violation.
 */
function parsePrometheus(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  ok(text.endsWith("\n"), "the exposition ends with a newline");
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ")) {
      const name = line.slice(7).split(" ")[0]!;
      ok(NAME.test(name), `HELP name ${name}`);
      continue;
    }
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice(7).split(" ");
      ok(NAME.test(name!), `TYPE name ${name}`);
      ok(["counter", "gauge", "histogram", "summary", "untyped"].includes(type!), line);
      ok(!types.has(name!), `TYPE twice for ${name}`);
      types.set(name!, type!);
      continue;
    }
    ok(!line.startsWith("#") && line.trim() !== "", `unexpected line: ${JSON.stringify(line)}`);
    const match = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/);
    ok(match, `sample line: ${line}`);
    const [, name, , body = "", raw] = match;
    ok(types.has(name!), `sample ${name} before its TYPE`);
    const labels: Record<string, string> = {};
    let rest = body;
    while (rest.length > 0) {
      const pair = rest.match(/^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/);
      ok(pair, `labels of ${line}`);
      labels[pair[1]!] = pair[2]!.replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
      rest = rest.slice(pair[0].length);
    }
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw);
    ok(raw === "NaN" || !Number.isNaN(value), `value of ${line}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    ok(!seen.has(key), `series twice: ${line}`);
    seen.add(key);
    if (types.get(name!) === "counter") {
      ok(name!.endsWith("_total"), `counter ${name} ends in _total`);
    }
    ok(name!.startsWith("socketkit_"), `${name} has the socketkit_ prefix`);
    samples.push({ name: name!, labels, value });
  }
  return { types, samples };
}

function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.find((sample) =>
    sample.name === name &&
    Object.entries(labels).every(([key, value]) => sample.labels[key] === value)
  );
  if (found === undefined) throw new Error(`no sample ${name} ${JSON.stringify(labels)}`);
  return found.value;
}

Deno.test("web ops: /status is the info service's STATUS as JSON, the web service listed", async () => {
  await using dirs = await tempDirs();
  await using server = await InProcessServer.start(
    ["--files-dir", dirs.files],
    ["[TCP Server]", "[Chat Server]", WEB_LABEL],
  );
  const got = await http(`${webBase(server)}/status`);
  equal(got.status, 200);
  match(got.headers.get("content-type")!, /application\/json/);
  const status = JSON.parse(got.text);
  equal(status.command, "STATUS");
  ok(status.services.some((s: { label: string }) => s.label === WEB_LABEL));
  deepStrictEqual(Object.keys(status.chat).sort(), ["members", "messages", "rooms"]);
  ok("files" in status && "messages" in status && "security" in status);
});

Deno.test("web ops: /metrics is valid Prometheus text with the series operators need, and counts messages and chat lines", async () => {
  await using dirs = await tempDirs();
  await using server = await InProcessServer.start(
    ["--files-dir", dirs.files],
    ["[TCP Server]", "[Chat Server]", WEB_LABEL],
  );
  using message = await LineClient.connect(server.port("[TCP Server]"));
  ok((await message.request("hello")) !== null, "the message service answered");
  using member = await LineClient.connect(server.port("[Chat Server]"));
  await member.send("alice\n");
  await member.send("a line for the room\n");
  await server.waitFor(/#lobby alice: a line for the room/);

  const got = await http(`${webBase(server)}/metrics`);
  equal(got.status, 200);
  match(got.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const { types, samples } = parsePrometheus(got.text);
  for (
    const [name, type] of [
      ["socketkit_connections", "gauge"],
      ["socketkit_messages_total", "counter"],
      ["socketkit_bytes_total", "counter"],
      ["socketkit_chat_members", "gauge"],
      ["socketkit_chat_rooms", "gauge"],
      ["socketkit_files_stored", "gauge"],
      ["socketkit_refusals_total", "counter"],
      ["socketkit_udp_dropped_total", "counter"],
      ["socketkit_build_info", "gauge"],
    ]
  ) {
    equal(types.get(name!), type, name);
  }
  equal(valueOf(samples, "socketkit_messages_total", { service: "message", transport: "tcp" }), 1);
  equal(valueOf(samples, "socketkit_messages_total", { service: "chat" }), 1);
  equal(valueOf(samples, "socketkit_chat_members"), 1);
  equal(valueOf(samples, "socketkit_connections", { service: "chat" }), 1);
  ok(valueOf(samples, "socketkit_connections", { service: "message" }) >= 1);
  equal(valueOf(samples, "socketkit_build_info"), 1);
  ok(samples.find((s) => s.name === "socketkit_build_info")!.labels.version);
  ok(!samples.some((s) => "name" in s.labels || "user" in s.labels), "no per-user labels");
});

Deno.test("web ops: /livez and /readyz answer 200; /readyz turns 503 while the server drains on shutdown", async () => {
  await using dirs = await tempDirs();
  await using server = await InProcessServer.start(
    ["--services", "message,web", "--files-dir", dirs.files, "--drain", "60s"],
    [WEB_LABEL],
  );
  const base = webBase(server);
  equal((await http(`${base}/livez`)).status, 200);
  const ready = await http(`${base}/readyz`);
  equal(ready.status, 200);
  equal(ready.text, "ready\n");
  const stopping = server.stop("SIGTERM");
  await server.waitFor(/Draining for 60 s/);
  const draining = await http(`${base}/readyz`);
  equal(draining.status, 503);
  match(draining.text, /shutting down/);
  equal((await http(`${base}/livez`)).status, 200, "the process still answers");
  // A second signal skips the rest of the drain.
  await server.stop("SIGINT");
  await stopping;
});

Deno.test({
  name:
    "web ops: /readyz is 503 while Redis is away, 200 once it is back; --redis-optional stays ready",
  ignore: REDIS_MISSING !== null,
  async fn() {
    await using redis = await RedisServer.start();
    await using dirs = await tempDirs();
    const args = ["--services", "chat,web", "--files-dir", dirs.files, "--redis", redis.url];
    await using strict = await InProcessServer.start(args, [WEB_LABEL], {}, {
      clusterWaits: FAST_WAITS,
    });
    await using lenient = await InProcessServer.start(
      [...args, "--redis-optional"],
      [WEB_LABEL],
      {},
      {
        clusterWaits: FAST_WAITS,
      },
    );
    equal((await http(`${webBase(strict)}/readyz`)).status, 200);
    await redis.kill();
    await strict.waitFor(/cluster: degraded/);
    await lenient.waitFor(/cluster: degraded/);
    const away = await http(`${webBase(strict)}/readyz`);
    equal(away.status, 503);
    match(away.text, /Redis/);
    equal((await http(`${webBase(lenient)}/readyz`)).status, 200);
    const metrics = parsePrometheus((await http(`${webBase(strict)}/metrics`)).text);
    equal(valueOf(metrics.samples, "socketkit_redis_up"), 0);
    await redis.restart();
    await strict.waitFor(/cluster: Redis is back/);
    equal((await http(`${webBase(strict)}/readyz`)).status, 200);
  },
});

Deno.test("web ops: past --max-conns requests being answered get 503 with Retry-After; the probes still answer", async () => {
  await using dirs = await tempDirs();
  await using server = await InProcessServer.start(
    ["--services", "web", "--files-dir", dirs.files, "--max-conns", "1"],
    [WEB_LABEL],
  );
  const port = server.port(WEB_LABEL);
  // An upload whose body never ends holds the one place.
  using held = await Deno.connect({ hostname: "127.0.0.1", port });
  await held.write(
    new TextEncoder().encode(
      "PUT /files/slow.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ),
  );
  await server.waitFor(/Receiving "slow\.bin"/);
  const busy = await http(`${webBase(server)}/status`);
  equal(busy.status, 503);
  equal(busy.headers.get("retry-after"), "1");
  match(busy.text, /busy/);
  equal((await http(`${webBase(server)}/livez`)).status, 200);
  equal((await http(`${webBase(server)}/readyz`)).status, 200);
});
