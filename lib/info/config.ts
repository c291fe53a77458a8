/** The info service's own flags of `socketkit serve`. */
import type { FlagSpec, ParsedFlags } from "../base/flags.ts";

/** Where the info service listens unless told otherwise. */
export const INFO_PORT = 9002;

/** The info service's settings after flag parsing. */
export interface InfoConfig {
  port: number;
  /** Replies per second to one source address (bursts of twice that); 0: no limit. */
  rate: number;
}

/** The info rows of SERVE_SPEC's flag table. */
export const INFO_FLAGS: Record<string, FlagSpec> = {
  "info-port": {
    type: "string",
    value: "PORT",
    default: String(INFO_PORT),
    help: "UDP info service port",
  },
  "info-rate": {
    type: "string",
    value: "N",
    default: "20",
    help: "Info replies per second per source address, bursts of twice that (0: no limit)",
  },
};

/** Reads the info flags; throws UsageError on bad values. */
export function parseInfoConfig(flags: ParsedFlags): InfoConfig {
  return { port: flags.port("info-port"), rate: flags.number("info-rate") };
}
