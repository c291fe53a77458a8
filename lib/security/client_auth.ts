/**
 * The client end of the AUTH exchange, fitted under any client protocol.
 *
 * A server with a token speaks first: its first line is `AUTH REQUIRED ...`.
 * A client cannot know in advance whether that line will come, so:
 * - with a token configured (--token-file, SOCKETKIT_TOKEN), dialTcp waits
 *   for the server's first line before returning; the challenge is answered
 *   at once, anything else is kept for the protocol;
 * - without one, the connection is handed out at once and the first line is
 *   looked at as it arrives. A challenge that comes before the client has
 *   written anything (read-first protocols, or a person typing) is answered
 *   with a token asked for on the terminal; one that comes after (the server
 *   already took our first bytes as a failed AUTH) is a clear error.
 *
 * The first line is read one byte at a time, so no byte of the protocol that
 * follows is consumed by this layer, and most connections never need it.
 */
import { RuntimeError } from "../base/errors.ts";
import { TIMED_OUT, within } from "../base/deadline.ts";
import { closeQuietly, writeAll } from "../base/io.ts";
import { decodeLenient, encode, printable } from "../base/text.ts";
import type { ClientSecurity } from "./client_settings.ts";
import { ConnAdapter } from "./conn_adapter.ts";
import { AUTH_FAILED, AUTH_OK, AUTH_REQUIRED, authLine } from "./protocol.ts";
import { envReadable, TOKEN_ENV } from "./token.ts";

/** How long a server that speaks first (chat) has for its first line. */
export const FIRST_LINE_MS = 10_000;
/** How long the server has to answer an AUTH line. */
export const AUTH_REPLY_MS = 10_000;
/** Longest server line this layer reads (the challenge, the answer). */
const MAX_SERVER_LINE = 1024;

/** Options of {@link negotiateAuth}. */
export interface ClientAuthOptions {
  /** "127.0.0.1:65432", for messages and the prompt. */
  where: string;
  /** The token to answer with; warnings go to its warn(). */
  security: ClientSecurity;
  /** The protocol starts with a server line (chat): settle before returning. */
  serverSpeaksFirst: boolean;
  /** Milliseconds the connect (and TLS handshake) took; scales the waits. */
  connectMs: number;
  /** The user can be asked for the token (stdin is a terminal). */
  interactive: boolean;
}

type Sniffed =
  | { kind: "challenge" }
  | { kind: "data"; bytes: Uint8Array }
  | { kind: "eof"; bytes: Uint8Array }
  | { kind: "error"; error: unknown };

/**
 * Sets up authentication on a fresh connection (see the module comment).
 * Resolves to the connection to use: `conn` itself when nothing is left to
 * do, else a wrapper. Throws RuntimeError when the server refuses the token
 * or wants one the client does not have; `conn` is closed then.
 */
export async function negotiateAuth(
  conn: Deno.Conn<Deno.NetAddr>,
  options: ClientAuthOptions,
): Promise<Deno.Conn<Deno.NetAddr>> {
  let configured: boolean;
  try {
    configured = options.security.tokens.configured() !== null;
  } catch (error) {
    closeQuietly(conn);
    throw error;
  }
  // A person typing is slower than any challenge, so a first write from a
  // terminal waits briefly for one; a script's first write does not wait.
  const gateMs = options.interactive ? Math.max(200, 2 * options.connectMs) : 0;
  const auth = new AuthConn(conn, options, Date.now() + gateMs);
  if (!configured && !options.serverSpeaksFirst) return auth;
  const waitMs = options.serverSpeaksFirst
    ? FIRST_LINE_MS
    : Math.min(5000, Math.max(1000, 4 * options.connectMs));
  let outcome;
  try {
    outcome = await auth.settle(waitMs);
  } catch (error) {
    closeQuietly(conn);
    throw error;
  }
  if (outcome === "quiet" && configured && !options.serverSpeaksFirst) {
    options.security.warn(
      `a token is set (${options.security.tokens.source}) but ${options.where} did not ask for one within ${
        (waitMs / 1000).toFixed(1)
      }s; going on without it`,
    );
  }
  return auth.transparent ? conn : auth;
}

/** The error for a server that wants a token this client does not have. */
export function tokenRequiredError(where: string): RuntimeError {
  const env = envReadable()
    ? `set ${TOKEN_ENV}`
    : `set ${TOKEN_ENV} (readable with --allow-env=${TOKEN_ENV}, as deno task connect has)`;
  return new RuntimeError(
    `The server at ${where} requires a token: ${env} or use --token-file PATH`,
  );
}

/** A connection whose first server line may be an AUTH challenge. */
class AuthConn extends ConnAdapter {
  #inner: Deno.Conn<Deno.NetAddr>;
  #options: ClientAuthOptions;
  #gateUntil: number;
  #sniff: Promise<Sniffed>;
  #sniffed: Sniffed | null = null;
  #handled: Promise<void> | null = null;
  #settled = false;
  #wrote = false;
  #leftover: Uint8Array | null = null;
  #eof = false;
  #error: unknown = null;

  constructor(inner: Deno.Conn<Deno.NetAddr>, options: ClientAuthOptions, gateUntil: number) {
    super();
    this.#inner = inner;
    this.#options = options;
    this.#gateUntil = gateUntil;
    this.#sniff = this.#sniffFirstLine().then((sniffed) => (this.#sniffed = sniffed));
  }

  get localAddr(): Deno.NetAddr {
    return this.#inner.localAddr;
  }

