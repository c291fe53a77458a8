/**
 * The docs keep up with the program: every flag of every `--help` is in the
 * manuals, the manuals fit 100 columns and have a contents list, `socketkit
 * help TOPIC` prints them, and the README's quick start runs as written.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { TOPICS } from "../lib/help.ts";
import { PERMISSIONS } from "../tools/compile.ts";
import { MAIN, ROOT, runCli, ServerProcess } from "./_helpers.ts";

const DOCS = join(ROOT, "docs");

async function manuals(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for await (const entry of Deno.readDir(DOCS)) {
    if (entry.name.endsWith(".md")) {
      found.set(entry.name, await Deno.readTextFile(join(DOCS, entry.name)));
    }
  }
  return found;
}

/** The manual(s) where a command's own flags must be; security.md counts for every one. */
const MANUAL_OF: Record<string, string[]> = {
  serve: [], // its flags are spread over every manual
  connect: ["message.md", "info.md"],
  chat: ["chat.md"],
  info: ["info.md"],
  upload: ["files.md"],
  download: ["files.md"],
  files: ["files.md"],
};

/** The long flags a help text lists in its Flags section ("  -q, --quiet", "      --host HOST"). */
function flagsOf(help: string): string[] {
  const flags = [...help.matchAll(/^ {2}(?:-\w, | {4})(--[a-z0-9][a-z0-9-]*)/gm)].map((m) => m[1]!);
  return flags.filter((flag) => flag !== "--help");
}

function mentions(text: string, flag: string): boolean {
  return new RegExp(`${flag}(?![a-z0-9-])`).test(text);
}

Deno.test("docs: every flag of every --help (serve, connect, each connect mode) is in the manuals", async () => {
  const docs = await manuals();
  const connectHelp = await runCli(["connect", "--help"]);
  equal(connectHelp.code, 0);
  const modes = connectHelp.stdout.match(/^Modes in this build: (.+)$/m)?.[1]?.split(", ") ?? [];
  ok(modes.length >= 5, `modes listed: ${modes}`);
  const commands: [name: string, args: string[]][] = [
    ["serve", ["serve", "--help"]],
    ["connect", ["connect", "--help"]],
    ...modes.map((mode): [string, string[]] => [mode, ["connect", mode, "--help"]]),
  ];
  // Each --help is its own process: run them side by side, check them in order.
  const helps = await Promise.all(
    commands.map(([name, args]) => name === "connect" ? connectHelp : runCli(args)),
  );
  const missing: string[] = [];
  for (const [i, [name, args]] of commands.entries()) {
    const help = helps[i]!;
    equal(help.code, 0, `${args.join(" ")}: ${help.stderr}`);
    const flags = flagsOf(help.stdout);
    ok(flags.length > 0, `no flags found in ${args.join(" ")}`);
    // A mode this test does not know yet must at least be somewhere in the manuals.
    const own = MANUAL_OF[name];
    const places = own === undefined || own.length === 0
      ? [...docs.keys()]
      : [...own, "security.md"];
    for (const flag of flags) {
      if (!places.some((file) => mentions(docs.get(file) ?? "", flag))) {
        missing.push(
          `socketkit ${args.slice(0, -1).join(" ")} ${flag} (not in ${places.join(", ")})`,
        );
      }
    }
  }
  deepStrictEqual(missing, [], "flags in --help but not in docs/");
});

