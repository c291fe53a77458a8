/**
 * SIGHUP: `serve` re-reads --token-file, --allow/--deny @FILE and the TLS
 * files without dropping what is open, says what changed, and keeps the old
 * settings (saying why) when a new file is bad.
 */
import { equal, match, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { ServerProcess } from "./_helpers.ts";
import { makeTestCerts, RawClient, TOKEN, writeSecretFile } from "./_security.ts";

const TCP = "[TCP Server]";
const CHAT = "[Chat Server]";
const ACK_TCP = "[TCP Server] Your message was received!";
const NEW_TOKEN = "a-brand-new-token-of-thirty-two-c";

const certs = await makeTestCerts();

/** Sends SIGHUP and waits for the reload's lines to be logged. */
async function hangUp(server: ServerProcess, expect: RegExp): Promise<string> {
  const before = server.lines.length;
  server.child.kill("SIGHUP");
  const line = await server.waitFor(expect);
  ok(server.lines.indexOf(line, before) >= before, `new line: ${line}`);
  return line;
}

Deno.test("reload: SIGHUP takes a new token and new access lists; open sessions keep going", async () => {
  const dir = await Deno.makeTempDir({ prefix: "socketkit-reload-" });
  try {
    const tokenFile = await writeSecretFile(dir, "token", TOKEN);
    const allowFile = join(dir, "allow");
    const denyFile = join(dir, "deny");
    await Deno.writeTextFile(allowFile, "# who may connect\n127.0.0.1\n");
    await Deno.writeTextFile(denyFile, "");
    await using server = await ServerProcess.start(
      [
        "--token-file",
        tokenFile,
        "--allow",
        `@${allowFile}`,
        "--deny",
        `@${denyFile}`,
        "--services",
        "message,chat",
      ],
      [TCP, "[UDP Server]", CHAT],
    );
    ok(server.lines.includes("[Server] Only peers in --allow: 127.0.0.1"));
    const port = server.port(TCP);
    using session = await RawClient.tcp(port);
    equal(await session.auth(), "AUTH OK");
    equal(await session.request("before"), ACK_TCP);
    using member = await RawClient.tcp(server.port(CHAT));
    equal(await member.auth(), "AUTH OK");

    await Deno.writeTextFile(tokenFile, NEW_TOKEN + "\n");
    await Deno.writeTextFile(allowFile, "127.0.0.1, 192.0.2.0/24 # and a lab\n");
    await hangUp(
      server,
      /^\[Server\] SIGHUP: new token from --token-file ".*"; open sessions keep going$/,
    );
    await server.waitFor(
      /^\[Server\] SIGHUP: --allow now 127\.0\.0\.1, 192\.0\.2\.0\/24 \(was 127\.0\.0\.1\)$/,
    );
    equal(await session.request("after the reload"), ACK_TCP, "the open session goes on");
    match((await member.readLine())!, /^! Welcome/);
    using old = await RawClient.tcp(port);
    equal(await old.auth(TOKEN), "AUTH FAILED: wrong token");
    using fresh = await RawClient.tcp(port);
    equal(await fresh.auth(NEW_TOKEN), "AUTH OK");

    // A bad file keeps what was there, and says why.
    await Deno.writeTextFile(tokenFile, "");
    await Deno.writeTextFile(allowFile, "127.0.0.1, not-an-address\n");
    await hangUp(
      server,
      /^\[Server\] SIGHUP: kept the old token: Cannot use --token-file ".*": it is empty$/,
    );
    await server.waitFor(
      /^\[Server\] SIGHUP: kept the old --allow\/--deny lists: Invalid entry "not-an-address" in --allow @.*allow/,
    );
    using still = await RawClient.tcp(port);
    equal(await still.auth(NEW_TOKEN), "AUTH OK");

    // Nothing to change is said too.
    await Deno.writeTextFile(tokenFile, NEW_TOKEN + "\n");
    await Deno.writeTextFile(allowFile, "127.0.0.1, 192.0.2.0/24\n");
    await hangUp(server, /SIGHUP: nothing changed$/);

    // Denying ourselves: new connections are closed at once, open ones go on.
    await Deno.writeTextFile(denyFile, "127.0.0.0/8\n");
    await hangUp(server, /^\[Server\] SIGHUP: --deny now 127\.0\.0\.0\/8 \(was \(none\)\)$/);
    using refused = await RawClient.tcp(port);
    equal(await refused.readLine(), null, "closed before any byte");
    equal(await session.request("still here"), ACK_TCP);
    equal(server.child.pid > 0 && (await server.stop()).code, 0, "SIGHUP never stops the server");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "reload: SIGHUP takes a new TLS certificate without closing TLS sessions; a bad pair is kept out",
  ignore: certs === null,
  async fn() {
    const { ca, cert, key, otherCert, otherKey } = certs!;
    const dir = await Deno.makeTempDir({ prefix: "socketkit-reload-tls-" });
    try {
      const certFile = join(dir, "cert.pem");
      const keyFile = join(dir, "key.pem");
      await Deno.copyFile(cert, certFile);
      await Deno.copyFile(key, keyFile);
      await using server = await ServerProcess.start(
        ["--tls-cert", certFile, "--tls-key", keyFile, "--services", "message"],
      );
      const port = server.port(TCP);
      using session = await RawClient.tls(port, ca);
      equal(await session.request("before"), ACK_TCP);

      // A key that does not belong to the certificate: the old pair stays.
      await Deno.copyFile(otherCert, certFile);
      await hangUp(server, /^\[Server\] SIGHUP: kept the old TLS certificate: /);
      using same = await RawClient.tls(port, ca);
      equal(await same.request("old pair still served"), ACK_TCP);

      // The certificate for another name, with its key: new connections get it.
      await Deno.copyFile(otherKey, keyFile);
      await hangUp(server, /^\[Server\] SIGHUP: new TLS certificate from --tls-cert ".*"/);
      await rejects(
        RawClient.tls(port, ca).then((client) => client.request("x").finally(() => client.close())),
        /not valid for|NotValidForName|certificate/i,
      );
      equal(await session.request("after"), ACK_TCP, "the open TLS session goes on");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "reload: cleanup of the test certificates",
  ignore: certs === null,
  async fn() {
    await Deno.remove(certs!.dir, { recursive: true });
  },
});
