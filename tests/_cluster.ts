/**
 * Test helper: chat instances of a cluster as real `socketkit serve`
 * processes (chat and info, ports 0), and raw TCP members of them.
 */
import { match, ok } from "node:assert/strict";
import { LineClient, type ProcessOptions, ServerProcess, udpRequest } from "./_helpers.ts";

/** The chat service's log label. */
export const CHAT = "[Chat Server]";
/** The info service's log label. */
export const INFO = "[Info Server]";
/** A text-mode line's clock, as a regular expression. */
export const TIME = String.raw`\[\d\d:\d\d:\d\d\]`;
/** A chat instance of the cluster at `url` (chat and info, ports 0). */
export function instance(url: string, extra: string[] = [], options: ProcessOptions = {}) {
  return ServerProcess.start(
    ["--services", "chat,info", ...(url ? ["--redis", url] : []), ...extra],
    [CHAT, INFO],
    options,
  );
}

/** A raw TCP member, as netcat would be. */
export class Member implements Disposable {
  readonly client: LineClient;

  private constructor(client: LineClient) {
    this.client = client;
  }

  /** Connects and gives `name`; resolves with the reply to the name. */
  static async connect(server: ServerProcess, name: string): Promise<[Member, string]> {
    const member = new Member(await LineClient.connect(server.port(CHAT)));
    match((await member.next())!, /^! Welcome/);
    await member.send(name);
    return [member, (await member.next())!];
  }

  /** Connects and joins as `name` (the join and limits lines are read). */
  static async join(server: ServerProcess, name: string): Promise<Member> {
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
export async function info(server: ServerProcess, command: string): Promise<string> {
  const reply = await udpRequest(server.port(INFO), command, 5000);
  ok(reply !== null, `no reply to ${command}`);
  return reply;
}
