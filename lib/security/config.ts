/**
 * The security flags of `socketkit serve`. SERVE_SPEC spreads SECURITY_FLAGS
 * into its table and parseServeConfig calls parseSecurityConfig; the files
 * they name are read later, by createGate, so parsing stays pure.
 */
import { UsageError } from "../base/errors.ts";
import type { FlagSpec, ParsedFlags } from "../base/flags.ts";
import { type AccessRule, parseAccessList } from "./access.ts";
import type { PerAddressLimit } from "../net/per_address.ts";

/** The server's security settings after flag parsing. */
export interface SecurityConfig {
  /** --allow: when not empty, only these peers are admitted. */
  allow: AccessRule[];
  /** --allow @FILE: the rules are in this file (re-read on SIGHUP); null: given inline. */
  allowFile: string | null;
  /** --deny: these peers are refused; wins over --allow. */
  deny: AccessRule[];
  /** --deny @FILE, as allowFile. */
  denyFile: string | null;
  /** --token-file; null: SOCKETKIT_TOKEN if set, else no token. */
  tokenFile: string | null;
  /**
   * --tls-cert and --tls-key (PEM files); null: plain TCP. With
   * --tls-self-signed, set at start-up to the files made in its folder.
   */
  tls: { certFile: string; keyFile: string } | null;
  /** --tls-self-signed: the folder (--tls-dir) and extra names (--tls-name); null: not asked. */
  selfSigned: { dir: string; names: string[] } | null;
  /** Milliseconds a new TCP connection has for the TLS handshake and the AUTH line. */
  authTimeout: number;
  /**
   * Connections one address may hold open per TCP service (and chat members);
   * 0: no limit; "auto": a quarter of each service's places (net/per_address.ts).
   */
  maxConnsPerIp: PerAddressLimit;
  /**
   * Failed TCP authentications an address may make in a burst before its new
   * connections are refused (it regains one every 6 s); 0: no limit.
   */
  maxAuthFailures: number;
  /**
   * --proxy-protocol: load balancers whose connections start with a PROXY
   * protocol header naming the client; empty: none (no header is read).
   */
  proxyFrom: AccessRule[];
}

/** Where --tls-self-signed keeps its CA and certificate, unless --tls-dir says otherwise. */
export const DEFAULT_TLS_DIR = "./socketkit-tls";

/** The security rows of SERVE_SPEC's flag table. */
export const SECURITY_FLAGS: Record<string, FlagSpec> = {
  allow: {
    type: "string",
    value: "LIST",
    help:
      "Only these addresses/CIDR ranges may connect, comma-separated, or @FILE of them (default: all)",
  },
  deny: {
    type: "string",
    value: "LIST",
    help: "These addresses/CIDR ranges (or @FILE) may not connect; wins over --allow",
  },
  "token-file": {
    type: "string",
    value: "PATH",
    help: "Require the token in this file's first line (default: $SOCKETKIT_TOKEN if set)",
  },
  "tls-cert": {
    type: "string",
    value: "FILE",
    help: "TLS certificate chain (PEM); with --tls-key, every TCP service speaks TLS",
  },
  "tls-key": { type: "string", value: "FILE", help: "TLS private key (PEM) for --tls-cert" },
  "tls-self-signed": {
    type: "boolean",
    help: "TLS with a private CA and certificate made once in --tls-dir, then reused",
  },
  "tls-dir": {
    type: "string",
    value: "DIR",
    default: DEFAULT_TLS_DIR,
    help:
      "Folder of --tls-self-signed's files: ca.pem (for clients' --ca), its key, the certificate",
  },
  "tls-name": {
    type: "string",
    value: "LIST",
    help: "More names or addresses clients dial, for --tls-self-signed, comma-separated",
  },
  "auth-timeout": {
    type: "string",
    value: "TIME",
    default: "10s",
    help: "Time a new connection has for the TLS handshake and the AUTH line",
  },
  "max-conns-per-ip": {
    type: "string",
    value: "N",
    default: "auto",
    help:
      "Connections (and chat members) one address may hold per TCP service; auto: a quarter of --max-conns (of --chat-max-members), at least 4, so a NAT of many users fits but one address cannot fill a service; 0: no limit",
  },
  "proxy-protocol": {
    type: "string",
    value: "LIST",
    help:
      "Load balancers (addresses/CIDR ranges) that send a PROXY protocol header naming the client",
  },
  "max-auth-failures": {
    type: "string",
    value: "N",
    default: "10",
    help: "Failed authentications from one address before it is refused a while (0: no limit)",
  },
};

/** Reads the security flags; throws UsageError on bad values. */
export function parseSecurityConfig(flags: ParsedFlags): SecurityConfig {
  const certFile = flags.optional("tls-cert");
  const keyFile = flags.optional("tls-key");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError(
      certFile === undefined ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key",
      flags.command,
    );
  }
  const authTimeout = flags.duration("auth-timeout");
  if (authTimeout < 1) {
    throw new UsageError(
      `Invalid value "${
        flags.string("auth-timeout")
      }" for --auth-timeout: expected a duration above 0`,
      flags.command,
    );
  }
  const list = (flag: "allow" | "deny") => {
    const value = flags.optional(flag) ?? "";
    if (value.startsWith("@")) {
      const file = value.slice(1);
      if (file === "") {
        throw new UsageError(`Invalid value "@" for --${flag}: expected @FILE`, flags.command);
      }
      return { rules: [], file };
    }
    return { rules: flags.check(() => parseAccessList(flag, value)), file: null };
  };
  const allow = list("allow");
  const deny = list("deny");
  const proxyFrom = flags.check(() =>
    parseAccessList("proxy-protocol", flags.optional("proxy-protocol") ?? "")
  );
  const selfSigned = flags.boolean("tls-self-signed");
  if (selfSigned && certFile !== undefined) {
    throw new UsageError(
      "--tls-self-signed makes its own certificate: give it or --tls-cert/--tls-key, not both",
      flags.command,
    );
  }
  const extraNames = (flags.optional("tls-name") ?? "").split(",").map((name) => name.trim())
    .filter((name) => name !== "");
  if (!selfSigned && (extraNames.length > 0 || flags.string("tls-dir") !== DEFAULT_TLS_DIR)) {
    throw new UsageError(
      `--${extraNames.length > 0 ? "tls-name" : "tls-dir"} goes with --tls-self-signed`,
      flags.command,
    );
  }
  for (const name of extraNames) {
    if (!/^[A-Za-z0-9.:*-]{1,253}$/.test(name)) {
      throw new UsageError(
        `Invalid value "${name}" for --tls-name: expected a host name or an IP address`,
        flags.command,
      );
    }
  }
  if (proxyFrom.length > 0 && (certFile !== undefined || selfSigned)) {
    // Deno's TLS listener starts the handshake itself: no header can come first.
    throw new UsageError(
      "--proxy-protocol cannot be used with --tls-cert: terminate TLS at the load balancer",
      flags.command,
    );
  }
  return {
    allow: allow.rules,
    allowFile: allow.file,
    deny: deny.rules,
    denyFile: deny.file,
    tokenFile: flags.optional("token-file") ?? null,
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : null,
    selfSigned: selfSigned ? { dir: flags.string("tls-dir"), names: extraNames } : null,
    authTimeout,
    maxConnsPerIp: flags.string("max-conns-per-ip").toLowerCase() === "auto"
      ? "auto"
      : flags.integer("max-conns-per-ip"),
    maxAuthFailures: flags.integer("max-auth-failures"),
    proxyFrom,
  };
}