  get remoteAddr(): Deno.NetAddr {
    return this.#inner.remoteAddr;
  }

  /** True once the first line is dealt with and nothing is held back: the inner conn will do. */
  get transparent(): boolean {
    return this.#settled && this.#leftover === null && !this.#eof && this.#error === null;
  }

  /**
   * Waits up to `ms` for the server's first line and deals with it.
   * "quiet": nothing came (the server waits for the client).
   */
  async settle(ms: number): Promise<"authenticated" | "no-challenge" | "quiet"> {
    const sniffed = await within(this.#sniff, ms);
    if (sniffed === TIMED_OUT) return "quiet";
    await this.#handle(sniffed);
    return sniffed.kind === "challenge" ? "authenticated" : "no-challenge";
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    if (!this.#settled) await this.#handle(await this.#sniff);
    if (this.#error !== null) {
      const error = this.#error;
      this.#error = null;
      throw error;
    }
    if (this.#leftover !== null) {
      const n = Math.min(buffer.length, this.#leftover.length);
      buffer.set(this.#leftover.subarray(0, n));
      this.#leftover = n === this.#leftover.length ? null : this.#leftover.subarray(n);
      return n;
    }
    if (this.#eof) return null;
    return await this.#inner.read(buffer);
  }

  async write(bytes: Uint8Array): Promise<number> {
    if (!this.#settled) {
      const left = this.#gateUntil - Date.now();
      if (this.#sniffed === null && left > 0) await within(this.#sniff, left);
      // What came before this first write decides; if nothing came yet, the
      // write goes ahead and a later challenge is an error (see read).
      if (this.#sniffed !== null) await this.#handle(this.#sniffed);
    }
    this.#wrote = true;
    return await this.#inner.write(bytes);
  }

  closeWrite(): Promise<void> {
    return this.#inner.closeWrite();
  }

  close(): void {
    this.#inner.close();
  }

  ref(): void {
    this.#inner.ref();
  }

  unref(): void {
    this.#inner.unref();
  }

  /** Deals with the first line once; concurrent callers share the work. */
  #handle(sniffed: Sniffed): Promise<void> {
    this.#handled ??= (async () => {
      switch (sniffed.kind) {
        case "challenge":
          // Bytes already sent were taken by the server as a failed AUTH line.
          if (this.#wrote) throw tokenRequiredError(this.#options.where);
          await this.#authenticate();
          break;
        case "data":
          this.#leftover = sniffed.bytes;
          break;
        case "eof":
          this.#leftover = sniffed.bytes.length > 0 ? sniffed.bytes : null;
          this.#eof = true;
          break;
        case "error":
          this.#error = sniffed.error;
          break;
      }
      this.#settled = true;
    })();
    return this.#handled;
  }

  async #authenticate(): Promise<void> {
    const { security: { tokens }, where, interactive } = this.#options;
    const token = tokens.known() ?? (interactive ? await tokens.ask(where) : null);
    if (token === null) throw tokenRequiredError(where);
    await writeAll(this.#inner, authLine(token));
    const reading = this.#readLine();
    reading.catch(() => {}); // still pending if the answer times out; the close ends it
    const answer = await within(reading, AUTH_REPLY_MS);
    if (answer === TIMED_OUT) {
      throw new RuntimeError(`The server at ${where} did not answer the token`);
    }
    if (answer === AUTH_OK) return;
    const source = tokens.configured() !== null ? ` (token from ${tokens.source})` : "";
    if (answer !== null && answer.startsWith(AUTH_FAILED)) {
      const reason = answer.slice(AUTH_FAILED.length).replace(/^:\s*/, "");
      throw new RuntimeError(`The server at ${where} refused the token${source}: ${reason}`);
    }
    throw new RuntimeError(
      answer === null
        ? `The server at ${where} closed the connection instead of answering the token${source}`
        : `The server at ${where} answered the token with "${printable(answer.slice(0, 80))}"`,
    );
  }

  /** Reads the first server line far enough to tell a challenge from protocol bytes. */
  async #sniffFirstLine(): Promise<Sniffed> {
    const prefix = encode(AUTH_REQUIRED);
    const got: number[] = [];
    const one = new Uint8Array(1);
    try {
      while (got.length < prefix.length) {
        const n = await this.#inner.read(one);
        if (n === null) return { kind: "eof", bytes: new Uint8Array(got) };
        if (n === 0) continue;
        got.push(one[0]!);
        if (one[0] !== prefix[got.length - 1]) return { kind: "data", bytes: new Uint8Array(got) };
      }
      // The rest of the challenge line is not needed; it only must be consumed.
      for (let i = 0; i < MAX_SERVER_LINE; i++) {
        const n = await this.#inner.read(one);
        if (n === null || one[0] === 0x0a) break;
      }
      return { kind: "challenge" };
    } catch (error) {
      return { kind: "error", error };
    }
  }

  /** One server line, read a byte at a time; null at EOF. */
  async #readLine(): Promise<string | null> {
    const bytes: number[] = [];
    const one = new Uint8Array(1);
    while (bytes.length < MAX_SERVER_LINE) {
      const n = await this.#inner.read(one);
      if (n === null) return bytes.length > 0 ? decodeLenient(new Uint8Array(bytes)) : null;
      if (n === 0) continue;
      if (one[0] === 0x0a) break;
      bytes.push(one[0]!);
    }
    return decodeLenient(new Uint8Array(bytes)).replace(/\r$/, "");
  }
}
