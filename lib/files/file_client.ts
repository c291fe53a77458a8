/**
 * The file protocol from the client side: one connection, request lines and
 * replies. Transfers of local files (resume, atomic output) are in transfer.ts.
 */
import { RuntimeError } from "../base/errors.ts";
import { formatHostPort } from "../net/address.ts";
import type { ClientSecurity } from "../security/client_settings.ts";
import { dialTcp } from "../security/dial.ts";
import { closeQuietly, isDisconnect } from "../base/io.ts";
import {
  type FileEntry,
  MAX_LINE,
  parseEntry,
  parseReply,
  type Reply,
  request,
} from "./protocol.ts";
import { LineTooLong, WireReader, writeLine } from "./wire.ts";

/** The server answered ERR: `code` says why (see protocol.ts ERROR_CODES). */
export class ServerError extends RuntimeError {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "ServerError";
    this.code = code;
  }
}

/** One connection to a file service. */
export class FileClient {
  readonly conn: Deno.Conn;
  readonly wire: WireReader;
  /** "127.0.0.1:9003", for messages. */
  readonly where: string;

  private constructor(conn: Deno.Conn, where: string) {
    this.conn = conn;
    this.where = where;
    this.wire = new WireReader(conn, { lineBuffer: MAX_LINE });
  }

  /** Connects; throws RuntimeError (connection refused and the like). */
  static async connect(host: string, port: number, security: ClientSecurity): Promise<FileClient> {
    return new FileClient(await dialTcp(host, port, { security }), formatHostPort(host, port));
  }

  /** Every file on the server. */
  async list(): Promise<FileEntry[]> {
    const count = Number(await this.#ask(request.list(), "OK"));
    if (!Number.isSafeInteger(count)) throw this.#garbled("LIST");
    const entries: FileEntry[] = [];
    for (let i = 0; i < count; i++) {
      const entry = parseEntry(await this.readLine(), true);
      if (entry === null) throw this.#garbled("LIST");
      entries.push(entry);
    }
    return entries;
  }

  /** One file's size, time and digest. Throws ServerError not-found. */
  async stat(name: string): Promise<FileEntry> {
    return this.#entry(name, await this.#ask(request.stat(name), "OK"));
  }

  /** Sends GET; the file's bytes from `offset` follow on `wire`, then its digest line. */
  async get(name: string, offset: number): Promise<FileEntry> {
    return this.#entry(name, await this.#ask(request.get(offset, name), "OK"));
  }

  /** Sends PUT; resolves to the offset the server wants the bytes from. */
  async put(name: string, size: number, force: boolean): Promise<number> {
    const offset = Number(await this.#ask(request.put(size, force, name), "READY"));
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > size) throw this.#garbled("PUT");
    return offset;
  }

  /** Writes one line. */
  async writeLine(line: string): Promise<void> {
    try {
      await writeLine(this.conn, line);
    } catch (error) {
      throw this.#lost(error);
    }
  }

  /** Reads one line; throws RuntimeError when the server hangs up or garbles it. */
  async readLine(): Promise<string> {
    let line: string | null;
    try {
      line = await this.wire.readLine();
    } catch (error) {
      if (error instanceof LineTooLong) throw this.#garbled("a reply");
      throw this.#lost(error);
    }
    if (line === null) {
      throw new RuntimeError(`The server at ${this.where} closed the connection unexpectedly`);
    }
    return line;
  }

  /** Reads a reply line; ERR becomes ServerError. */
  async readReply(): Promise<Reply & { ok: true }> {
    const reply = parseReply(await this.readLine());
    if (!reply.ok) throw new ServerError(reply.code, reply.message);
    return reply;
  }

  close(): void {
    closeQuietly(this.conn);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Turns a socket error into a one-line RuntimeError (anything else is rethrown). */
  lost(error: unknown): unknown {
    return this.#lost(error);
  }

  async #ask(line: string, word: string): Promise<string> {
    await this.writeLine(line);
    const reply = await this.readReply();
    if (reply.word !== word) throw this.#garbled(line.split(" ")[0]!);
    return reply.rest;
  }

  #entry(name: string, text: string): FileEntry {
    const entry = parseEntry(text, false);
    if (entry === null) throw this.#garbled("the file description");
    return { ...entry, name };
  }

  #garbled(what: string): RuntimeError {
    return new RuntimeError(
      `Unexpected reply to ${what} from ${this.where}: is this a socketkit file service?`,
    );
  }

  #lost(error: unknown): unknown {
    if (!isDisconnect(error)) return error;
    return new RuntimeError(`Lost the connection to ${this.where}`, { cause: error });
  }
}
