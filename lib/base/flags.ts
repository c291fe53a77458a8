/**
 * Declarative flags: one table per command drives both parsing and the help
 * text. The parser is our own, with the rules of node:util's parseArgs
 * (strict, positionals allowed) that the commands were written against:
 * importing any node: module costs every command 20-60 ms of start-up (the
 * Node compatibility layer), more than the rest of `connect MODE --help`.
 */
import { UsageError } from "./errors.ts";
import { outputColumns, wrapLines, wrapWords } from "./wrap.ts";

/** One flag of a command. */
export interface FlagSpec {
  type: "string" | "boolean";
  /** One-letter alias, e.g. "h". */
  short?: string;
  /** Placeholder for the value in help, e.g. "PORT". */
  value?: string;
  /** Default value of a string flag; also shown in help. */
  default?: string;
  /**
   * An environment variable that, when set and not empty, is the flag's value
   * unless the command line gives one (before `default`); shown in help.
   */
  env?: string;
  /** One line for the help text. */
  help: string;
}

/** A command or subcommand: its flags and what its help says. */
export interface CommandSpec {
  /** Full name as typed, e.g. "socketkit connect upload". */
  name: string;
  /** Usage lines, without the leading "Usage: ". */
  usage: string[];
  /** One paragraph on what the command does. */
  summary: string;
  flags: Record<string, FlagSpec>;
  /** How many positional arguments are allowed (default 0). */
  maxPositionals?: number;
  /** Free text printed after the flags (examples, protocol hints). */
  notes?: string;
}

const HELP_FLAG: FlagSpec = { type: "boolean", short: "h", help: "Show this help and exit" };

/**
 * Parses `args` against `spec`. Throws UsageError naming the offending flag or
 * argument. `--help` is always accepted and reported as `help`.
 */
export function parseFlags(spec: CommandSpec, args: string[]): ParsedFlags {
  let parsed;
  try {
    parsed = parseArgv({ ...spec.flags, help: HELP_FLAG }, joinNegativeValues(spec, args));
  } catch (error) {
    if (error instanceof ArgvError) throw new UsageError(error.message, spec.name);
    throw error;
  }
  const values = parsed.values;
  if (values.help) return new ParsedFlags(spec.name, values, parsed.positionals);
  const sources: Record<string, FlagSource> = {};
  for (const [name, flag] of Object.entries(spec.flags)) {
    if (values[name] !== undefined) {
      sources[name] = "argv";
      continue;
    }
    const fromEnv = flag.env === undefined ? undefined : readEnv(flag.env);
    if (fromEnv !== undefined) {
      values[name] = fromEnv;
      sources[name] = "env";
    } else if (flag.default !== undefined) {
      values[name] = flag.default;
    }
  }
  const max = spec.maxPositionals ?? 0;
  if (parsed.positionals.length > max) {
    const extra = parsed.positionals[max];
    throw new UsageError(`Unexpected argument "${extra}"`, spec.name);
  }
  return new ParsedFlags(spec.name, values, parsed.positionals, { sources, flags: spec.flags });
}

/** Where a flag's value came from: the command line, its environment variable, or its default. */
export type FlagSource = "argv" | "env" | "default";

/**
 * An environment variable's value; undefined when unset, empty, or not
 * granted (`deno run` without --allow-env for it: asked first, so that Deno
 * never stops to prompt for it on a terminal).
 */
function readEnv(name: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    return undefined;
  }
  const value = Deno.env.get(name);
  return value === undefined || value === "" ? undefined : value;
}

/**
 * A command's parsed flags, read the one way every command reads them: string
 * flags with their defaults filled in, each value checked by its parser, and
 * every value error naming this command, so its hint points at the right help.
 */
export class ParsedFlags {
  /** The command, e.g. "socketkit serve". */
  readonly command: string;
  /** Strings for string flags (defaults filled in), booleans for the rest. */
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: string[];
  #sources: Record<string, FlagSource>;
  #flags: Record<string, FlagSpec>;

  constructor(
    command: string,
    values: Record<string, string | boolean | undefined>,
    positionals: string[] = [],
    origin: { sources?: Record<string, FlagSource>; flags?: Record<string, FlagSpec> } = {},
  ) {
    this.command = command;
    this.values = values;
    this.positionals = positionals;
    this.#sources = origin.sources ?? {};
    this.#flags = origin.flags ?? {};
  }

