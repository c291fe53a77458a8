/**
 * Test helpers for the security features: certificates made for the test run
 * with openssl, a raw line client over TCP or TLS, the AUTH exchange done by
 * hand as netcat would, and a UDP peer bound to a chosen loopback address.
 */
import { join } from "node:path";
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import { writeAll } from "../lib/base/io.ts";
import { LineReader, OVERLONG } from "../lib/net/line_reader.ts";
import { decodeLenient, encode } from "../lib/base/text.ts";
import { hasCommand } from "./_helpers.ts";

/** A token long enough not to draw the short-token warning. */
export const TOKEN = "correct-horse-battery-staple-42";

/** Files for a private CA and a server certificate signed by it. */
export interface TestCerts {
  dir: string;
  /** The private CA's certificate (PEM file). */
  ca: string;
  /** Server certificate for 127.0.0.1, ::1 and localhost, signed by the CA. */
  cert: string;
  key: string;
  /** A certificate signed by the CA for another name only ("other.example"). */
  otherCert: string;
  otherKey: string;
  /** A second CA that signed nothing here. */
  strangerCa: string;
}

/**
 * Makes a CA and server certificates in a temporary directory (remove `dir`
 * afterwards). Resolves to null, with the reason printed, when openssl is missing.
 */
export async function makeTestCerts(): Promise<TestCerts | null> {
  if (!(await hasCommand("openssl"))) {
    console.log("skipping TLS tests: openssl is not installed");
    return null;
  }
  const dir = await Deno.makeTempDir({ prefix: "socketkit-tls-" });
  const path = (name: string) => join(dir, name);
  const run = async (...args: string[]) => {
    const { code, stderr } = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) throw new Error(`openssl ${args[0]} failed: ${decodeLenient(stderr)}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const makeCa = (name: string, cn: string) =>
    run(
      "req",
      "-x509",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-subj",
      `/CN=${cn}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    );
  const makeLeaf = async (name: string, san: string) => {
    await run("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", "/CN=test");
    await Deno.writeTextFile(
      path(`${name}.ext`),
      `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`,
    );
    await run(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    );
  };
  try {
    await makeCa("ca", "socketkit test CA");
    await makeCa("stranger", "somebody else's CA");
    await makeLeaf("server", "IP:127.0.0.1,IP:::1,DNS:localhost");
    await makeLeaf("other", "DNS:other.example");
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  return {
    dir,
    ca: path("ca.crt"),
    cert: path("server.crt"),
    key: path("server.key"),
    otherCert: path("other.crt"),
    otherKey: path("other.key"),
    strangerCa: path("stranger.crt"),
  };
}

/** A line client over any connection (plain TCP or TLS). */
export class RawClient implements Disposable {
  readonly conn: Deno.Conn;
  readonly reader: LineReader;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
    this.reader = new LineReader(conn);
  }

  /** Plain TCP to 127.0.0.1 (or `hostname`). */
  static async tcp(port: number, hostname = "127.0.0.1"): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname, port }));
  }

  /** TLS to 127.0.0.1, trusting the CA in `caFile`. */
  static async tls(port: number, caFile: string): Promise<RawClient> {
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port,
      caCerts: [await Deno.readTextFile(caFile)],
    });
    return new RawClient(conn);
  }

  async send(data: string | Uint8Array): Promise<void> {
    await writeAll(this.conn, typeof data === "string" ? encode(data) : data);
  }

  /** The next line, or null at EOF (a reset counts as EOF); throws if none within `ms`. */
  async readLine(ms = 5000): Promise<string | null> {
    const line = await within(this.reader.readLine().catch(() => null), ms);
    if (line === TIMED_OUT) throw new Error(`no line within ${ms} ms`);
    if (line === OVERLONG) throw new Error("over-long line");
    return line === null ? null : decodeLenient(line);
  }

  /** Every line until EOF (a TLS alert shows up as one line of junk). Throws if EOF takes over `ms`. */
  async drain(ms = 5000): Promise<string[]> {
    const lines: string[] = [];
    for (let line = await this.readLine(ms); line !== null; line = await this.readLine(ms)) {
      lines.push(line);
    }
    return lines;
  }

  /** Reads the challenge, sends `AUTH token`, returns the server's answer line. */
  async auth(token = TOKEN): Promise<string | null> {
    const challenge = await this.readLine();
    if (challenge === null || !challenge.startsWith("AUTH REQUIRED")) {
      throw new Error(`expected the AUTH challenge, got ${JSON.stringify(challenge)}`);
    }
    await this.send(`AUTH ${token}\n`);
    return await this.readLine();
  }

  async request(line: string): Promise<string | null> {
    await this.send(line + "\n");
    return await this.readLine();
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

/** A datagram carrying the token line, then `request`. */
export function signed(request: string, token = TOKEN): string {
  return `AUTH ${token}\n${request}`;
}

/** Writes `text` to a new file in `dir` with mode 600; returns its path. */
export async function writeSecretFile(dir: string, name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await Deno.writeTextFile(file, text, { mode: 0o600 });
  await Deno.chmod(file, 0o600);
  return file;
}
