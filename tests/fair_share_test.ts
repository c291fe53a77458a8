/**
 * A fair share per address by default: no single address holds more than a
 * quarter (at least 4) of a TCP service's connections, or of the chat's
 * members, unless the operator raises or lifts --max-conns-per-ip; the
 * refusal says why in each service's own style.
 */
import { equal, match, ok } from "node:assert/strict";
import { formatHelp } from "../lib/base/flags.ts";
import { perAddressCap } from "../lib/net/per_address.ts";
import { SERVE_SPEC } from "../lib/serve.ts";
import { InProcessServer } from "./_in_process.ts";
import { RawClient } from "./_security.ts";

const ACK_TCP = "[TCP Server] Your message was received!";

/** Opens `n` connections to `port` from 127.0.0.1. */
async function hold(n: number, port: number): Promise<RawClient[]> {
  const clients: RawClient[] = [];
  for (let i = 0; i < n; i++) clients.push(await RawClient.tcp(port));
  return clients;
}

Deno.test("fair share: the default is a quarter of the places, at least 4, and 0 lifts it", () => {
  equal(perAddressCap("auto", 1024), 256);
  equal(perAddressCap("auto", 32), 8);
  equal(perAddressCap("auto", 10), 4);
  equal(perAddressCap("auto", 2), 2);
  equal(perAddressCap(3, 1024), 3);
  equal(perAddressCap(0, 1024), 0);
  match(formatHelp(SERVE_SPEC), /--max-conns-per-ip N[^\n]*\n?[^\n]*auto: a quarter/);
  match(formatHelp(SERVE_SPEC), /default: auto/);
});

Deno.test("fair share: message, by default one address holds a quarter of --max-conns", async () => {
  await using server = await InProcessServer.start(
    ["--services", "message", "--max-conns", "32"],
  );
  const port = server.port("[TCP Server]");
  const clients = await hold(8, port);
  try {
    for (const client of clients) equal(await client.request("hi"), ACK_TCP);
    using ninth = await RawClient.tcp(port);
    equal(
      await ninth.readLine(),
      "[TCP Server] Error: too many connections from your address (8 of 32, --max-conns-per-ip auto); try again later",
    );
    equal(await ninth.readLine(), null);
    await server.waitFor(/^\[TCP Server\] Refused 127\.0\.0\.1:\d+: 8 connections open from that/);
  } finally {
    for (const client of clients) client.close();
  }
});

Deno.test("fair share: files, the same rule in the file protocol's words", async () => {
  await using server = await InProcessServer.start(
    ["--services", "files", "--max-conns", "16"],
    ["[File Server]"],
  );
  const port = server.port("[File Server]");
  const clients = await hold(4, port);
  try {
    for (const client of clients) match((await client.request("LIST"))!, /^OK /);
    using fifth = await RawClient.tcp(port);
    equal(
      await fifth.readLine(),
      "ERR busy Too many connections from your address (4 of 16, --max-conns-per-ip auto); try again later",
    );
  } finally {
    for (const client of clients) client.close();
  }
});

Deno.test("fair share: chat, silent members of one address cannot fill the room", async () => {
  await using server = await InProcessServer.start(
    ["--services", "chat", "--chat-max-members", "20"],
    ["[Chat Server]"],
  );
  const port = server.port("[Chat Server]");
  const members = await hold(5, port);
  try {
    for (const [i, member] of members.entries()) {
      match((await member.readLine())!, /^! Welcome/);
      await member.send(`silent${i}\n`);
    }
    await server.waitFor(/^\[Chat Server\] silent4 joined from /);
    using sixth = await RawClient.tcp(port);
    equal(
      await sixth.readLine(),
      "! Too many members from your address (5 of 20, --max-conns-per-ip auto); try again later",
    );
    equal(await sixth.readLine(), null);
    // One leaves: its place is given back.
    members.pop()!.close();
    await server.waitFor(/^\[Chat Server\] silent4 left/);
    using again = await RawClient.tcp(port);
    match((await again.readLine())!, /^! Welcome/);
  } finally {
    for (const member of members) member.close();
  }
});

Deno.test("fair share: --max-conns-per-ip 0 lifts it, a number sets it", async () => {
  {
    await using server = await InProcessServer.start(
      ["--services", "message", "--max-conns", "8", "--max-conns-per-ip", "0"],
    );
    const clients = await hold(8, server.port("[TCP Server]"));
    try {
      for (const client of clients) equal(await client.request("hi"), ACK_TCP);
    } finally {
      for (const client of clients) client.close();
    }
  }
  await using server = await InProcessServer.start(
    ["--services", "chat", "--max-conns-per-ip", "1"],
    ["[Chat Server]"],
  );
  using first = await RawClient.tcp(server.port("[Chat Server]"));
  match((await first.readLine())!, /^! Welcome/);
  using second = await RawClient.tcp(server.port("[Chat Server]"));
  const refusal = await second.readLine();
  ok(refusal !== null);
  match(refusal, /^! Too many (connections|members) from your address \(1: --max-conns-per-ip\)/);
});
