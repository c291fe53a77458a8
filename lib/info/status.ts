/** What the info service counts, as STATUS shows it. */
import type { StatusSection } from "../base/status.ts";

/** The `info` part of STATUS. */
export function infoStatus(dropped = 0): StatusSection {
  return {
    key: "info",
    text: `dropped: ${dropped} info requests over the rate limit`,
    json: { dropped },
  };
}
