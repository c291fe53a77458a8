/**
 * Test helper: chat instances of a cluster, `socketkit serve` with chat and
 * info on ports 0, in the test process or as processes, and raw TCP members
 * of them.
 */
import { match, ok } from "node:assert/strict";
import type { ClusterWaits } from "../lib/chat/cluster_config.ts";
import {
  LineClient,
  padded,
  type ProcessOptions,
  ServerProcess,
  type TestServer,
  udpRequest,
} from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";
import { FAST } from "./_cluster_probe.ts";

/** The chat service's log label. */
export const CHAT = "[Chat Server]";
/** The info service's log label. */
export const INFO = "[Info Server]";
/** A text-mode line's clock, as a regular expression. */
export const TIME = String.raw`\[\d\d:\d\d:\d\d\]`;
/**
 * The cluster's waits on milliseconds (FAST's intervals, join retries from
 * 10 ms), for an instance whose test waits out a reconnect or a retry.
 */
export const FAST_WAITS: ClusterWaits = { timing: FAST, joinRetryMinMs: 10, joinRetryMaxMs: 100 };

/** The serve arguments of an instance of the cluster at `url` ("": none on the command line). */
function instanceArgs(url: string, extra: string[]): string[] {
  return ["--services", "chat,info", ...(url ? ["--redis", url] : []), ...extra];
}

/** A chat instance of the cluster at `url`, in the test process; `waits` shortens its waits. */
export function instance(
  url: string,
  extra: string[] = [],
  waits?: ClusterWaits,
): Promise<TestServer> {
  return InProcessServer.start(
    instanceArgs(url, extra),
    [CHAT, INFO],
    {},
    waits ? { clusterWaits: waits } : {},
  );
}

/** A chat instance as a process, for a test that kills it, times it or gives it an environment. */
export function spawnInstance(
  url: string,
  extra: string[] = [],
  options: ProcessOptions = {},
): Promise<ServerProcess> {
  return ServerProcess.start(instanceArgs(url, extra), [CHAT, INFO], options);
}

/** A raw TCP member, as netcat would be. */
export class Member implements Disposable {
  readonly client: LineClient;

  private constructor(client: LineClient) {
    this.client = client;
  }

  /** Connects and gives `name`; resolves with the reply to the name. */
  static async connect(server: TestServer, name: string): Promise<[Member, string]> {
    const member = new Member(await LineClient.connect(server.port(CHAT)));
    match((await member.next())!, /^! Welcome/);
    await member.send(name);
    return [member, (await member.next())!];
  }

  /** Connects and joins as `name` (the join and limits lines are read). */
  static async join(server: TestServer, name: string): Promise<Member> {
    const [member, reply] = await Member.connect(server, name);
    match(reply, new RegExp(`^! Joined as ${name}\\.`));
    match((await member.next())!, /^! Limits: /);
    return member;
  }

  send(line: string): Promise<void> {
    return this.client.send(line + "\n");
  }

  next(ms = 5000): Promise<string | null> {
    return this.client.readLine(ms);
  }

  /** Reads until a line matches (within `ms` per line); returns it and the lines before. */
  async until(pattern: RegExp, ms = 5000): Promise<{ line: string; before: string[] }> {
    const before: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const line = await this.next(ms);
      if (line === null) throw new Error(`EOF while waiting for ${pattern}; got ${before}`);
      if (pattern.test(line)) return { line, before };
      before.push(line);
    }
    throw new Error(`no line matching ${pattern}`);
  }

  [Symbol.dispose](): void {
    this.client.close();
  }
}

/** The info service's reply to `command`. */
export async function info(server: TestServer, command: string): Promise<string> {
  const reply = await udpRequest(server.port(INFO), padded(command), 5000);
  ok(reply !== null, `no reply to ${command}`);
  return reply;
}
