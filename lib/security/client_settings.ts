/**
 * The client's security settings: TLS (--tls, --ca, --insecure-skip-verify)
 * and the token (--token-file, SOCKETKIT_TOKEN, or a prompt on the terminal
 * when a server asks).
 *
 * They apply to every `connect` mode, so `connect` takes the flags off the
 * command line before handing it to the mode (takeSecurityFlags) and sets the
 * process-wide settings that dialTcp and UdpRequester use by default. A mode
 * gets TLS and authentication without a line of its own.
 */
import { RuntimeError, UsageError } from "../base/errors.ts";
import type { FlagSpec } from "../base/flags.ts";
import { promptSecret } from "../base/secret.ts";
import { readToken, tokenProblem } from "./token.ts";

/** How a client speaks TLS. */
export interface ClientTls {
  /** PEM certificates trusted in addition to the system's (--ca). */
  caCerts: string[];
  /** --insecure-skip-verify: accept any certificate (warned about). */
  insecure: boolean;
}

/** The connect flags every mode accepts (help rows; `connect` parses them). */
export const CLIENT_SECURITY_FLAGS: Record<string, FlagSpec> = {
  tls: { type: "boolean", help: "Connect with TLS, verifying the server's certificate" },
  ca: {
    type: "string",
    value: "FILE",
    help: "Trust this CA certificate (PEM) for --tls, e.g. a private CA (implies --tls)",
  },
  "insecure-skip-verify": {
    type: "boolean",
    help: "With TLS, accept any certificate: encrypted but NOT authenticated (implies --tls)",
  },
  "token-file": {
    type: "string",
    value: "PATH",
    help: "Send the token in this file's first line (default: $SOCKETKIT_TOKEN; else asked)",
  },
};

/**
 * The token a client sends: read once from --token-file or SOCKETKIT_TOKEN,
 * or asked for once on the terminal when a server wants one, then reused for
 * every connection of the process.
 */
export class ClientTokens {
  #file: string | null;
  #configured: string | null | undefined;
  #asked: string | null = null;
  #asking: Promise<string | null> | null = null;
  #source = "";

  /** @param tokenFile --token-file, or null for SOCKETKIT_TOKEN */
  constructor(tokenFile: string | null) {
    this.#file = tokenFile;
  }

  /** The token from --token-file or SOCKETKIT_TOKEN, or null. Throws RuntimeError for a bad file. */
  configured(): string | null {
    if (this.#configured === undefined) {
      const found = readToken(this.#file ?? undefined);
      for (const warning of found?.warnings ?? []) {
        if (!warning.includes("is short")) console.error(`warning: ${warning}`);
      }
      this.#configured = found?.secret ?? null;
      this.#source = found?.source ?? "";
    }
    return this.#configured;
  }

  /** Where the configured token came from ("SOCKETKIT_TOKEN", "--token-file ..."). */
  get source(): string {
    this.configured();
    return this.#source;
  }

  /** The token to send now: configured, or one typed earlier in this process. */
  known(): string | null {
    return this.configured() ?? this.#asked;
  }

  /**
   * Asks on the terminal (without echo) for the token `where` wants; once
   * per process, concurrent callers share the answer. null when stdin is not
   * a terminal. Throws RuntimeError for an unusable answer or Ctrl-C.
   */
  ask(where: string): Promise<string | null> {
    if (this.#asked !== null) return Promise.resolve(this.#asked);
    this.#asking ??= (async () => {
      const typed = await promptSecret(`Token for ${where} (not shown): `);
      if (typed === null) return null;
      const problem = tokenProblem(typed);
      if (problem !== null) throw new RuntimeError(`Cannot use that token: ${problem}`);
      this.#asked = typed;
      return typed;
    })();
    return this.#asking;
  }
}

/** TLS and token settings of a client. */
export interface ClientSecurity {
  /** null: plain TCP. */
  tls: ClientTls | null;
  tokens: ClientTokens;
}

let current: ClientSecurity = { tls: null, tokens: new ClientTokens(null) };

/** The process's client settings (plain TCP and SOCKETKIT_TOKEN until connect sets them). */
export function clientSecurity(): ClientSecurity {
  return current;
}

/** Sets the process's client settings; `connect` calls it once with the parsed flags. */
export function setClientSecurity(security: ClientSecurity): void {
  current = security;
}

/** What takeSecurityFlags found. */
export interface TakenFlags {
  security: ClientSecurity;
  /** The arguments without the security flags, for the mode's own parser. */
  rest: string[];
  /** Lines to print as warnings (--insecure-skip-verify). */
  warnings: string[];
}

/**
 * Takes --tls, --ca, --insecure-skip-verify and --token-file (in `--flag
 * value` or `--flag=value` form) out of `args`, anywhere before `--`. Reads
 * the --ca file. Throws UsageError for a missing value, RuntimeError for an
 * unreadable file.
 */
export function takeSecurityFlags(args: string[]): TakenFlags {
  const rest: string[] = [];
  let tls = false;
  let insecure = false;
  let caFile: string | null = null;
  let tokenFile: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      rest.push(...args.slice(i));
      break;
    }
    const [name, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = args[i + 1];
      if (next === undefined || next.startsWith("-")) {
        throw new UsageError(`Flag "${name}" needs a value`, "socketkit connect");
      }
      i++;
      return next;
    };
    switch (name) {
      case "--tls":
        tls = true;
        break;
      case "--insecure-skip-verify":
        insecure = true;
        break;
      case "--ca":
        caFile = value();
        break;
      case "--token-file":
        tokenFile = value();
        break;
      default:
        rest.push(arg);
    }
  }
  const warnings: string[] = [];
  if (insecure) {
    warnings.push(
      "--insecure-skip-verify: the server's certificate is NOT checked; anyone on the path can impersonate the server and read the token",
    );
  }
  const caCerts = caFile === null ? [] : [readCa(caFile)];
  return {
    security: {
      tls: tls || insecure || caFile !== null ? { caCerts, insecure } : null,
      tokens: new ClientTokens(tokenFile),
    },
    rest,
    warnings,
  };
}

function readCa(path: string): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new RuntimeError(`Cannot read --ca "${path}": ${detail}`, { cause: error });
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new RuntimeError(`Cannot use --ca "${path}": no PEM certificate in it`);
  }
  return text;
}
