/**
 * The chat server's timeouts, waited out in real time (a 300 ms name timeout,
 * a 2 s idle timeout): slow, and under load the steps before the idle
 * timeout can outlast it, so this runs in the slow tier.
 */
import { equal } from "node:assert/strict";
import { LineClient } from "../_helpers.ts";
import { LABEL, startChat } from "../_chat.ts";
import { Member } from "../_chat_member.ts";

Deno.test("chat: the room cap, the name timeout and the idle timeout", async () => {
  await using server = await startChat([
    "--chat-max-members",
    "2",
    "--chat-name-timeout",
    "300ms",
    "--chat-idle-timeout",
    "2s",
  ]);
  const port = server.port(LABEL);
  using alice = await Member.join(port, "alice");
  using bob = await Member.join(port, "bob");
  await alice.next();
  using third = await LineClient.connect(port);
  equal(await third.readLine(), "! The room is full (2 members); try again later");
  equal(await third.readLine(), null);

  await bob.send("/quit");
  await alice.until(/^\* bob left$/);
  using silent = await Member.connect(port);
  equal(await silent.next(), "! No name given in time; goodbye");
  equal(await silent.next(), null);

  // alice has said nothing for a while: the idle timeout closes her.
  equal(await alice.next(), "! Idle for too long; goodbye");
  equal(await alice.next(), null);
  await server.waitFor(/^\[Chat Server\] alice left \(idle\)$/);
});
