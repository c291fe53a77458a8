/**
 * The shared secret: where it comes from (SOCKETKIT_TOKEN or a file, never the
 * command line, where any user of the machine can read it in the process
 * list). How the server compares it is in token_check.ts, kept apart so the
 * client does not load node:crypto.
 */
import { RuntimeError } from "../base/errors.ts";
import { readFlagFile } from "../base/flag_file.ts";

/** The environment variable both server and client read. */
export const TOKEN_ENV = "SOCKETKIT_TOKEN";

/** Longest token accepted, in bytes; an AUTH line is bounded by it. */
export const MAX_TOKEN_BYTES = 1024;

/** Tokens shorter than this draw a warning: guessable over the network. */
export const SHORT_TOKEN_CHARS = 16;

/** Why `secret` cannot be a token (empty, too long, control characters), or null. */
export function tokenProblem(secret: string): string | null {
  if (secret === "") return "it is empty";
  if (new TextEncoder().encode(secret).length > MAX_TOKEN_BYTES) {
    return `it is longer than ${MAX_TOKEN_BYTES} bytes`;
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(secret)) return "it holds control characters (a newline?)";
  if (secret !== secret.trim()) return "it starts or ends with white space";
  return null;
}

/** Where a token was found, for messages ("--token-file ./t", "SOCKETKIT_TOKEN"). */
export interface FoundToken {
  secret: string;
  source: string;
  /** Something the user should hear about (a file others can read, a short token). */
  warnings: string[];
}

/**
 * Reads the token: `--token-file` first (an explicit flag beats the ambient
 * environment), then SOCKETKIT_TOKEN. Returns null when neither is set.
 * Throws RuntimeError for an unreadable file or an unusable token.
 *
 * The variable is read only when the permission is already granted
 * (`--allow-env=SOCKETKIT_TOKEN`, as the tasks and the compiled binary have):
 * asking would stop a server on a terminal prompt.
 *
 * `options.checkLength`: warn about a short token (default true). A server
 * should; a client cannot choose the server's token, so it is not told.
 */
export function readToken(
  tokenFile: string | undefined,
  options: { checkLength?: boolean } = {},
): FoundToken | null {
  let found: FoundToken;
  if (tokenFile !== undefined) {
    found = readTokenFile(tokenFile);
  } else {
    if (!envReadable()) return null;
    const value = Deno.env.get(TOKEN_ENV);
    if (value === undefined) return null;
    const problem = tokenProblem(value);
    if (problem !== null) throw new RuntimeError(`Cannot use ${TOKEN_ENV}: ${problem}`);
    found = { secret: value, source: TOKEN_ENV, warnings: [] };
  }
  if ((options.checkLength ?? true) && found.secret.length < SHORT_TOKEN_CHARS) {
    found.warnings.push(
      `the token from ${found.source} is short (${found.secret.length} characters); use ${SHORT_TOKEN_CHARS} or more random ones, e.g. from: openssl rand -hex 16`,
    );
  }
  return found;
}

/** True when SOCKETKIT_TOKEN may be read without a permission prompt. */
export function envReadable(): boolean {
  try {
    return Deno.permissions.querySync({ name: "env", variable: TOKEN_ENV }).state === "granted";
  } catch {
    return false;
  }
}

/**
 * Reads a token file: its first line, without the line end (so `echo secret >
 * file` works). Warns, as ssh does, when others may read the file.
 */
export function readTokenFile(path: string): FoundToken {
  const text = readFlagFile("token-file", path);
  const secret = text.replace(/\r?\n[\s\S]*$/, "").replace(/\r$/, "");
  const problem = tokenProblem(secret);
  if (problem !== null) throw new RuntimeError(`Cannot use --token-file "${path}": ${problem}`);
  const found: FoundToken = { secret, source: `--token-file "${path}"`, warnings: [] };
  try {
    const mode = Deno.statSync(path).mode;
    if (mode !== null && (mode & 0o077) !== 0) {
      found.warnings.push(
        `--token-file "${path}" can be read by other users (mode ${
          (mode & 0o777).toString(8)
        }); chmod 600 it`,
      );
    }
  } catch {
    // A file we just read but cannot stat: nothing worth failing for.
  }
  return found;
}
