/** What the chat tests share: a chat-only server, a member that has joined, reading until a line. */
import { match } from "node:assert/strict";
import { LineClient, type TestServer } from "./_helpers.ts";
import { InProcessServer, type TestSeams } from "./_in_process.ts";

export const LABEL = "[Chat Server]";
/** A chat line's clock, `[12:00:01]`. */
export const TIME = String.raw`\[\d\d:\d\d:\d\d\]`;

/**
 * A server running only the chat service, on port 0, in the test process
 * (a test that needs a process calls ServerProcess.start itself).
 */
export function startChat(args: string[] = [], seams: TestSeams = {}): Promise<TestServer> {
  return InProcessServer.start(["--services", "chat", ...args], [LABEL], {}, seams);
}

/** Connects, (authenticates), gives `name`, reads up to the limits line. */
export async function join(port: number, name: string, token?: string): Promise<LineClient> {
  const client = await LineClient.connect(port);
  if (token !== undefined) {
    match((await client.readLine())!, /^AUTH REQUIRED/);
    await client.send(`AUTH ${token}\n`);
    match((await client.readLine())!, /^AUTH OK/);
  }
  match((await client.readLine())!, /Enter your name:$/);
  await client.send(name + "\n");
  match((await client.readLine())!, new RegExp(`^! Joined as ${name}\\. `));
  match((await client.readLine())!, /^! Limits: /);
  return client;
}

/** Reads until a line matches (at most 1,000 lines, `ms` for each); returns the lines before it. */
export async function until(
  client: LineClient,
  pattern: RegExp,
  ms = 10_000,
): Promise<string[]> {
  const before: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const line = await client.readLine(ms);
    if (line === null) throw new Error(`EOF while waiting for ${pattern}; got ${before}`);
    if (pattern.test(line)) return before;
    before.push(line);
  }
  throw new Error(`no line matching ${pattern}`);
}