  /** Where a flag's value came from. */
  source(name: string): FlagSource {
    return this.#sources[name] ?? "default";
  }

  /** How to name a flag's value in an error: "--host", or "$SOCKETKIT_HOST" when it came from there. */
  origin(name: string): string {
    const env = this.#flags[name]?.env;
    return this.source(name) === "env" && env !== undefined ? `$${env}` : `--${name}`;
  }

  /** --help was given. */
  get help(): boolean {
    return this.values.help === true;
  }

  /** A boolean flag. */
  boolean(name: string): boolean {
    return this.values[name] === true;
  }

  /** A string flag that was given, or undefined (for flags without a default). */
  optional(name: string): string | undefined {
    const value = this.values[name];
    return typeof value === "string" ? value : undefined;
  }

  /** A string flag that has a default (so it is always set after parsing). */
  string(name: string): string {
    const value = this.values[name];
    if (typeof value !== "string") throw new Error(`flag --${name} has no value or default`);
    return value;
  }

  /** See {@link parsePort}. */
  port(name: string): number {
    return this.check(() => parsePort(name, this.string(name)), name);
  }

  /** See {@link parseInteger}. */
  integer(name: string, min?: number, max?: number): number {
    return this.check(() => parseInteger(name, this.string(name), min, max), name);
  }

  /** See {@link parseNumber}. */
  number(name: string): number {
    return this.check(() => parseNumber(name, this.string(name)), name);
  }

  /** See {@link parseSize}. */
  size(name: string, min?: number): number {
    return this.check(() => parseSize(name, this.string(name), min), name);
  }

  /** See {@link parseDuration}. */
  duration(name: string): number {
    return this.check(() => parseDuration(name, this.string(name)), name);
  }

  /** See {@link parseChoice}. */
  choice<T extends string>(name: string, choices: readonly T[]): T {
    return this.check(() => parseChoice(name, this.string(name), choices), name);
  }

  /** See {@link parseList}. */
  list<T extends string>(name: string, choices: readonly T[]): T[] {
    return this.check(() => parseList(name, this.string(name), choices), name);
  }

  /**
   * Runs a check of a value; a UsageError it throws is made to name this
   * command, and, when flag `name`'s value came from its environment
   * variable, to name the variable instead of the flag.
   */
  check<T>(read: () => T, name?: string): T {
    try {
      return read();
    } catch (error) {
      if (error instanceof UsageError && error.command === undefined) {
        const message = name === undefined
          ? error.message
          : error.message.replace(`for --${name}`, `for ${this.origin(name)}`);
        throw new UsageError(message, this.command);
      }
      throw error;
    }
  }
}

/**
 * `--retries -1`: parseArgs takes "-1" for a flag of its own and reports the
 * flag as missing its value. A string flag followed by something that looks
 * like a negative number gets it as its value, so the value's own check says
 * what is allowed.
 */