Deno.test("docs: the manuals and the README fit 100 columns; each manual has a contents list", async () => {
  const docs = await manuals();
  docs.set("../README.md", await Deno.readTextFile(join(ROOT, "README.md")));
  const wide: string[] = [];
  for (const [file, text] of docs) {
    text.split("\n").forEach((line, i) => {
      const columns = Array.from(line).length;
      if (columns > 100) wide.push(`docs/${file}:${i + 1}: ${columns} columns`);
    });
    if (file !== "README.md" && file !== "../README.md") {
      ok(/^## Contents$/m.test(text), `docs/${file} has no "## Contents"`);
    }
  }
  deepStrictEqual(wide, []);
  const readme = docs.get("../README.md")!;
  ok(readme.split("\n").length <= 90, "the README fits on a screen or two");
});

Deno.test("docs: 'socketkit help TOPIC' prints the manual; every manual is a topic", async () => {
  const docs = await manuals();
  for (const file of docs.keys()) {
    if (file !== "README.md") ok(file.replace(/\.md$/, "") in TOPICS, `no help topic for ${file}`);
  }
  for (const [topic, [, text]] of Object.entries(TOPICS)) {
    const file = topic === "readme" ? join(ROOT, "README.md") : join(DOCS, `${topic}.md`);
    equal(text, await Deno.readTextFile(file), topic);
  }
  const [chat, list, unknown] = await Promise.all(
    [["help", "chat"], ["help"], ["help", "nope"]].map((args) => runCli(args)),
  );
  equal(chat!.code, 0);
  equal(chat!.stdout, docs.get("chat.md")!.trimEnd() + "\n");
  equal(list!.code, 0);
  for (const topic of Object.keys(TOPICS)) match(list!.stdout, new RegExp(`^ {2}${topic} `, "m"));
  equal(unknown!.code, 2);
  match(unknown!.stderr, /^error: Unknown help topic "nope": expected one of readme, serve, /);
});

/** The README's quick start: the `socketkit serve` line and the client lines after it. */
async function quickStart(): Promise<{ serve: string; clients: string[] }> {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const section = readme.split(/^## Quick start$/m)[1]?.split(/^## /m)[0] ?? "";
  const commands = [...section.matchAll(/^```sh\n([^]*?)^```$/gm)]
    // A line ending in a backslash goes on on the next, as in sh.
    .flatMap((block) => block[1]!.replace(/\\\n\s*/g, " ").split("\n"))
    .map((line) => line.replace(/\s+# .*$/, "").trim())
    .filter((line) => line !== "");
  const [serve, ...clients] = commands;
  ok(serve?.startsWith("socketkit serve "), `the quick start starts the server: ${serve}`);
  return { serve: serve!, clients };
}

const PORT_LABELS: Record<string, string> = {
  "--tcp-port": "[TCP Server]",
  "--udp-port": "[UDP Server]",
  "--chat-port": "[Chat Server]",
  "--info-port": "[Info Server]",
  "--file-port": "[File Server]",
  "--web-port": "[Web Server]",
};

Deno.test("docs: every command of the README's quick start runs as written", async () => {
  const { serve, clients } = await quickStart();
  // As written, but on free ports: the server binds port 0 for each port it
  // was given, and the clients' lines get the ports it bound.
  const words = serve.split(/\s+/).slice(2);
  const written = new Map<string, string>(); // written port -> label
  const args: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const label = PORT_LABELS[words[i]!];
    if (label) written.set(words[++i]!, label);
    else args.push(words[i]!);
  }
  equal(written.size, 6, "the quick start shows every service on its own port");
  await using server = await ServerProcess.start(args, [...written.values()]);
  const here = await Deno.makeTempDir({ prefix: "socketkit-quickstart-" });
  try {
    // `socketkit` as `deno task install` makes it; README.md to upload, as in a checkout.
    const bin = join(here, "bin");
    await Deno.mkdir(bin);
    await Deno.writeTextFile(
      join(bin, "socketkit"),
      `#!/bin/sh\nexec "${Deno.execPath()}" run ${PERMISSIONS.join(" ")} "${MAIN}" "$@"\n`,
      { mode: 0o755 },
    );
    await Deno.copyFile(join(ROOT, "README.md"), join(here, "README.md"));
    for (const line of clients) {
      const command = line.replace(/\b\d{4,5}\b/g, (port) => {
        const label = written.get(port);
        return label ? String(server.port(label)) : port;
      });
      const result = await new Deno.Command("sh", {
        args: ["-c", command],
        cwd: here,
        env: { PATH: `${bin}:${Deno.env.get("PATH") ?? ""}`, NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(result.stderr);
      equal(result.code, 0, `${line}\n${stderr}`);
    }
    equal(
      await Deno.readTextFile(join(here, "copy.md")),
      await Deno.readTextFile(join(ROOT, "README.md")),
    );
    // The last line stops the server.
    equal((await server.exited()).code, 0);
  } finally {
    await Deno.remove(here, { recursive: true });
  }
});
