/**
 * Every runnable example in docs/ runs: each fenced block tagged `sh` or
 * `python` is run against servers started here, with the default ports in
 * it (65432, 65433, 9001, 9002, 9003) changed to the ones they bound. The
 * rule (docs/development.md, "Examples in the manuals"):
 *
 * - a block tagged `sh` or `python` is run, unless the last non-blank line
 *   before it is `<!-- not run: REASON -->`; blocks with any other tag, or none (output,
 *   JSON, protocol transcripts), are never run;
 * - it runs in a fresh folder with standard input empty, and passes when it
 *   exits 0 within 20 s, printing something on stdout if it prints at all
 *   (a `print(` or an `nc`);
 * - an example that uses $SOCKETKIT_TOKEN runs against a server that requires
 *   that token (SOCKETKIT_TOKEN set for it), the others against one without;
 *   the file service holds `hello.txt`;
 * - an example whose tool (python3, nc, openssl) is missing is skipped, saying so.
 */
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { decodeLenient } from "../lib/base/text.ts";
import { hasCommand, ROOT, runCli } from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";
import { TOKEN, writeSecretFile } from "./_security.ts";

const DOCS = join(ROOT, "docs");
const RUN_MS = 20_000;

/** A fenced example of a manual. */
export interface Example {
  /** "security.md:352", where the fence opens. */
  where: string;
  lang: "sh" | "python";
  code: string;
  /** The reason in `<!-- not run: REASON -->`, or null: it runs. */
  notRun: string | null;
}

/** The `sh` and `python` blocks of one manual, indented ones (in lists) included. */
export function examplesOf(file: string, text: string): Example[] {
  const lines = text.split("\n");
  const found: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = lines[i]!.match(/^(\s*)```(sh|python)\s*$/);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j]!)) body.push(lines[j++]!.slice(indent));
    // The marker is the last non-blank line before the fence (deno fmt puts a blank line after it).
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === "") k--;
    const before = lines[k]?.trim() ?? "";
    found.push({
      where: `${file}:${i + 1}`,
      lang: open[2] as "sh" | "python",
      code: body.join("\n") + "\n",
      notRun: before.match(/^<!-- not run: (.+) -->$/)?.[1] ?? null,
    });
    i = j;
  }
  return found;
}

async function allExamples(): Promise<Example[]> {
  const files = [...Deno.readDirSync(DOCS)].map((entry) => entry.name)
    .filter((name) => name.endsWith(".md")).sort();
  const all: Example[] = [];
  for (const file of files) {
    all.push(...examplesOf(file, await Deno.readTextFile(join(DOCS, file))));
  }
  return all;
}

const DEFAULT_PORTS: Record<string, string> = {
  "65432": "[TCP Server]",
  "65433": "[UDP Server]",
  "9001": "[Chat Server]",
  "9002": "[Info Server]",
  "9003": "[File Server]",
};

/** The example with its default ports changed to `server`'s. */
function onPorts(code: string, server: InProcessServer): string {
  return code.replace(
    /\b(65432|65433|9001|9002|9003)\b/g,
    (port) => String(server.port(DEFAULT_PORTS[port]!)),
  );
}

/** The tool an example needs that is missing here, or null. */
async function missingTool(example: Example): Promise<string | null> {
  const tools = example.lang === "python" ? ["python3"] : [];
  if (/(^|[|;{]\s*)nc\s/m.test(example.code)) tools.push("nc");
  if (/(^|[|;{]\s*)openssl\s/m.test(example.code)) tools.push("openssl");
  if (/\bpython3\b/.test(example.code)) tools.push("python3");
  for (const tool of tools) if (!(await hasCommand(tool))) return tool;
  return null;
}

async function run(example: Example, code: string, env: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "socketkit-docs-example-" });
  try {
    const script = join(dir, example.lang === "python" ? "example.py" : "example.sh");
    await Deno.writeTextFile(script, code);
    const child = new Deno.Command(example.lang === "python" ? "python3" : "sh", {
      args: example.lang === "python" ? [script] : ["-e", script],
      cwd: dir,
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await child.stdin.close();
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_MS);
    try {
      const output = await child.output();
      return {
        code: output.code,
        signal: output.signal,
        stdout: decodeLenient(output.stdout),
        stderr: decodeLenient(output.stderr),
      };
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("docs examples: the marker rule finds blocks, indented ones too, and their reasons", () => {
  const text = [
    "```sh",
    "echo run",
    "```",
    "<!-- not run: a server -->",
    "",
    "```python",
    "print(1)",
    "```",
    "1. a list",
    "   ```sh",
    "   echo indented",
    "   ```",
    "```json",
    "{}",
    "```",
  ].join("\n");
  const found = examplesOf("x.md", text);
  equal(found.length, 3);
  equal(found[0]!.notRun, null);
  equal(found[1]!.notRun, "a server");
  equal(found[2]!.code, "echo indented\n");
  equal(found[2]!.where, "x.md:10");
});

