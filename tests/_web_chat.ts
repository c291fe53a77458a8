/** What the web chat tests share: a chat + web server, a WebSocket member reading JSON objects. */
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import type { TestServer } from "./_helpers.ts";
import { InProcessServer, type TestSeams } from "./_in_process.ts";

export const CHAT_LABEL = "[Chat Server]";
export const WEB_LABEL = "[Web Server]";

/** A server running the chat and the web service, on port 0, in the test process. */
export function startWebChat(args: string[] = [], seams: TestSeams = {}): Promise<TestServer> {
  return InProcessServer.start(
    ["--services", "chat,web", ...args],
    [CHAT_LABEL, WEB_LABEL],
    {},
    seams,
  );
}

/** One JSON object the server sent (a frame). */
export type ChatObject = Record<string, unknown> & { type: string };

/**
 * A chat member over Deno's WebSocket client: every frame must be one JSON
 * object (anything else fails the wait that sees it).
 */
export class WsMember implements AsyncDisposable {
  readonly socket: WebSocket;
  /** Every frame so far, parsed, in order. */
  readonly frames: ChatObject[] = [];
  #seen = 0;
  #wake: (() => void) | null = null;
  #closed: Promise<CloseEvent>;
  #bad: string | null = null;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    this.#closed = new Promise((resolve) => socket.addEventListener("close", resolve));
    socket.addEventListener("message", (event) => {
      try {
        const value = JSON.parse(String(event.data));
        if (typeof value !== "object" || value === null || typeof value.type !== "string") {
          throw new Error("not an object with a type");
        }
        this.frames.push(value);
      } catch {
        this.#bad ??= String(event.data);
      }
      this.#notify();
    });
    socket.addEventListener("close", () => this.#notify());
  }

  /** Opens ws://127.0.0.1:PORT/chat (rejects if the upgrade is refused). */
  static async open(port: number, headers?: Record<string, string>): Promise<WsMember> {
    const url = `ws://127.0.0.1:${port}/chat`;
    // Deno's client takes headers through its non-standard options object.
    const socket = headers
      ? new WebSocket(url, { headers } as unknown as string[])
      : new WebSocket(url);
    const member = new WsMember(socket);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new Error("WebSocket refused")), {
        once: true,
      });
    });
    return member;
  }

  /** Opens a member and joins as `name` (read up to the limits object). */
  static async join(port: number, name: string): Promise<WsMember> {
    const member = await WsMember.open(port);
    await member.next((o) => o.type === "system" && /Enter your name:$/.test(String(o.text)));
    member.send(name);
    await member.next((o) => o.type === "system" && String(o.text).startsWith("Joined as"));
    await member.next((o) => o.type === "system" && String(o.text).startsWith("Limits:"));
    return member;
  }

  send(line: string): void {
    this.socket.send(line);
  }

  /**
   * The next object (after those already taken) that matches; skips the
   * others. Throws if the socket closes or `ms` passes first.
   */
  async next(match: (o: ChatObject) => boolean, ms = 5000): Promise<ChatObject> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.#bad !== null) throw new Error(`a frame that is not a JSON object: ${this.#bad}`);
      while (this.#seen < this.frames.length) {
        const object = this.frames[this.#seen++]!;
        if (match(object)) return object;
      }
      if (this.socket.readyState === WebSocket.CLOSED) {
        throw new Error(`closed; got ${JSON.stringify(this.frames.slice(-5))}`);
      }
      const left = deadline - Date.now();
      const woke = await within(new Promise<void>((resolve) => this.#wake = resolve), left);
      if (woke === TIMED_OUT) {
        throw new Error(`no matching object in ${ms} ms; got ${JSON.stringify(this.frames)}`);
      }
    }
  }

  /** The system text objects' texts from now on, until one matches. */
  async system(pattern: RegExp, ms = 5000): Promise<ChatObject> {
    return await this.next((o) => o.type === "system" && pattern.test(String(o.text)), ms);
  }

  /** Resolves when the server closes the socket; throws if it has not within `ms`. */
  async closed(ms = 5000): Promise<CloseEvent> {
    const event = await within(this.#closed, ms);
    if (event === TIMED_OUT) throw new Error(`the server did not close within ${ms} ms`);
    return event;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close();
    await this.#closed;
  }
}
