/**
 * The info service's short answers: what a request too short for its whole
 * reply gets instead, within 3x of it on the wire (net/amplification.ts),
 * ending with how to get the rest.
 */
import { encode } from "../base/text.ts";
import { firstThatFits } from "../net/amplification.ts";
import {
  formatDuration,
  INFO_COMMANDS,
  type InfoRequest,
  isoWithOffset,
  PAD_HINT,
  PADDED_REQUEST,
} from "./protocol.ts";

/** What a short answer tells, read when the request came. */
export interface ShortFacts {
  version: string;
  uptimeMs: number;
  now: Date;
  /** Chat members now. */
  users: number;
}

/**
 * The reply to send within `budget` bytes (net/amplification.ts): `whole`
 * (the full reply, as {@link replyBytes} made it) when it fits, else the
 * longest short answer that does, which says how to get the whole one. The
 * last form of each fits the smallest budget (56 bytes, an empty datagram);
 * null only if even that does not.
 */
export function replyWithin(
  request: InfoRequest,
  whole: Uint8Array,
  budget: number,
  facts: () => ShortFacts,
): Uint8Array | null {
  if (whole.length <= budget) return whole;
  return firstThatFits(shortForms(request, facts()).map(encode), budget);
}

/** The short answers to a request, longest first. */
function shortForms(request: InfoRequest, facts: ShortFacts): string[] {
  const { json } = request;
  const list = INFO_COMMANDS.join(", ");
  const pad = { pad: PADDED_REQUEST };
  const object = (value: Record<string, unknown>) => JSON.stringify(value);
  if (request.kind === "unknown") {
    return json
      ? [object({ error: "unknown command: try HELP" })]
      : [`ERROR unknown command: try ${list}`, "ERROR unknown command: try HELP"];
  }
  const lines = (...parts: string[]) => [parts.join("\n"), ...parts.slice(0, -1)];
  switch (request.command) {
    case "STATUS": {
      const { version } = facts;
      const uptimeSeconds = Math.floor(facts.uptimeMs / 1000);
      return json
        ? [
          object({ command: "STATUS", version, uptimeSeconds, ...pad }),
          object({ command: "STATUS", ...pad }),
        ]
        : [
          `version: ${version}\nuptime: ${formatDuration(facts.uptimeMs)}\n${PAD_HINT}`,
          `version: ${version}\n${PAD_HINT}`,
          PAD_HINT,
        ];
    }
    case "TIME": {
      const time = isoWithOffset(facts.now);
      const unixMs = facts.now.getTime();
      return json
        ? [
          object({ command: "TIME", time, unixMs, ...pad }),
          object({ command: "TIME", time, unixMs }),
          object({ command: "TIME", unixMs }),
        ]
        : [`time: ${time}`, `unix_ms: ${unixMs}`];
    }
    case "USERS": {
      const count = facts.users;
      return json
        ? [
          object({ command: "USERS", count, users: [], more: count, ...pad }),
          object({ command: "USERS", count, users: [], more: count }),
        ]
        : lines(`users: ${count}`, PAD_HINT);
    }
    case "HELP":
      return json
        ? [
          object({ command: "HELP", names: INFO_COMMANDS, ...pad }),
          object({ command: "HELP", ...pad }),
        ]
        : lines(`commands: ${list}`, PAD_HINT);
  }
}
