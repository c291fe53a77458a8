/** The web service's own flags of `socketkit serve`. */
import type { FlagSpec, ParsedFlags } from "../base/flags.ts";
import { type AccessRule, parseAccessList } from "../security/access.ts";

/** Where the web service listens unless told otherwise. */
export const WEB_PORT = 9080;

/** Who may read /metrics, /livez and /readyz without the token unless told otherwise. */
export const DEFAULT_METRICS_ALLOW = "127.0.0.0/8,::1";

/** The web service's settings after flag parsing. */
export interface WebConfig {
  port: number;
  /** --metrics-allow: peers that reach /metrics, /livez and /readyz without the token. */
  metricsAllow: AccessRule[];
  /** --drain: milliseconds between the shutdown request and the services closing. */
  drain: number;
}

/** The web rows of SERVE_SPEC's flag table. */
export const WEB_FLAGS: Record<string, FlagSpec> = {
  "web-port": {
    type: "string",
    value: "PORT",
    default: String(WEB_PORT),
    help: "Web service port: the page, /files, /status, /metrics, /livez, /readyz",
  },
  "metrics-allow": {
    type: "string",
    value: "LIST",
    default: DEFAULT_METRICS_ALLOW,
    help: "Addresses/CIDR ranges that read /metrics, /livez, /readyz without the token",
  },
  drain: {
    type: "string",
    value: "TIME",
    default: "0",
    help:
      "On shutdown, answer /readyz with 503 this long before closing, so balancers move away first (a second signal skips it)",
  },
};

/** Reads the web flags; throws UsageError on bad values. */
export function parseWebConfig(flags: ParsedFlags): WebConfig {
  return {
    port: flags.port("web-port"),
    metricsAllow: flags.check(() =>
      parseAccessList("metrics-allow", flags.string("metrics-allow"))
    ),
    drain: flags.duration("drain"),
  };
}
