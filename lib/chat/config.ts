/**
 * The chat service's own flags of `socketkit serve`. They live here so the
 * chat service owns its settings; SERVE_SPEC spreads CHAT_FLAGS into its
 * table and parseServeConfig calls parseChatConfig.
 */
import { UsageError } from "../base/errors.ts";
import type { FlagSpec, ParsedFlags } from "../base/flags.ts";
import { CLUSTER_FLAGS, type ClusterConfig, parseClusterConfig } from "./cluster_config.ts";

/** Where the chat service listens unless told otherwise. */
export const CHAT_PORT = 9001;

/** The chat service's settings after flag parsing. */
export interface ChatConfig {
  /** --chat-port. */
  port: number;
  /** Recent messages a newcomer receives. */
  history: number;
  /** Longest line a member may send, in bytes (CR/LF not counted). */
  maxLine: number;
  /** Lines per second per member; 0 disables the limit. */
  rate: number;
  /** Lines a member may send at once before the rate applies. */
  burst: number;
  /** Members on the server at once, in all rooms. */
  maxMembers: number;
  /** Rooms at once, #lobby included. */
  maxRooms: number;
  /** Bytes queued for one member before it counts as stuck and is disconnected. */
  buffer: number;
  /** Milliseconds a new connection has to give an acceptable name; 0 disables. */
  nameTimeout: number;
  /** Milliseconds without a line from a joined member before it is closed; 0 disables. */
  idleTimeout: number;
  /** --redis and its friends: the cluster to join, or null to run alone. */
  cluster: ClusterConfig | null;
}

/** The chat rows of SERVE_SPEC's flag table. */
export const CHAT_FLAGS: Record<string, FlagSpec> = {
  "chat-port": {
    type: "string",
    value: "PORT",
    default: String(CHAT_PORT),
    help: "Chat service port",
  },
  "chat-history": {
    type: "string",
    value: "N",
    default: "50",
    help: "Recent chat messages a newcomer receives",
  },
  "chat-max-line": {
    type: "string",
    value: "SIZE",
    default: "4096",
    help: "Longest chat line; a longer one is refused, not broadcast",
  },
  "chat-rate": {
    type: "string",
    value: "N",
    default: "5",
    help: "Chat lines per second per member (0: no limit)",
  },
  "chat-burst": {
    type: "string",
    value: "N",
    default: "20",
    help: "Chat lines a member may send at once before --chat-rate applies",
  },
  "chat-max-members": {
    type: "string",
    value: "N",
    default: "256",
    help: "Chat members at once, in all rooms",
  },
  "chat-max-rooms": {
    type: "string",
    value: "N",
    default: "64",
    help: "Chat rooms at once, #lobby included (/join creates one)",
  },
  "chat-buffer": {
    type: "string",
    value: "SIZE",
    default: "256KiB",
    help: "Bytes queued for one chat member before it is dropped as stuck",
  },
  "chat-name-timeout": {
    type: "string",
    value: "TIME",
    default: "60s",
    help: "Time a chat connection has to choose a name (0: no limit)",
  },
  "chat-idle-timeout": {
    type: "string",
    value: "TIME",
    default: "0",
    help: "Close a chat member silent this long (0: never; lurking is normal)",
  },
  ...CLUSTER_FLAGS,
};

/** The smallest --chat-buffer: one longest line and its framing must always fit. */
export function minimumBuffer(maxLine: number): number {
  return 2 * maxLine + 1024;
}

/** Reads the chat flags; throws UsageError on bad values. */
export function parseChatConfig(flags: ParsedFlags): ChatConfig {
  const maxLine = flags.size("chat-max-line", 64);
  const buffer = flags.size("chat-buffer");
  if (buffer < minimumBuffer(maxLine)) {
    throw new UsageError(
      `Invalid value "${flags.string("chat-buffer")}" for --chat-buffer: expected at least ${
        minimumBuffer(maxLine)
      } bytes (twice --chat-max-line plus 1KiB)`,
      flags.command,
    );
  }
  return {
    port: flags.port("chat-port"),
    history: flags.integer("chat-history", 0, 10_000),
    maxLine,
    rate: flags.number("chat-rate"),
    burst: flags.integer("chat-burst", 1, 1_000_000),
    maxMembers: flags.integer("chat-max-members", 1),
    maxRooms: flags.integer("chat-max-rooms", 1, 100_000),
    buffer,
    nameTimeout: flags.duration("chat-name-timeout"),
    idleTimeout: flags.duration("chat-idle-timeout"),
    cluster: parseClusterConfig(flags),
  };
}
