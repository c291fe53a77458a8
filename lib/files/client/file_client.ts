/**
 * The file protocol from the client side: one connection, request lines and
 * replies. Transfers of local files (resume, atomic output) are in
 * upload.ts and download.ts.
 */
import { RuntimeError } from "../../base/errors.ts";
import { formatHostPort } from "../../net/address.ts";
import type { ClientSecurity } from "../../security/client_settings.ts";
import { dialTcp } from "../../security/dial.ts";
import { probeTls, TLS_HINT } from "../../security/tls_probe.ts";
import { closeQuietly, isDisconnect, writeAll } from "../../base/io.ts";
import {
  type FileEntry,
  MAX_LINE,
  parseEntry,
  parseReply,
  type Reply,
  request,
} from "../protocol.ts";
import { LineTooLong, WireReader, writeLine } from "../../net/wire_reader.ts";

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
  #closed = false;
  // Where a server that hangs up is asked whether it speaks TLS; null with --tls.
  #plain: { host: string; port: number } | null;

  private constructor(
    conn: Deno.Conn,
    where: string,
    plain: { host: string; port: number } | null,
  ) {
    this.conn = conn;
    this.where = where;
    this.#plain = plain;
    this.wire = new WireReader(conn, { lineBuffer: MAX_LINE });
  }

  /** Connects; throws RuntimeError (connection refused and the like). */
  static async connect(host: string, port: number, security: ClientSecurity): Promise<FileClient> {
    // No Nagle: a small file's bytes and its digest line go out at once,
    // instead of the second waiting for the server's delayed ACK (40 ms).
    const conn = await dialTcp(host, port, { security, noDelay: true });
    const plain = security.tls === null ? { host, port } : null;
    return new FileClient(conn, formatHostPort(host, port), plain);
  }

  /** Every file on the server, or those in folder `prefix` (and below), in one array. */
  async list(prefix: string | null = null): Promise<FileEntry[]> {
    return await Array.fromAsync(this.listing(prefix));
  }

  /**
   * The files of a LIST one by one as they arrive, so a listing of any size
   * takes the memory of one line. Stop early only by closing the client:
   * the rest of the reply would still be on the connection.
   */
  async *listing(prefix: string | null = null): AsyncGenerator<FileEntry, void, void> {
    const count = Number(await this.#ask(request.list(prefix), "OK"));
    if (!Number.isSafeInteger(count)) throw this.#garbled("LIST");
    for (let i = 0; i < count; i++) {
      const entry = parseEntry(await this.readLine(), true);
      if (entry === null) throw this.#garbled("LIST");
      yield entry;
    }
  }

  /** One file's size, time and digest. Throws ServerError not-found. */
  async stat(name: string): Promise<FileEntry> {
    return this.#entry(name, await this.#ask(request.stat(name), "OK"));
  }

  /**
   * STAT of many names, pipelined: every request line is written without
   * waiting, the replies read as they come. Resolves to what the server
   * holds under each name (absent: nothing there). Throws RuntimeError.
   */
  async statMany(names: string[]): Promise<Map<string, FileEntry>> {
    const found = new Map<string, FileEntry>();
    const sending = (async () => {
      for (let i = 0; i < names.length; i += 256) {
        const lines = names.slice(i, i + 256).map((name) => request.stat(name) + "\n").join("");
        await writeAll(this.conn, new TextEncoder().encode(lines));
      }
    })();
    sending.catch(() => this.close()); // the reads below then fail and say why
    for (const name of names) {
      const reply = parseReply(await this.readLine());
      if (!reply.ok) {
        if (reply.code === "not-found" || reply.code === "not-regular") continue;
        throw new ServerError(reply.code, reply.message);
      }
      if (reply.word !== "OK") throw this.#garbled("STAT");
      found.set(name, this.#entry(name, reply.rest));
    }
    await sending;
    return found;
  }

  /** Sends GET; the file's bytes from `offset` follow on `wire`, then its digest line. */
  async get(name: string, offset: number): Promise<FileEntry> {
    return this.#entry(name, await this.#ask(request.get(offset, name), "OK"));
  }

  /**
   * Sends PUT; resolves to the offset the server wants the bytes from. Size
   * null: a streamed upload, sent in chunks (always from 0).
   */
  async put(name: string, size: number | null, force: boolean): Promise<number> {
    const offset = Number(await this.#ask(request.put(size, force, name), "READY"));
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > (size ?? 0)) {
      throw this.#garbled("PUT");
    }
    return offset;
  }

  /** Deletes a file. Throws ServerError (not-found, forbidden, ...). */
  async del(name: string): Promise<void> {
    await this.#ask(request.del(name), "OK");
  }

  /** Renames a file. Throws ServerError (exists, not-found, forbidden, ...). */
  async move(from: string, to: string): Promise<void> {
    await this.#ask(request.move(from, to), "OK");
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
      // A TLS server hangs up on a plain request (after an alert the reader drops).
      if (this.#plain && await probeTls(this.#plain.host, this.#plain.port)) {
        throw new RuntimeError(`The server at ${this.where} closed the connection: ${TLS_HINT}`);
      }
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
    this.#closed = true;
    closeQuietly(this.conn);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** True once closed (by us, or after a failure): a session then connects afresh. */
  get closed(): boolean {
    return this.#closed;
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

/**
 * The one connection a command's transfers share, one request after
 * another: made on first use, and made again after a failure left the last
 * one unusable (closed). Closing the session ends whatever it is doing.
 */
export class FileSession implements Disposable {
  readonly host: string;
  readonly port: number;
  readonly security: ClientSecurity;
  #client: FileClient | null = null;
  #closed = false;

  constructor(host: string, port: number, security: ClientSecurity) {
    this.host = host;
    this.port = port;
    this.security = security;
  }

  /** The open connection, connecting first if there is none. Throws RuntimeError. */
  async client(): Promise<FileClient> {
    if (this.#closed) throw new RuntimeError("The transfer was stopped");
    if (this.#client === null || this.#client.closed) {
      this.#client = await FileClient.connect(this.host, this.port, this.security);
    }
    return this.#client;
  }

  /** Drops the connection (after a failure mid-transfer); the next client() connects again. */
  reset(): void {
    this.#client?.close();
    this.#client = null;
  }

  /**
   * Runs one transfer; if it fails, the connection (in an unknown state
   * mid-transfer) is dropped first, so the next transfer starts on a fresh one.
   */
  async transfer<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      this.reset();
      throw error;
    }
  }

  /** Closes for good; a transfer in progress fails at once. */
  close(): void {
    this.#closed = true;
    this.reset();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