function joinNegativeValues(spec: CommandSpec, args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return [...out, ...args.slice(i)];
    const next = args[i + 1];
    const name = arg.startsWith("--") ? arg.slice(2) : undefined;
    if (
      name !== undefined && spec.flags[name]?.type === "string" && next !== undefined &&
      /^-\d/.test(next)
    ) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** A command line that does not fit the flags; the message is the user's. */
class ArgvError extends Error {}

/** One flag as given: its name, how it was written, and its value if it has one. */
interface ArgvOption {
  name: string;
  /** "--name" or "-n", as typed. */
  raw: string;
  value?: string;
  /** The value came after "=" (or glued to a short flag), not as the next argument. */
  inline: boolean;
}

/**
 * Splits `args` against `flags` by parseArgs' rules: "--name value",
 * "--name=value", "-n", "-abc" for several one-letter booleans, "-nVALUE" for
 * a one-letter string flag, "--" before arguments that are never flags, and
 * "-" as an argument. A string flag takes the next argument, whatever it is;
 * one that looks like a flag is refused (it must be given as --name=-x).
 * Throws ArgvError for the first flag that is unknown, lacks its value or has
 * one it does not take.
 */
function parseArgv(
  flags: Record<string, FlagSpec>,
  args: string[],
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const longFor = (short: string) =>
    Object.entries(flags).find(([, flag]) => flag.short === short)?.[0] ?? short;
  const typeOf = (name: string) => Object.hasOwn(flags, name) ? flags[name]!.type : undefined;
  const options: ArgvOption[] = [];
  const positionals: string[] = [];
  const rest = [...args];
  while (rest.length > 0) {
    const arg = rest.shift()!;
    if (arg === "--") {
      positionals.push(...rest);
      break;
    }
    const short = arg.length >= 2 && arg[0] === "-" && arg[1] !== "-";
    if (short && arg.length === 2) {
      const name = longFor(arg[1]!);
      const value = typeOf(name) === "string" && rest.length > 0 ? rest.shift() : undefined;
      options.push({ name, raw: arg, inline: false, ...(value === undefined ? {} : { value }) });
    } else if (short && typeOf(longFor(arg[1]!)) !== "string") {
      // -abc: -a -b -c; a string flag inside takes the rest as its value (-abfFILE).
      const expanded: string[] = [];
      for (let i = 1; i < arg.length; i++) {
        const letter = arg[i]!;
        if (typeOf(longFor(letter)) !== "string" || i === arg.length - 1) {
          expanded.push(`-${letter}`);
        } else {
          expanded.push(`-${arg.slice(i)}`);
          break;
        }
      }
      rest.unshift(...expanded);
    } else if (short) {
      options.push({
        name: longFor(arg[1]!),
        raw: arg.slice(0, 2),
        value: arg.slice(2),
        inline: true,
      });
    } else if (arg.length > 2 && arg.startsWith("--") && !arg.includes("=", 3)) {
      const name = arg.slice(2);
      const value = typeOf(name) === "string" && rest.length > 0 ? rest.shift() : undefined;
      options.push({ name, raw: arg, inline: false, ...(value === undefined ? {} : { value }) });
    } else if (arg.length > 2 && arg.startsWith("--")) {
      const equals = arg.indexOf("=");
      const name = arg.slice(2, equals);
      options.push({ name, raw: `--${name}`, value: arg.slice(equals + 1), inline: true });
    } else {
      positionals.push(arg);
    }
  }
  const values: Record<string, string | boolean | undefined> = {};
  for (const option of options) {
    checkOption(flags, option);
    if (option.name !== "__proto__") values[option.name] = option.value ?? true;
  }
  return { values, positionals };
}

/** Throws ArgvError for an unknown flag, a missing value, or a value a boolean does not take. */
function checkOption(flags: Record<string, FlagSpec>, option: ArgvOption): void {
  if (!Object.hasOwn(flags, option.name)) throw new ArgvError(`Unknown flag "${option.raw}"`);
  const flag = flags[option.name]!;
  if (flag.type === "string" && option.value === undefined) {
    throw new ArgvError(`Flag "${option.raw}" needs a value`);
  }
  if (flag.type === "boolean" && option.value !== undefined) {
    throw new ArgvError(`Flag "${option.raw}" does not take a value`);
  }
  if (
    !option.inline && option.value !== undefined && option.value.length > 1 &&
    option.value[0] === "-"
  ) {
    // Most likely a forgotten value before the next flag; a value that really
    // starts with "-" is given inline.
    throw new ArgvError(
      `Flag "${option.raw}" needs a value, not "${option.value}" (to mean it, write ${option.raw}=${option.value})`,
    );
  }
}

/**
 * The help text of a command, generated from its spec, wrapped to `columns`
 * (default: the terminal's width, 80 when stdout is not a terminal). A flag's
 * help that does not fit beside it continues under itself; when the column
 * beside the flags would be too narrow, each help goes under its flag.
 */
export function formatHelp(spec: CommandSpec, columns: number = outputColumns()): string {
  const rows = Object.entries({ ...spec.flags, help: HELP_FLAG }).map(([name, flag]) => {
    const short = flag.short ? `-${flag.short}, ` : "    ";
    const value = flag.type === "string" ? ` ${flag.value ?? "VALUE"}` : "";
    const env = flag.env !== undefined ? `$${flag.env}, else ` : "";
    const def = flag.default !== undefined ? ` (default: ${env}${flag.default})` : "";
    return [`  ${short}--${name}${value}`, `${flag.help}${def}`] as const;
  });
  const longest = Math.max(...rows.map(([left]) => left.length)) + 2;
  // Beside the flags when that leaves the help a readable column; else below.
  const beside = columns - longest >= 30;
  const indent = beside ? longest : 10;
  const flagLines = rows.flatMap(([left, right]) => {
    const wrapped = wrapWords(right, columns - indent);
    if (!beside) return [left, ...wrapped.map((line) => " ".repeat(indent) + line)];
    return wrapped.map((line, i) => (i === 0 ? left.padEnd(indent) : " ".repeat(indent)) + line);
  });
  const lines = [
    ...wrapWords(spec.summary, columns),
    "",
    ...spec.usage.flatMap((line, i) =>
      (line.length <= columns - 7 ? [line] : wrapWords(line, columns - 9)).map((part, j) =>
        (j > 0 ? "         " : i === 0 ? "Usage: " : "       ") + part
      )
    ),
    "",
    "Flags:",
    ...flagLines,
  ];
  if (spec.notes) lines.push("", wrapLines(spec.notes.trimEnd(), columns));
  return lines.join("\n") + "\n";
}

// ---- value parsers: each names the flag in its error ----

/** A TCP/UDP port, 0 to 65535 (0: the OS picks a free one). */
export function parsePort(flag: string, value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new UsageError(`Invalid value "${value}" for --${flag}: expected a port from 0 to 65535`);
  }
  return port;
}

