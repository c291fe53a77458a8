/**
 * The two kinds of failure a user can cause. Modules throw these; only main.ts
 * turns them into a message and an exit code.
 */

/** The command line is wrong (unknown flag, bad value). Exit code 2. */
export class UsageError extends Error {
  /**
   * The command whose help explains the fix, e.g. "socketkit serve"; unset
   * until the flag reader that caught it names its command (see ParsedFlags).
   */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** Something outside the command line failed (cannot connect, port in use). Exit code 1. */
export class RuntimeError extends Error {
  /** The exit code main.ts ends with: 1, or 130 for a transfer stopped by Ctrl-C. */
  readonly exitCode: number;

  constructor(message: string, options?: ErrorOptions & { exitCode?: number }) {
    super(message, options);
    this.name = "RuntimeError";
    this.exitCode = options?.exitCode ?? EXIT_FAILURE;
  }
}

/**
 * Nothing answered at the address dialled: a connection refused, or no reply
 * to a datagram. A RuntimeError like any other, marked so that the menu can
 * ask for another port.
 */
export class NoAnswerError extends RuntimeError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NoAnswerError";
  }
}

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
