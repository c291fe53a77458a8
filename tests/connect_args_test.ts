/**
 * Where `connect` finds its mode and its server: flags before or after the
 * mode word, --host HOST:PORT, the SOCKETKIT_* environment defaults, and the
 * menu asking for a port when nothing answers.
 */
import { equal, match, ok } from "node:assert/strict";
import { connect } from "../lib/connect.ts";
import { runMenu } from "../lib/menu.ts";
import { splitHostPort } from "../lib/net/server_address.ts";
import { hasCommand, runCli, runInPtySteps } from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";
import { tempDirs } from "./_files.ts";

const INFO = "[Info Server]";
const FILES = "[File Server]";
const ENV_ALLOWED = { denoArgs: ["--allow-env"] };

async function startInfo(): Promise<InProcessServer> {
  return await InProcessServer.start(["--services", "info"], [INFO]);
}

/** A TCP port on 127.0.0.1 that nothing listens on (just closed). */
function closedTcpPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("connect: a mode's flags go before or after the mode word", async () => {
  await using server = await startInfo();
  const port = String(server.port(INFO));
  for (
    const args of [
      ["connect", "--info-port", port, "info", "TIME"],
      ["connect", "--info-port", port, "--timeout", "2s", "info", "TIME", "--retries", "1"],
      ["connect", "info", "--info-port", port, "TIME"],
      ["connect", `--info-port=${port}`, "info", "TIME"],
    ]
  ) {
    const result = await runCli(args);
    equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
    match(result.stdout, /^time: \d{4}-/);
  }
  const typo = await runCli(["connect", "--host", "127.0.0.1", "inof"]);
  equal(typo.code, 2);
  match(typo.stderr, /^error: Unknown mode "inof": expected one of info, chat/);
  // A flag of another mode is named as unknown to this one.
  const wrong = await runCli(["connect", "--tcp", "info"]);
  equal(wrong.code, 2);
  match(wrong.stderr, /^error: Unknown flag "--tcp"\nRun 'socketkit connect info --help'/);
});

Deno.test("connect: --host HOST:PORT gives the mode's port", async () => {
  await using server = await startInfo();
  const port = server.port(INFO);
  const info = await runCli(["connect", "info", "TIME", "--host", `127.0.0.1:${port}`]);
  equal(info.code, 0, info.stderr);
  match(info.stdout, /^time: /);
  // The same port beside it is no contradiction; another one is.
  const same = await runCli([
    "connect",
    "info",
    "--host",
    `127.0.0.1:${port}`,
    "--info-port",
    String(port),
  ]);
  equal(same.code, 0, same.stderr);
  const other = await runCli([
    "connect",
    "info",
    "--host",
    `127.0.0.1:${port}`,
    "--info-port",
    "1",
  ]);
  equal(other.code, 2);
  match(
    other.stderr,
    new RegExp(
      `^error: --host 127\\.0\\.0\\.1:${port} and --info-port 1 name different ports: give one`,
    ),
  );
  const random = await runCli(["connect", "--random", "--host", "127.0.0.1:9"], "");
  equal(random.code, 2);
  match(random.stderr, /^error: --host 127\.0\.0\.1:9 names one port, and --random uses two/);
  const bad = await runCli(["connect", "files", "--host", "127.0.0.1:http"]);
  equal(bad.code, 2);
  match(bad.stderr, /^error: Invalid port "http" in --host 127\.0\.0\.1:http: expected a port/);
});

