/**
 * What the file server refuses, and how: every refusal or failure a client
 * is told about travels as a FileRefusal until it is written as
 * `ERR <code> <message>` (protocol.ts has the codes). The helpers below
 * word the refusals that several server modules make.
 */
import { quoteName } from "../names.ts";
import { type ErrorCode, MAX_LINE } from "../protocol.ts";
import { LineTimeout, LineTooLong } from "../../net/wire_reader.ts";

/**
 * A refusal or failure the file server reports to the client as
 * `ERR <code> <message>`: the store's own (not-found, exists, no-space, ...)
 * and the service's (busy slots, forbidden, timeouts).
 */
export class FileRefusal extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FileRefusal";
    this.code = code;
  }
}

/** A refused name as the server reports it (for names.ts checkName). */
export function badName(message: string): FileRefusal {
  return new FileRefusal("bad-name", message);
}

/** No stored file under `name`. */
export function notFound(name: string): FileRefusal {
  return new FileRefusal("not-found", `File ${quoteName(name)} not found`);
}

/** `name` is taken and may not be replaced. */
export function alreadyExists(name: string): FileRefusal {
  return new FileRefusal("exists", `${quoteName(name)} already exists on the server`);
}

/** A write error as the client should see it: a full disk named as such. */
export function diskError(name: string, error: unknown): FileRefusal {
  if (error instanceof FileRefusal) return error;
  const detail = error instanceof Error ? error.message : String(error);
  if (isNoSpace(error)) {
    return new FileRefusal(
      "no-space",
      `The server's disk is full; ${quoteName(name)} was not stored`,
      { cause: error },
    );
  }
  return new FileRefusal("io", `Cannot write ${quoteName(name)} on the server: ${detail}`, {
    cause: error,
  });
}

/** ENOSPC or EDQUOT. */
export function isNoSpace(error: unknown): boolean {
  const detail = error instanceof Error ? error.message : String(error);
  return /os error (28|122)\b|no space|quota/i.test(detail);
}

/** A line that broke the rules (too long, too slow) as the ERR to send, or null. */
export function lineRefusal(error: unknown, what: string): FileRefusal | null {
  if (error instanceof LineTooLong) {
    return new FileRefusal("bad-request", `${what} is over ${MAX_LINE} bytes without a newline`);
  }
  if (error instanceof LineTimeout) {
    return new FileRefusal(
      "timeout",
      `${what} was not completed within ${error.ms / 1000} s of its first byte (--request-timeout)`,
    );
  }
  return null;
}
