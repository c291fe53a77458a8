/** What the file service counts, as STATUS shows it. */
import { countersStatus, type StatusSection } from "../base/status.ts";

/** Files and bytes; the service and its connections keep them up to date. */
export interface FileCounters {
  /** Files in the store (recounted on LIST). */
  stored: number;
  bytesUploaded: number;
  bytesDownloaded: number;
}

/** The `files` part of STATUS (zeros when the service is not running). */
export const filesStatus: (counters?: FileCounters) => StatusSection = countersStatus(
  "files",
  { stored: 0, bytesUploaded: 0, bytesDownloaded: 0 },
  (counters) =>
    `files: ${counters.stored} stored, ${counters.bytesUploaded} bytes uploaded, ${counters.bytesDownloaded} bytes downloaded`,
);
