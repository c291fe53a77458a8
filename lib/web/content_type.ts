/**
 * The Content-Type a stored file is served with, by its extension. Types a
 * browser would run (HTML, SVG, XML, JavaScript) go out as plain text:
 * anyone may upload, and the page shares the origin.
 */

const TYPES: Record<string, string> = {
  txt: "text/plain; charset=utf-8",
  md: "text/plain; charset=utf-8",
  log: "text/plain; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  json: "application/json",
  pdf: "application/pdf",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  ico: "image/x-icon",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  wav: "audio/wav",
  flac: "audio/flac",
  mp4: "video/mp4",
  webm: "video/webm",
  zip: "application/zip",
  gz: "application/gzip",
  tar: "application/x-tar",
  // Shown as text, never run: the origin is the page's.
  html: "text/plain; charset=utf-8",
  htm: "text/plain; charset=utf-8",
  xhtml: "text/plain; charset=utf-8",
  svg: "text/plain; charset=utf-8",
  xml: "text/plain; charset=utf-8",
  js: "text/plain; charset=utf-8",
  mjs: "text/plain; charset=utf-8",
  css: "text/plain; charset=utf-8",
};

/** The Content-Type for a stored file named `name`. */
export function contentTypeFor(name: string): string {
  const dot = name.lastIndexOf(".");
  const slash = name.lastIndexOf("/");
  if (dot <= slash + 1) return "application/octet-stream";
  return TYPES[name.slice(dot + 1).toLowerCase()] ?? "application/octet-stream";
}

/**
 * The policy a stored file is served under: a sandbox (an opaque origin, no
 * script), whatever it holds.
 */
export const STORED_FILE_POLICY = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'";