/** A whole number within [min, max]. */
export function parseInteger(
  flag: string,
  value: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    const range = max >= Number.MAX_SAFE_INTEGER ? `of ${min} or more` : `from ${min} to ${max}`;
    throw new UsageError(
      `Invalid value "${value}" for --${flag}: expected a whole number ${range}`,
    );
  }
  return n;
}

/** A decimal number of 0 or more, e.g. a rate of "2.5". */
export function parseNumber(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n)) {
    throw new UsageError(
      `Invalid value "${value}" for --${flag}: expected a number of 0 or more, like 10 or 2.5`,
    );
  }
  return n;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A byte count: "65536", "64KiB", "4GiB" (K, M and G are powers of 1024). */
export function parseSize(flag: string, value: string, min = 1): number {
  const match = value.trim().match(/^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/);
  const unit = SIZE_UNITS[match?.[2]?.toLowerCase() ?? "?"];
  const bytes = match && unit ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < min) {
    const least = min > 0 ? ` of at least ${formatSize(min)}` : "";
    throw new UsageError(
      `Invalid value "${value}" for --${flag}: expected a size${least}, like 65536, 64KiB or 4GiB`,
    );
  }
  return bytes;
}

/** "1 byte", "64 bytes", "4 KiB": a size as a person reads it (exact units only). */
export function formatSize(bytes: number): string {
  if (bytes === 1) return "1 byte";
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration in milliseconds: "100ms", "30s", "5m", "1h"; a bare number means seconds. */
export function parseDuration(flag: string, value: string): number {
  const match = value.trim().match(/^(\d+(?:\.\d+)?)(ms|s|m|h)?$/);
  if (!match) {
    throw new UsageError(
      `Invalid value "${value}" for --${flag}: expected a duration of 0 or more, like 500ms, 30s or 5m`,
    );
  }
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2] ?? "s"]!);
}

/** One of a fixed set of words. */
export function parseChoice<T extends string>(
  flag: string,
  value: string,
  choices: readonly T[],
): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UsageError(
    `Invalid value "${value}" for --${flag}: expected one of ${choices.join(", ")}`,
  );
}

/** A comma-separated list of words from a fixed set, without repeats. */
export function parseList<T extends string>(
  flag: string,
  value: string,
  choices: readonly T[],
): T[] {
  const items = value.split(",").map((item) => item.trim()).filter((item) => item !== "");
  if (items.length === 0) {
    throw new UsageError(`Invalid value "${value}" for --${flag}: expected a comma-separated list`);
  }
  return [...new Set(items.map((item) => parseChoice(flag, item, choices)))];
}
