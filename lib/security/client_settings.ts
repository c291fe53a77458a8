/**
 * The client's security settings: TLS (--tls, --ca, --insecure-skip-verify)
 * and the token (--token-file, SOCKETKIT_TOKEN, or a prompt on the terminal
 * when a server asks).
 *
 * Every `connect` mode has these flags in its table (CLIENT_SECURITY_FLAGS)
 * and turns them into one {@link ClientSecurity} value, which it hands to
 * dialTcp and UdpRequester: there is no process-wide state, and warnings go
 * through the one `warn` the mode was given.
 */
import { RuntimeError } from "../base/errors.ts";
import { readFlagFile } from "../base/flag_file.ts";
import type { FlagSpec, ParsedFlags } from "../base/flags.ts";
import { promptSecret } from "../base/secret.ts";
import { readToken, tokenProblem } from "./token.ts";

/** How a client speaks TLS. */
export interface ClientTls {
  /** PEM certificates trusted in addition to the system's (--ca). */
  caCerts: string[];
  /** --insecure-skip-verify: accept any certificate (warned about). */
  insecure: boolean;
}

/** The connect flags every mode accepts. */
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
 * every connection made with the same settings.
 */
export class ClientTokens {
  #file: string | null;
  #warn: (line: string) => void;
  #configured: string | null | undefined;
  #asked: string | null = null;
  #asking: Promise<string | null> | null = null;
  #source = "";

  /**
   * @param tokenFile --token-file, or null for SOCKETKIT_TOKEN
   * @param warn where a warning about the file goes (others can read it)
   */
  constructor(tokenFile: string | null, warn: (line: string) => void) {
    this.#file = tokenFile;
    this.#warn = warn;
  }

  /** The token from --token-file or SOCKETKIT_TOKEN, or null. Throws RuntimeError for a bad file. */
  configured(): string | null {
    if (this.#configured === undefined) {
      const found = readToken(this.#file ?? undefined, { checkLength: false });
      for (const warning of found?.warnings ?? []) this.#warn(warning);
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

  /** The token to send now: configured, or one typed earlier. */
  known(): string | null {
    return this.configured() ?? this.#asked;
  }

  /**
   * Asks on the terminal (without echo) for the token `where` wants; once,
   * concurrent callers share the answer. null when stdin is not a terminal.
   * Throws RuntimeError for an unusable answer or Ctrl-C.
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

/** TLS and token settings of a client, and where its warnings go. */
export class ClientSecurity {
  /** null: plain TCP. */
  readonly tls: ClientTls | null;
  readonly tokens: ClientTokens;
  /** When it aborts, every connection made with these settings is closed (Ctrl-C in the menu). */
  readonly signal: AbortSignal | null;
  #warn: (line: string) => void;
  #warned: Set<string>;

  constructor(options: {
    tls: ClientTls | null;
    tokenFile: string | null;
    warn: (line: string) => void;
  }, derived?: { from: ClientSecurity; signal: AbortSignal }) {
    this.tls = options.tls;
    this.#warn = options.warn;
    this.tokens = derived?.from.tokens ?? new ClientTokens(options.tokenFile, options.warn);
    this.#warned = derived ? derived.from.#warned : new Set();
    this.signal = derived?.signal ?? null;
  }

  /** The same settings (the same token, warnings said once) with connections that close on `signal`. */
  withSignal(signal: AbortSignal): ClientSecurity {
    return new ClientSecurity({ tls: this.tls, tokenFile: null, warn: this.#warn }, {
      from: this,
      signal,
    });
  }

  /** Plain TCP and SOCKETKIT_TOKEN (what a client without flags gets). */
  static plain(warn: (line: string) => void): ClientSecurity {
    return new ClientSecurity({ tls: null, tokenFile: null, warn });
  }

  /** Tells the user something they should know. */
  warn(line: string): void {
    this.#warn(line);
  }

  /** Like warn(), but a line said once is not said again by these settings. */
  warnOnce(line: string): void {
    if (this.#warned.has(line)) return;
    this.#warned.add(line);
    this.#warn(line);
  }
}

/**
 * The settings a mode's parsed flags ask for: --tls, --ca (read now),
 * --insecure-skip-verify (warned about), --token-file (read on first use).
 * Throws RuntimeError for an unreadable --ca.
 */
export function parseClientSecurity(
  flags: ParsedFlags,
  warn: (line: string) => void,
): ClientSecurity {
  const insecure = flags.boolean("insecure-skip-verify");
  const caFile = flags.optional("ca");
  if (insecure) {
    warn(
      "--insecure-skip-verify: the server's certificate is NOT checked; anyone on the path can impersonate the server and read the token",
    );
  }
  const caCerts = caFile === undefined ? [] : [readCa(caFile)];
  return new ClientSecurity({
    tls: flags.boolean("tls") || insecure || caFile !== undefined ? { caCerts, insecure } : null,
    tokenFile: flags.optional("token-file") ?? null,
    warn,
  });
}

/**
 * A mode's settings: those it was handed (the menu's, shared by its entries
 * so a token typed once serves them all), else its own flags'.
 */
export function securityFor(
  flags: ParsedFlags,
  context: { warn(line: string): void; security?: ClientSecurity },
): ClientSecurity {
  return context.security ?? parseClientSecurity(flags, (line) => context.warn(line));
}

function readCa(path: string): string {
  const text = readFlagFile("ca", path);
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new RuntimeError(`Cannot use --ca "${path}": no PEM certificate in it`);
  }
  return text;
}
