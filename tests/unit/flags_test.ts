/** Flag parsing: defaults, value checks, and errors that name the right command. */
import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
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
      [["--loud=yes"], 'Flag "--loud" does not take a value'],
      [["-lx"], 'Unknown flag "-x"'],
      [
        ["--name", "--loud"],
        'Flag "--name" needs a value, not "--loud" (to mean it, write --name=--loud)',
      ],
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

Deno.test("flags: a negative number after a flag is its value, and each value error says what is allowed", () => {
  const spec: CommandSpec = {
    ...SPEC,
    flags: { ...SPEC.flags, count: { type: "string", value: "N", default: "2", help: "Count" } },
  };
  const cases: [string[], (flags: ReturnType<typeof parseFlags>) => unknown, string][] = [
    [["--count", "-1"], (f) => f.integer("count", 0, 100), "a whole number from 0 to 100"],
    [["--count", "-1"], (f) => f.integer("count", 1), "a whole number of 1 or more"],
    [["--count", "-3"], (f) => f.number("count"), "a number of 0 or more, like 10 or 2.5"],
    [["--size", "0"], (f) => f.size("size"), "a size of at least 1 byte, like 65536"],
    [["--size", "3"], (f) => f.size("size", 4096), "a size of at least 4 KiB, like 65536"],
    [["--size", "3"], (f) => f.size("size", 100), "a size of at least 100 bytes, like"],
    [["--wait", "-5s"], (f) => f.duration("wait"), "a duration of 0 or more, like 500ms"],
  ];
  for (const [args, read, expected] of cases) {
    const error = usageError(() => read(parseFlags(spec, args)));
    equal(error.message.startsWith(`Invalid value "${args[1]}" for ${args[0]}: expected `), true);
    equal(error.message.includes(expected), true, error.message);
    equal(/9007199254740991|1 bytes/.test(error.message), false, error.message);
  }
  // "--" still ends the flags, and a boolean flag never takes the number.
  deepStrictEqual(parseFlags(SPEC, ["--", "-1"]).positionals, ["-1"]);
  equal(usageError(() => parseFlags(SPEC, ["--loud", "-1"])).message, 'Unknown flag "-1"');
});

Deno.test("flags: the help text comes from the same table, defaults shown", () => {
  const help = formatHelp(SPEC);
  equal(help.split("\n")[0], "A demo.");
  equal(/--port PORT\s+Port \(default: 9001\)/.test(help), true);
  equal(/-l, --loud\s+Loud/.test(help), true);
});

Deno.test("flags: the help wraps to the width asked for, a flag's help continuing under itself", () => {
  const spec = {
    ...SPEC,
    summary: "A demo whose summary is long enough to need a second line at fifty columns.",
    flags: {
      ...SPEC.flags,
      long: {
        type: "boolean" as const,
        help: "A help line far longer than the room beside the flags leaves it, so it wraps",
      },
    },
    notes: "Notes:\n  - a list item of the notes that is too long for fifty columns as it is",
  };
  const help = formatHelp(spec, 50);
  for (const line of help.split("\n")) ok(line.length <= 50, `${line.length}: ${line}`);
  // The column beside the flags starts two spaces after the longest flag, "--wait TIME".
  match(help, /^ {6}--long {7}A help line far longer than the\n {19}room beside the flags/m);
  match(help, /^ {2}- a list item of the notes that is too long for\n {4}fifty columns as it is$/m);
  // Too narrow for a column beside the flags: each help goes under its flag.
  match(formatHelp(spec, 40), /^ {6}--long\n {10}A help line far longer than\n/m);
  // Wide enough: nothing is wrapped.
  match(formatHelp(spec, 200), /--long {7}A help line .* so it wraps\n/);
});
