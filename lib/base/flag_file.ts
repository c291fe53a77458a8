/** Reading a file named by a flag (--token-file, --tls-cert, ...), with errors a user can act on. */
import { RuntimeError } from "./errors.ts";

/**
 * The whole file as text. Throws RuntimeError like
 * `Cannot read --tls-cert "cert.pem": no such file`.
 */
export function readFlagFile(flag: string, path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.NotCapable
      ? "read access not granted (run with --allow-read)"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new RuntimeError(`Cannot read --${flag} "${path}": ${detail}`, { cause: error });
  }
}
