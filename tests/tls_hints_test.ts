/**
 * A client that dials a TLS server in plain text, or trusts the wrong
 * certificate, is told the real cause and the fix: "add --tls" from every
 * TCP mode (chat within about a second, not after its greeting timeout).
 */
import { equal, match } from "node:assert/strict";
import { hasCommand, runCli } from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";
import { makeTestCerts } from "./_security.ts";

const HINT = "the server speaks TLS: add --tls \\(and --ca FILE for a private CA\\)";

Deno.test({
  name: "tls hints: files and chat modes without --tls against a TLS server say 'add --tls'",
  ignore: !(await hasCommand("openssl")),
  async fn() {
    const certs = (await makeTestCerts())!;
    try {
      await using server = await InProcessServer.start(
        ["--services=chat,files", "--tls-cert", certs.cert, "--tls-key", certs.key],
        ["[Chat Server]", "[File Server]"],
      );
      const filePort = `--file-port=${server.port("[File Server]")}`;
      for (const mode of [["files"], ["download", "x"], ["upload", certs.ca]]) {
        const result = await runCli(["connect", ...mode, filePort]);
        equal(result.code, 1, mode.join(" "));
        match(
          result.stderr,
          new RegExp(`^error: The server at 127\\.0\\.0\\.1:\\d+ .*${HINT}\\n$`),
        );
      }
      // Chat's greeting timeout is 10 s; the hint comes long before it.
      const chat = await runCli(
        ["connect", "chat", "--name", "bob", `--chat-port=${server.port("[Chat Server]")}`],
        "",
      );
      equal(chat.code, 1);
      match(chat.stderr, new RegExp(`^error: No greeting from 127\\.0\\.0\\.1:\\d+: ${HINT}\\n$`));
      const files = await runCli(["connect", "files", filePort, "--ca", certs.ca]);
      equal(files.code, 0, files.stderr);
    } finally {
      await Deno.remove(certs.dir, { recursive: true });
    }
  },
});
