/**
 * Fixtures of the file-service tests: temporary folders for the server and
 * the client, a server with only the file service, the CLI against it, the
 * raw protocol, and a proxy that stalls a transfer part-way.
 */
import { equal } from "node:assert/strict";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { WireReader } from "../lib/net/wire_reader.ts";
import { FileClient } from "../lib/files/client/file_client.ts";
import { toJson } from "../lib/files/client/report.ts";
import { ClientSecurity } from "../lib/security/client_settings.ts";
import { closeQuietly, writeAll } from "../lib/base/io.ts";
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import { encode } from "../lib/base/text.ts";
import { type CliResult, RUN_ARGS, runCli, ServerProcess, type TestServer } from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";

export const LABEL = "[File Server]";
export const MiB = 1024 * 1024;

/** A temp dir with `files/` (the server's) and `local/` (the client's); removed on dispose. */
export async function tempDirs() {
  const root = await Deno.makeTempDir({ prefix: "socketkit-files-test-" });
  const files = join(root, "files");
  const local = join(root, "local");
  await Deno.mkdir(local);
  return {
    root,
    files,
    local,
    async [Symbol.asyncDispose]() {
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** Writes `size` random bytes to `path`; returns them. */
export async function randomFile(path: string, size: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  await Deno.writeFile(path, bytes);
  return bytes;
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export async function sha256File(path: string): Promise<string> {
  return sha256(await Deno.readFile(path));
}

/** A server running only the file service on `files`, in the test process. */
export async function startServer(files: string, extra: string[] = []): Promise<TestServer> {
  return await InProcessServer.start(["--services", "files", "--files-dir", files, ...extra], [
    LABEL,
  ]);
}

/** The same server as a child process, for a test that kills it or times it. */
export async function spawnServer(files: string, extra: string[] = []): Promise<ServerProcess> {
  return await ServerProcess.start(["--services", "files", "--files-dir", files, ...extra], [
    LABEL,
  ]);
}

/** `socketkit connect <mode> ... --file-port <port>`. */
export async function cli(server: TestServer, mode: string, ...args: string[]) {
  return await runCli(["connect", mode, ...args, "--file-port", String(server.port(LABEL))]);
}

/** What `connect files --json` prints, read in process over the protocol (as the CLI reads it). */
export async function listing(server: TestServer): Promise<Listing> {
  using client = await FileClient.connect(
    "127.0.0.1",
    server.port(LABEL),
    ClientSecurity.plain(() => {}),
  );
  const files = await client.list();
  return { server: client.where, files: files.map(toJson) };
}

/** `connect files --json` itself: exit 0 and one JSON object on stdout. */
export async function cliListing(server: TestServer): Promise<Listing> {
  const result = await cli(server, "files", "--json");
  equal(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split("\n");
  equal(lines.length, 1, "one JSON object on stdout");
  return JSON.parse(lines[0]!) as Listing;
}

/** The server's files, as `connect files --json` shows them. */
export interface Listing {
  server: string;
  files: {
    name: string;
    size: number;
    modified: string;
    mtimeMs: number;
    sha256: string | null;
  }[];
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

export async function dirNames(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) names.push(entry.name);
  return names.sort();
}

/**
 * Resolves once the file at `path` holds `size` bytes, woken by file-system
 * events (the writer is another process: there is no other event to await);
 * throws after `ms`. The nearest folder that exists is watched, recursively,
 * so a file in a folder not made yet is seen too.
 */
export async function waitForSize(path: string, size: number, ms = 10_000): Promise<void> {
  let watched = dirname(path);
  while (!(await exists(watched))) watched = dirname(watched);
  const watcher = Deno.watchFs(watched, { recursive: true });
  const timer = setTimeout(() => closeQuietly(watcher), ms);
  try {
    // Checked once the watcher is there, so no write is missed in between.
    if (await sizeReached(path, size)) return;
    for await (const _event of watcher) {
      if (await sizeReached(path, size)) return;
    }
  } finally {
    clearTimeout(timer);
    closeQuietly(watcher); // a loop left early has closed it already
  }
  throw new Error(`${path} did not reach ${size} bytes within ${ms} ms`);
}

async function sizeReached(path: string, size: number): Promise<boolean> {
  try {
    return (await Deno.stat(path)).size >= size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** The raw protocol: request lines, reply lines and bytes, as any client would speak it. */
export class RawClient {
  readonly conn: Deno.TcpConn;
  readonly wire: WireReader;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.wire = new WireReader(conn, { lineBuffer: 4096 });
  }

  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async send(data: string | Uint8Array): Promise<void> {
    await writeAll(this.conn, typeof data === "string" ? encode(data) : data);
  }

  async line(ms = 5000): Promise<string | null> {
    const line = await within(this.wire.readLine(), ms);
    if (line === TIMED_OUT) throw new Error(`no line within ${ms} ms`);
    return line;
  }

  async request(line: string | Uint8Array): Promise<string | null> {
    await this.send(typeof line === "string" ? line + "\n" : line);
    return await this.line();
  }

  async bytes(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    for (let got = 0; got < n;) {
      const read = await this.wire.read(out.subarray(got));
      if (read === null) throw new Error(`EOF after ${got} of ${n} bytes`);
      got += read;
    }
    return out;
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** PUT over the raw protocol in one go; returns the final reply. */
export async function rawUpload(port: number, name: string, bytes: Uint8Array, force = false) {
  using raw = await RawClient.connect(port);
  const ready = await raw.request(`PUT ${bytes.length} ${force ? "force" : "new"} ${name}`);
  if (!ready?.startsWith("READY ")) return ready;
  const offset = Number(ready.slice(6));
  await raw.send(bytes.subarray(offset));
  return await raw.request(`SHA256 ${sha256(bytes)}`);
}

/** Forwards one connection, passing only the first `limit` bytes from the server back. */
export function stallingProxy(target: number, limit: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const forwarded = Promise.withResolvers<void>();
  const open: Deno.TcpConn[] = [];
  const done = (async () => {
    const client = await listener.accept();
    const server = await Deno.connect({ hostname: "127.0.0.1", port: target });
    open.push(client, server);
    const up = client.readable.pipeTo(server.writable, { preventClose: true }).catch(() => {});
    let passed = 0;
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (passed < limit) {
        const n = await server.read(buffer.subarray(0, Math.min(buffer.length, limit - passed)));
        if (n === null) break;
        await writeAll(client, buffer.subarray(0, n));
        passed += n;
      }
    } catch {
      // the client was killed
    }
    forwarded.resolve();
    await up;
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    forwarded: forwarded.promise,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await done.catch(() => {});
    },
  };
}

/**
 * `socketkit connect <mode> ... --file-port <port>` as a child process, for
 * tests that stop it part-way. The caller kills it or awaits its output.
 */
export function spawnCli(
  server: TestServer,
  mode: string,
  args: string[],
  stdin: "piped" | "null" = "null",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [...RUN_ARGS, "connect", mode, ...args, "--file-port", String(server.port(LABEL))],
    stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** What a child from spawnCli printed and how it ended (after a kill, or by itself). */
export async function outputOf(
  child: Deno.ChildProcess,
): Promise<CliResult & { signal: Deno.Signal | null }> {
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    signal: output.signal,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** The CLI as a shell command, for pipelines. */
export function cliCommand(server: TestServer, mode: string, args: string): string {
  const words = [Deno.execPath(), ...RUN_ARGS, "connect", mode].map(shellQuote).join(" ");
  return `${words} ${args} --file-port ${server.port(LABEL)}`;
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}

/** Runs a bash script with pipefail (so a failed stage fails the whole pipeline). */
export async function sh(script: string): Promise<CliResult> {
  const output = await new Deno.Command("bash", {
    args: ["-o", "pipefail", "-c", script],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Every regular file under `dir`: relative name (with /) -> SHA-256. */
export async function treeDigests(dir: string): Promise<Map<string, string>> {
  const digests = new Map<string, string>();
  const walk = async (folder: string, prefix: string): Promise<void> => {
    for await (const entry of Deno.readDir(folder)) {
      const name = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory) await walk(join(folder, entry.name), name);
      else if (entry.isFile) digests.set(name, await sha256File(join(folder, entry.name)));
    }
  };
  await walk(dir, "");
  return new Map([...digests].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The part file the server keeps for an upload of `name` in progress or interrupted. */
export function partPath(filesDir: string, name: string): string {
  return join(filesDir, ".socketkit", "parts", sha256(encode(name)));
}

/** Parts kept by the server (data files only, not their records). */
export async function partNames(filesDir: string): Promise<string[]> {
  return (await dirNames(join(filesDir, ".socketkit", "parts"))).filter((name) =>
    !name.includes(".")
  );
}

/**
 * Mounts a tmpfs of `size` (e.g. "2m") on `dir`, for a full disk: unmounted
 * on dispose. Null where it cannot be mounted (mount needs root).
 */
export async function smallTmpfs(dir: string, size: string): Promise<AsyncDisposable | null> {
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  if (!mount.success) return null;
  return {
    async [Symbol.asyncDispose]() {
      await new Deno.Command("umount", { args: [dir] }).output();
    },
  };
}
