/** What the info service counts, as STATUS shows it. */
import { counted } from "../base/text.ts";
import type { StatusSection } from "../base/status.ts";

/** The `info` part of STATUS. */
export function infoStatus(dropped = 0): StatusSection {
  return {
    key: "info",
    text: `dropped: ${counted(dropped, "info request")} over the rate limit`,
    json: { dropped },
  };
}
