/**
 * Fixtures of the web-service tests: an in-process server with the web
 * service (and the file service, so both ends of the store are there), curl
 * and wget against it, and fetch through a client of its own that the test
 * closes (no pooled connection outlives it).
 */
import { InProcessServer } from "./_in_process.ts";
import type { TestServer } from "./_helpers.ts";

export const WEB_LABEL = "[Web Server]";
export const FILE_LABEL = "[File Server]";

/** A server running the web and file services (plus `services`), in the test process. */
export async function startWeb(
  extra: string[] = [],
  services = "files,web",
): Promise<InProcessServer> {
  const labels = [WEB_LABEL, ...(services.includes("files") ? [FILE_LABEL] : [])];
  return await InProcessServer.start(["--services", services, ...extra], labels);
}

/** http://127.0.0.1:PORT of the server's web service. */
export function webBase(server: TestServer): string {
  return `http://127.0.0.1:${server.port(WEB_LABEL)}`;
}

/** What a command printed and how it ended. */
export interface ToolResult {
  code: number;
  stdout: Uint8Array;
  stderr: string;
  /** stdout as text. */
  text: string;
}

/** Runs a tool (curl, wget, tar) to the end. */
export async function tool(program: string, args: string[], cwd?: string): Promise<ToolResult> {
  const output = await new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(cwd ? { cwd } : {}),
  }).output();
  return {
    code: output.code,
    stdout: output.stdout,
    stderr: new TextDecoder().decode(output.stderr),
    text: new TextDecoder().decode(output.stdout),
  };
}

/** curl, silent but showing errors, with `args`. */
export function curl(...args: string[]): Promise<ToolResult> {
  return tool("curl", ["-sS", "--max-time", "30", ...args]);
}

/** A response with its body read in full. */
export interface Fetched {
  status: number;
  headers: Headers;
  body: Uint8Array;
  text: string;
}

/** fetch() through a client closed afterwards; the body is read in full. */
export async function http(url: string, init: RequestInit = {}): Promise<Fetched> {
  using client = Deno.createHttpClient({});
  const response = await fetch(url, { ...init, client, redirect: "manual" });
  const body = new Uint8Array(await response.arrayBuffer());
  return {
    status: response.status,
    headers: response.headers,
    body,
    text: new TextDecoder().decode(body),
  };
}

/** A request written by hand on a fresh connection; resolves to the raw response head and body. */
export async function rawHttp(port: number, request: string): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(request));
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  const buffer = new Uint8Array(65536);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
  }
  return new TextDecoder().decode(await new Blob(chunks).arrayBuffer());
}