Deno.test("connect: SOCKETKIT_HOST and SOCKETKIT_<SERVICE>_PORT are the defaults, flags win", async () => {
  await using dirs = await tempDirs();
  await using server = await InProcessServer.start(
    ["--services", "info,files", "--files-dir", dirs.files],
    [INFO, FILES],
  );
  const env = {
    SOCKETKIT_HOST: "127.0.0.1",
    SOCKETKIT_INFO_PORT: String(server.port(INFO)),
    SOCKETKIT_FILE_PORT: String(server.port(FILES)),
  };
  const info = await runCli(["connect", "info", "TIME"], undefined, { env, ...ENV_ALLOWED });
  equal(info.code, 0, info.stderr);
  const files = await runCli(["connect", "files"], undefined, { env, ...ENV_ALLOWED });
  equal(files.code, 0, files.stderr);
  match(files.stdout, /^No files in 127\.0\.0\.1:\d+/);
  // A flag on the command line wins over the variable.
  const flag = await runCli(
    ["connect", "files", "--file-port", String(server.port(FILES))],
    undefined,
    { env: { ...env, SOCKETKIT_FILE_PORT: "1" }, ...ENV_ALLOWED },
  );
  equal(flag.code, 0, flag.stderr);
  // A bad value names the variable it came from.
  const bad = await runCli(["connect", "files"], undefined, {
    env: { SOCKETKIT_FILE_PORT: "files" },
    ...ENV_ALLOWED,
  });
  equal(bad.code, 2);
  match(bad.stderr, /^error: Invalid value "files" for \$SOCKETKIT_FILE_PORT: expected a port/);
  const hostPort = await runCli(["connect", "files"], undefined, {
    env: { SOCKETKIT_HOST: "127.0.0.1:9" },
    ...ENV_ALLOWED,
  });
  equal(hostPort.code, 2);
  match(hostPort.stderr, /^error: \$SOCKETKIT_HOST is "127\.0\.0\.1:9": give the host alone/);
  // The help shows where a default comes from.
  const help = await runCli(["connect", "files", "--help"]);
  match(
    help.stdout,
    /--file-port PORT +File service port \(default:\s+\$SOCKETKIT_FILE_PORT,\s+else 9003\)/,
  );
});

Deno.test("connect: HOST[:PORT] splits as a user means it, IPv6 included", () => {
  equal(JSON.stringify(splitHostPort("files.example")), '{"host":"files.example"}');
  equal(
    JSON.stringify(splitHostPort("files.example:9003")),
    '{"host":"files.example","port":"9003"}',
  );
  equal(JSON.stringify(splitHostPort("[::1]:9003")), '{"host":"::1","port":"9003"}');
  equal(JSON.stringify(splitHostPort("[::1]")), '{"host":"::1"}');
  equal(JSON.stringify(splitHostPort("fe80::1")), '{"host":"fe80::1"}');
});

Deno.test({
  name: "menu: when nothing answers, it asks for the port, and keeps it for the next entries",
  // The pseudo-terminal comes from python3's pty module.
  ignore: !(await hasCommand("python3")),
  async fn() {
    await using dirs = await tempDirs();
    await using server = await InProcessServer.start(
      ["--services", "files", "--files-dir", dirs.files],
      [FILES],
    );
    const port = String(server.port(FILES));
    const result = await runInPtySteps(
      ["connect", "--file-port", String(closedTcpPort())],
      [
        ["Choose 1-7: ", "4\n"],
        ["Port of the file service \\(Enter: back to the menu\\): ", "x\n"],
        ['Not a port: "x" \\(1-65535\\)\\r?\\nPort of the file service', `${port}\n`],
        ["No files in [^\\n]*\\n[\\s\\S]*Choose 1-7: ", "4\n"],
        ["No files in [^\\n]*\\n[\\s\\S]*Choose 1-7: ", "7\n"],
      ],
    );
    ok(result !== null);
    const output = result.output.replaceAll("\r\n", "\n");
    equal(result.code, 0, output);
    match(output, /error: Cannot connect to 127\.0\.0\.1:\d+ \(connection refused\)/);
    equal(output.match(/Port of the file service/g)?.length, 2, output);
  },
});

Deno.test("menu: no reply from the info port (or port unreachable) asks for the port too", async () => {
  await using server = await startInfo();
  const silent = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const silentPort = String((silent.addr as Deno.NetAddr).port);
  silent.close(); // nothing listens there now
  const lines = ["3", "TIME", String(server.port(INFO)), "q"];
  const written: string[] = [];
  const code = await runMenu({
    readLine: () => Promise.resolve(lines.shift() ?? null),
    write: (text) => void written.push(text),
  }, {
    run: connect,
    available: () => true,
    flagsFor: () => ["--info-port", silentPort, "--timeout", "200ms", "--retries", "0"],
    portsFor: (mode) => mode === "info" ? [{ flag: "info-port", service: "the info service" }] : [],
  });
  equal(code, 0);
  const output = written.join("");
  match(output, /error: (Nothing listens on UDP|No reply from) 127\.0\.0\.1:\d+/);
  match(output, /Port of the info service \(Enter: back to the menu\): /);
  await server.waitFor(/^\[Info Server\] TIME from 127\.0\.0\.1:\d+$/);
});
