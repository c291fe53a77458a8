/** What the file service counts, as STATUS shows it. */
import type { StatusSection } from "../base/status.ts";

/** Files and bytes; the service and its connections keep them up to date. */
export interface FileCounters {
  /** Files in the store (recounted on LIST). */
  stored: number;
  bytesUploaded: number;
  bytesDownloaded: number;
}

/** The `files` part of STATUS (zeros when the service is not running). */
export function filesStatus(
  counters: FileCounters = { stored: 0, bytesUploaded: 0, bytesDownloaded: 0 },
): StatusSection {
  return {
    key: "files",
    text:
      `files: ${counters.stored} stored, ${counters.bytesUploaded} bytes uploaded, ${counters.bytesDownloaded} bytes downloaded`,
    json: { ...counters },
  };
}
