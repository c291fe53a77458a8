/**
 * The chat service's own flags of `socketkit serve`. They live here so the
 * chat service owns its settings; SERVE_SPEC spreads CHAT_FLAGS into its
 * table and parseServeConfig calls parseChatConfig.
 */
import { UsageError } from "../base/errors.ts";
import {
  type FlagSpec,
  parseDuration,
  parseInteger,
  parseNumber,
  parseSize,
} from "../base/flags.ts";

/** The chat room's limits after flag parsing. */
export interface ChatConfig {
  /** Recent messages a newcomer receives. */
  history: number;
  /** Longest line a member may send, in bytes (CR/LF not counted). */
  maxLine: number;
  /** Lines per second per member; 0 disables the limit. */
  rate: number;
  /** Lines a member may send at once before the rate applies. */
  burst: number;
  /** Members in the room at once. */
  maxMembers: number;
  /** Bytes queued for one member before it counts as stuck and is disconnected. */
  buffer: number;
  /** Milliseconds a new connection has to give an acceptable name; 0 disables. */
  nameTimeout: number;
  /** Milliseconds without a line from a joined member before it is closed; 0 disables. */
  idleTimeout: number;
}

/** The chat rows of SERVE_SPEC's flag table (besides --chat-port). */
export const CHAT_FLAGS: Record<string, FlagSpec> = {
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
    help: "Members in the chat room at once",
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
};

/** The smallest --chat-buffer: one longest line and its framing must always fit. */
export function minimumBuffer(maxLine: number): number {
  return 2 * maxLine + 1024;
}

/** Reads the chat flags; throws UsageError on bad values. */
export function parseChatConfig(values: Record<string, string | boolean | undefined>): ChatConfig {
  const get = (name: string) => {
    const value = values[name];
    return typeof value === "string" ? value : CHAT_FLAGS[name]!.default!;
  };
  const maxLine = parseSize("chat-max-line", get("chat-max-line"), 64);
  const buffer = parseSize("chat-buffer", get("chat-buffer"));
  if (buffer < minimumBuffer(maxLine)) {
    throw new UsageError(
      `Invalid value "${get("chat-buffer")}" for --chat-buffer: expected at least ${
        minimumBuffer(maxLine)
      } bytes (twice --chat-max-line plus 1KiB)`,
      "socketkit serve",
    );
  }
  return {
    history: parseInteger("chat-history", get("chat-history"), 0, 10_000),
    maxLine,
    rate: parseNumber("chat-rate", get("chat-rate")),
    burst: parseInteger("chat-burst", get("chat-burst"), 1, 1_000_000),
    maxMembers: parseInteger("chat-max-members", get("chat-max-members"), 1),
    buffer,
    nameTimeout: parseDuration("chat-name-timeout", get("chat-name-timeout")),
    idleTimeout: parseDuration("chat-idle-timeout", get("chat-idle-timeout")),
  };
}
