/** A chat member as netcat would be: the chat tests' raw TCP client. */
import { match } from "node:assert/strict";
import { LineClient } from "./_helpers.ts";

/** The first line on every connection. */
export const WELCOME =
  /^! Welcome to socketkit chat \(\d+ members? online\)\. .* Enter your name:$/;

/** A raw TCP member, as netcat would be. */
export class Member implements Disposable {
  readonly client: LineClient;
  name = "";

  private constructor(client: LineClient) {
    this.client = client;
  }

  /** Connects and reads the welcome line. */
  static async connect(port: number): Promise<Member> {
    const member = new Member(await LineClient.connect(port));
    match((await member.next())!, WELCOME);
    return member;
  }

  /** Connects, gives `name`, and reads the join and limits lines. */
  static async join(port: number, name: string): Promise<Member> {
    const member = await Member.connect(port);
    await member.send(name);
    match((await member.next())!, new RegExp(`^! Joined as ${name}\\. \\d+ here: `));
    match((await member.next())!, /^! Limits: /);
    member.name = name;
    return member;
  }

  send(line: string | Uint8Array): Promise<void> {
    return this.client.send(typeof line === "string" ? line + "\n" : line);
  }

  next(ms = 5000): Promise<string | null> {
    return this.client.readLine(ms);
  }

  /** Reads until a line matches (at most `limit` lines); returns the lines before it too. */
  async until(pattern: RegExp, limit = 100_000): Promise<{ line: string; before: string[] }> {
    const before: string[] = [];
    for (let i = 0; i < limit; i++) {
      const line = await this.next();
      if (line === null) throw new Error(`EOF while waiting for ${pattern}; got ${before}`);
      if (pattern.test(line)) return { line, before };
      before.push(line);
    }
    throw new Error(`no line matching ${pattern} in ${limit} lines`);
  }

  [Symbol.dispose](): void {
    this.client.close();
  }
}
