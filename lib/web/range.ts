/**
 * HTTP byte ranges (RFC 9110 section 14): the one `Range: bytes=` range a
 * download honours, and whether an `If-Range` still matches. Several
 * ranges in one request are answered with the whole file, which the RFC
 * allows and curl and wget never ask for.
 */

/** A satisfiable range: bytes start to end, both included. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * What a Range header asks of a file of `size` bytes: null to send the
 * whole file (no header, a syntax it does not take, several ranges),
 * "unsatisfiable" for 416, or the range for 206.
 */
export function parseRange(
  header: string | null,
  size: number,
): ByteRange | "unsatisfiable" | null {
  if (header === null) return null;
  const match = header.trim().match(/^bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i);
  if (match === null) return null;
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return null;
  if (first === "") {
    // The last N bytes.
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (!Number.isSafeInteger(start)) return "unsatisfiable";
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== "" && Number(last) < start) return null; // invalid: ignored, as the RFC says
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

/**
 * Whether the range may be honoured given If-Range: no header, or an entity
 * tag equal (strongly) to `etag`, or an HTTP date equal to the file's
 * Last-Modified. Otherwise the whole file is sent.
 */
export function ifRangeHolds(
  header: string | null,
  etag: string | null,
  lastModified: string,
): boolean {
  if (header === null) return true;
  const value = header.trim();
  if (value.startsWith('"') || value.startsWith("W/")) {
    return etag !== null && !value.startsWith("W/") && value === etag;
  }
  return value === lastModified;
}

/** Whether an If-None-Match header names `etag` (or `*`): the client's copy is current. */
export function noneMatchHits(header: string | null, etag: string | null): boolean {
  if (header === null || etag === null) return false;
  const bare = etag.replace(/^W\//, "");
  return header.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed.replace(/^W\//, "") === bare;
  });
}
