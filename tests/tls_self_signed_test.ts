/**
 * `serve --tls-self-signed`: a CA and a server certificate made once in
 * --tls-dir and reused, the client flag and the CA's fingerprint printed,
 * and clients that trust it connect; the client's TLS errors name the cause.
 */
import { deepStrictEqual, equal, match, notEqual } from "node:assert/strict";
import { join } from "node:path";
import { hasCommand, runCli, ServerProcess } from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";

const TCP = "[TCP Server]";

/** The CA's SHA-256 fingerprint as serve prints it, computed here from ca.pem. */
async function fingerprint(pemFile: string): Promise<string> {
  const pem = await Deno.readTextFile(pemFile);
  const base64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

Deno.test("tls self-signed: made once, reused, renewed for a new name by the same CA; clients with --ca connect", async () => {
  const dir = await Deno.makeTempDir({ prefix: "socketkit-tls-test-" });
  const tlsDir = join(dir, "tls");
  const ca = join(tlsDir, "ca.pem");
  try {
    const start = (extra: string[] = []) =>
      InProcessServer.start(
        ["--services=message", "--tls-self-signed", "--tls-dir", tlsDir, ...extra],
        [TCP],
      );
    let first: string;
    {
      await using server = await start();
      const lines = server.lines.join("\n");
      match(
        lines,
        new RegExp(`TLS certificate created in ${tlsDir} for localhost, 127\\.0\\.0\\.1, ::1`),
      );
      match(lines, new RegExp(`Clients: add --ca ${ca}`));
      first = await fingerprint(ca);
      match(lines, new RegExp(`CA SHA-256 fingerprint: ${first}\\n`));
      equal((await Deno.stat(join(tlsDir, "key.pem"))).mode! & 0o777, 0o600);
      equal((await Deno.stat(join(tlsDir, "ca-key.pem"))).mode! & 0o777, 0o600);
      const port = `--tcp-port=${server.port(TCP)}`;
      for (const host of ["127.0.0.1", "localhost"]) {
        const ok = await runCli(["connect", "--tcp", port, "--host", host, "--ca", ca], "hi\n");
        equal(ok.code, 0, ok.stderr);
        match(ok.stdout, /Server responded: \[TCP Server\] Your message was received!/);
      }
      // Without the CA: the cause and the fix, one line.
      const untrusted = await runCli(["connect", "--tcp", port, "--tls"], "hi\n");
      equal(untrusted.code, 1);
      match(
        untrusted.stderr,
        /^error: Cannot connect to 127\.0\.0\.1:\d+ over TLS: the server's certificate is signed by a CA this client does not trust: give that CA's certificate with --ca FILE \(for serve --tls-self-signed, its socketkit-tls\/ca\.pem\)\n$/,
      );
    }
    const cert = await Deno.readTextFile(join(tlsDir, "cert.pem"));
    {
      await using server = await start();
      match(server.lines.join("\n"), new RegExp(`TLS certificate reused from ${tlsDir}`));
      match(server.lines.join("\n"), new RegExp(`CA SHA-256 fingerprint: ${first}\n`));
      equal(await Deno.readTextFile(join(tlsDir, "cert.pem")), cert, "the same certificate");
    }
    // cert.json (what spares a restart the X.509 library) lost: found out, written again.
    await Deno.remove(join(tlsDir, "cert.json"));
    {
      await using server = await start();
      match(server.lines.join("\n"), new RegExp(`TLS certificate reused from ${tlsDir}`));
      equal(await Deno.readTextFile(join(tlsDir, "cert.pem")), cert, "the same certificate");
      equal(JSON.parse(await Deno.readTextFile(join(tlsDir, "cert.json"))).names[0], "localhost");
    }
    {
      await using server = await start(["--tls-name", "lan.example"]);
      match(server.lines.join("\n"), /TLS certificate renewed in .* lan\.example\n/);
      notEqual(await Deno.readTextFile(join(tlsDir, "cert.pem")), cert);
      equal(await fingerprint(ca), first, "the same CA: clients keep their ca.pem");
      const port = `--tcp-port=${server.port(TCP)}`;
      const ok = await runCli(["connect", "--tcp", port, "--ca", ca], "hi\n");
      equal(ok.code, 0, ok.stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tls self-signed: the real entry point makes ./socketkit-tls where it runs and prints the client flag", async () => {
  const dir = await Deno.makeTempDir({ prefix: "socketkit-tls-test-" });
  try {
    {
      await using server = await ServerProcess.start(
        ["--services=message", "--tls-self-signed"],
        [TCP],
        { cwd: dir },
      );
      const lines = server.lines.join("\n");
      match(lines, /\[Server\] Clients: add --ca socketkit-tls\/ca\.pem/);
      match(lines, /\[Server\] CA SHA-256 fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}\n/);
      const ok = await runCli(
        ["connect", "--tcp", `--tcp-port=${server.port(TCP)}`, "--ca", "socketkit-tls/ca.pem"],
        "hi\n",
        { cwd: dir },
      );
      equal(ok.code, 0, ok.stderr);
    }
    deepStrictEqual(
      [...Deno.readDirSync(join(dir, "socketkit-tls"))].map((entry) => entry.name).sort(),
      ["ca-key.pem", "ca.pem", "cert.json", "cert.pem", "key.pem"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tls self-signed: --tls-cert with it, or --tls-name without it, is a usage error", async () => {
  const both = await runCli(["serve", "--tls-self-signed", "--tls-cert", "a", "--tls-key", "b"]);
  equal(both.code, 2);
  match(both.stderr, /^error: --tls-self-signed makes its own certificate/);
  const alone = await runCli(["serve", "--tls-name", "lan.example"]);
  equal(alone.code, 2);
  match(alone.stderr, /^error: --tls-name goes with --tls-self-signed/);
});

Deno.test({
  name:
    "tls: a CA certificate served as the server's own (openssl req -x509) is named, with the fix",
  ignore: !(await hasCommand("openssl")),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "socketkit-tls-test-" });
    try {
      const made = await new Deno.Command("openssl", {
        args: [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-keyout",
          "key.pem",
          "-out",
          "cert.pem",
          "-days",
          "2",
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=IP:127.0.0.1",
        ],
        cwd: dir,
        stdout: "null",
        stderr: "null",
      }).output();
      equal(made.code, 0);
      const cert = join(dir, "cert.pem");
      await using server = await InProcessServer.start(
        ["--services=message", "--tls-cert", cert, "--tls-key", join(dir, "key.pem")],
        [TCP],
      );
      const result = await runCli(
        ["connect", "--tcp", `--tcp-port=${server.port(TCP)}`, "--ca", cert],
        "hi\n",
      );
      equal(result.code, 1);
      match(
        result.stderr,
        /^error: Cannot connect to 127\.0\.0\.1:\d+ over TLS: the server presents a CA certificate as its own \(as 'openssl req -x509' makes\), which TLS refuses: serve with a certificate that CA signed, or with --tls-self-signed, and give the CA to --ca\n$/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
