/**
 * The message services' own flags of `socketkit serve`: the TCP and UDP
 * ports, who may stop the server, and how messages are framed; and message
 * mode's rows of `connect`'s table, here rather than in mode.ts so that
 * `connect --help` and the other modes do not load the message client.
 */
import type { FlagSpec, ParsedFlags } from "../base/flags.ts";
import { HOST_FLAG, portFlag } from "../net/server_address.ts";
import { EXIT_POLICIES, type ExitPolicy } from "./exit.ts";

/** Where the TCP message service listens unless told otherwise. */
export const TCP_PORT = 65432;
/** Where the UDP message service listens unless told otherwise. */
export const UDP_PORT = 65433;

/** Message mode's rows of `connect`'s flag table (besides --random, --tcp, --udp). */
export const MESSAGE_MODE_FLAGS: Record<string, FlagSpec> = {
  host: HOST_FLAG,
  "tcp-port": portFlag("tcp-port", TCP_PORT, "TCP message service port"),
  "udp-port": portFlag("udp-port", UDP_PORT, "UDP message service port"),
  timeout: {
    type: "string",
    value: "TIME",
    default: "2s",
    help: "How long to wait for each UDP reply; TCP waits for all the tries' time",
  },
  retries: { type: "string", value: "N", default: "2", help: "UDP resends when no reply comes" },
};

/**
 * How a TCP message connection is cut into messages (--framing): `line`,
 * newline-terminated lines; `raw`, each read is a message, as the original
 * server had it; `auto`, decided per connection by its first read.
 */
export const FRAMINGS = ["auto", "line", "raw"] as const;
export type Framing = typeof FRAMINGS[number];

/** The message services' settings after flag parsing. */
export interface MessageConfig {
  tcpPort: number;
  udpPort: number;
  exitFrom: ExitPolicy;
  /** Longest message (TCP line or UDP datagram) in bytes. */
  maxMessage: number;
  /** How TCP connections are cut into messages. */
  framing: Framing;
  /** Milliseconds of pause after which bytes without a newline count as a message (line framing). */
  flushDelay: number;
  /** UDP replies per second to one source address (bursts of twice that); 0: no limit. */
  udpRate: number;
  /**
   * Milliseconds the server goes on after a client's `exit`; default
   * EXIT_GRACE_MS (1 s). No flag sets it: tests shorten it.
   */
  exitGraceMs?: number;
}

/** The message rows of SERVE_SPEC's flag table. */
export const MESSAGE_FLAGS: Record<string, FlagSpec> = {
  "tcp-port": {
    type: "string",
    value: "PORT",
    default: String(TCP_PORT),
    help: "TCP message service port (0: any free port)",
  },
  "udp-port": {
    type: "string",
    value: "PORT",
    default: String(UDP_PORT),
    help: "UDP message service port",
  },
  "exit-from": {
    type: "string",
    value: "WHO",
    default: "local",
    help: "Who may stop the server with 'exit': local, any or none",
  },
  "max-message": {
    type: "string",
    value: "SIZE",
    default: "64KiB",
    help: "Longest message (TCP line or UDP datagram)",
  },
  framing: {
    type: "string",
    value: "MODE",
    default: "auto",
    help: "TCP messages: line (LF-ended lines), raw (each read), auto (by the first read)",
  },
  "flush-delay": {
    type: "string",
    value: "TIME",
    default: "500ms",
    help: "Line framing: pause after which bytes without a newline count as a message",
  },
  "udp-rate": {
    type: "string",
    value: "N",
    default: "20",
    help: "UDP message replies per second per source address, bursts of twice that (0: no limit)",
  },
};

/** Reads the message flags; throws UsageError on bad values. */
export function parseMessageConfig(flags: ParsedFlags): MessageConfig {
  return {
    tcpPort: flags.port("tcp-port"),
    udpPort: flags.port("udp-port"),
    exitFrom: flags.choice("exit-from", EXIT_POLICIES),
    maxMessage: flags.size("max-message"),
    framing: flags.choice("framing", FRAMINGS),
    flushDelay: Math.max(1, flags.duration("flush-delay")),
    udpRate: flags.number("udp-rate"),
  };
}
