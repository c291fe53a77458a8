/** Flag parsing: defaults, value checks, and errors that name the right command. */
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { UsageError } from "../../lib/base/errors.ts";
import { type CommandSpec, formatHelp, parseFlags } from "../../lib/base/flags.ts";
import { parseServeConfig, SERVE_SPEC } from "../../lib/serve.ts";

const SPEC: CommandSpec = {
  name: "socketkit demo",
  usage: ["socketkit demo [flags]"],
  summary: "A demo.",
  maxPositionals: 1,
  flags: {
    port: { type: "string", value: "PORT", default: "9001", help: "Port" },
    size: { type: "string", value: "SIZE", default: "64KiB", help: "Size" },
    wait: { type: "string", value: "TIME", default: "100ms", help: "Wait" },
    name: { type: "string", value: "NAME", help: "Name" },
    loud: { type: "boolean", short: "l", help: "Loud" },
  },
};

function usageError(run: () => unknown): UsageError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  if (!(caught instanceof UsageError)) throw new Error(`expected a UsageError, got ${caught}`);
  return caught;
}

Deno.test("flags: defaults are filled in and read through their parsers", () => {
  const flags = parseFlags(SPEC, ["-l", "--size=1M", "extra"]);
  equal(flags.port("port"), 9001);
  equal(flags.size("size"), 1024 * 1024);
  equal(flags.duration("wait"), 100);
  equal(flags.optional("name"), undefined);
  equal(flags.boolean("loud"), true);
  deepStrictEqual(flags.positionals, ["extra"]);
  equal(parseFlags(SPEC, ["--help"]).help, true);
});

Deno.test("flags: every mistake is a UsageError naming the command whose help explains it", () => {
  for (
    const [args, message] of [
      [["--nope"], 'Unknown flag "--nope"'],
      [["--name"], 'Flag "--name" needs a value'],
      [["a", "b"], 'Unexpected argument "b"'],
    ] as const
  ) {
    const error = usageError(() => parseFlags(SPEC, [...args]));
    equal(error.message, message);
    equal(error.command, "socketkit demo");
  }
  const value = usageError(() => parseFlags(SPEC, ["--port", "x"]).port("port"));
  equal(value.message, 'Invalid value "x" for --port: expected a port from 0 to 65535');
  equal(value.command, "socketkit demo");
  equal(
    usageError(() => parseServeConfig(parseFlags(SERVE_SPEC, ["--tcp-port", "x"]))).command,
    "socketkit serve",
  );
  equal(
    usageError(() => parseServeConfig(parseFlags(SERVE_SPEC, ["--chat-buffer", "1"]))).command,
    "socketkit serve",
  );
  throws(() => parseServeConfig(parseFlags(SERVE_SPEC, ["--allow", "10.0.0.0/33"])), UsageError);
});

Deno.test("flags: the help text comes from the same table, defaults shown", () => {
  const help = formatHelp(SPEC);
  equal(help.split("\n")[0], "A demo.");
  equal(/--port PORT\s+Port \(default: 9001\)/.test(help), true);
  equal(/-l, --loud\s+Loud/.test(help), true);
});