Deno.test("docs examples: every sh and python block in docs/ runs, or says why not", async (t) => {
  const examples = await allExamples();
  ok(examples.filter((example) => example.notRun === null).length >= 8, "runnable examples found");
  const dir = await Deno.makeTempDir({ prefix: "socketkit-docs-servers-" });
  try {
    const tokenFile = await writeSecretFile(dir, "token", TOKEN);
    const args = ["--exit-from", "none", "--udp-rate", "0", "--info-rate", "0"];
    await using plain = await InProcessServer.start(args, Object.values(DEFAULT_PORTS));
    await using locked = await InProcessServer.start(
      [...args, "--token-file", tokenFile],
      Object.values(DEFAULT_PORTS),
    );
    // What the file service examples ask for.
    const hello = join(dir, "hello.txt");
    await Deno.writeTextFile(hello, "hello\n");
    const up = await runCli([
      "connect",
      "upload",
      hello,
      `--file-port=${plain.port("[File Server]")}`,
    ]);
    equal(up.code, 0, up.stderr);
    for (const example of examples) {
      const missing = example.notRun === null ? await missingTool(example) : null;
      const skip = example.notRun ?? (missing === null ? null : `${missing} is not installed`);
      await t.step({
        name: `${example.where} (${example.lang})`,
        ignore: skip !== null,
        fn: async () => {
          const needsToken = example.code.includes("SOCKETKIT_TOKEN");
          const server = needsToken ? locked : plain;
          const env: Record<string, string> = needsToken ? { SOCKETKIT_TOKEN: TOKEN } : {};
          const result = await run(example, onPorts(example.code, server), env);
          const about = `${example.where}:\n${result.stdout}${result.stderr}`;
          equal(result.signal, null, `killed after ${RUN_MS / 1000} s: ${about}`);
          equal(result.code, 0, about);
          if (/\bprint\(|(^|[|;]\s*)nc\s/m.test(example.code)) {
            ok(result.stdout.trim() !== "", `printed nothing: ${about}`);
          }
        },
      });
      if (skip !== null) console.log(`  ${example.where}: not run: ${skip}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("docs: what 0 means for a serve flag ('0: no limit') is what --help says", async () => {
  const help = await runCli(["serve", "--help"]);
  equal(help.code, 0);
  // One entry per flag, its help wrapped over several lines joined again.
  const entries: string[] = [];
  for (const line of help.stdout.split("\n")) {
    if (/^\s+(?:-\w, )?--[a-z0-9]/.test(line)) entries.push(line.trim());
    else if (/^\s{8,}\S/.test(line) && entries.length > 0) {
      entries.push(entries.pop()! + " " + line.trim());
    } else entries.push("");
  }
  const meanings = new Map<string, string>();
  for (const entry of entries) {
    const row = entry.match(/^(?:-\w, )?(--[a-z0-9-]+)(?: [A-Z]+)?\s+(.*)$/);
    const zero = row?.[2]?.match(/\(0: ([^;)]*)/)?.[1];
    if (row && zero) meanings.set(row[1]!, zero.trim());
  }
  ok(meanings.size >= 10, "serve --help explains 0 for its limits");
  const wrong: string[] = [];
  for (const example of [...Deno.readDirSync(DOCS)].filter((e) => e.name.endsWith(".md"))) {
    const lines = (await Deno.readTextFile(join(DOCS, example.name))).split("\n");
    lines.forEach((line, i) => {
      const flag = line.match(/^- `(--[a-z0-9-]+)[ `]/)?.[1];
      const meaning = flag === undefined ? undefined : meanings.get(flag);
      if (meaning === undefined) return;
      // The list entry: its first line and the indented lines under it.
      let entry = line;
      for (let j = i + 1; j < lines.length && lines[j]!.startsWith("  "); j++) {
        entry += " " + lines[j]!.trim();
      }
      const said = entry.match(/\b0: ([^;)]*)/)?.[1]?.trim();
      if (said !== undefined && said !== meaning) {
        wrong.push(`${example.name}:${i + 1}: ${flag} "0: ${said}", --help "0: ${meaning}"`);
      }
    });
  }
  equal(wrong.join("\n"), "");
});
