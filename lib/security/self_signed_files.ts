/**
 * What both halves of `serve --tls-self-signed` share (self_signed.ts reuses,
 * self_signed_make.ts makes): the files in --tls-dir, the outcome, the
 * renewal margin, a certificate's digest, and the error for a file.
 */
import { RuntimeError } from "../base/errors.ts";
import { fsReason } from "../base/fs_error.ts";

/** The files in --tls-dir. ca-key.pem stays so a new name gets a new leaf, not a new CA. */
export const TLS_FILES = {
  ca: "ca.pem",
  caKey: "ca-key.pem",
  cert: "cert.pem",
  key: "key.pem",
  record: "cert.json",
} as const;

/** What ensureSelfSigned (self_signed.ts) made or found. */
export interface SelfSigned {
  /** The server's certificate and key files, for the TLS listener. */
  certFile: string;
  keyFile: string;
  /** The CA certificate clients give to `--ca`. */
  caFile: string;
  /** SHA-256 of the CA certificate, colon-separated hex. */
  fingerprint: string;
  /** The names the server certificate is valid for. */
  names: string[];
  /** What was done: "created" (CA and certificate), "renewed" (a new certificate), "reused". */
  action: "created" | "renewed" | "reused";
}

/** A certificate this close to its end is renewed at start-up. */
export const RENEW_BEFORE_MS = 30 * 86_400_000;

/** SHA-256 (lowercase hex) of the first certificate in a PEM text. Throws when there is none. */
export async function pemSha256(pem: string): Promise<string> {
  const body = pem.match(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/)?.[1];
  if (body === undefined) throw new Error("no PEM certificate");
  const der = Uint8Array.from(atob(body.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** `--tls-self-signed: cannot WHAT: why`, for a file or folder it cannot use. */
export function fileError(what: string, error: unknown): RuntimeError {
  const reason = fsReason(error) ?? (error instanceof Error ? error.message : String(error));
  return new RuntimeError(`--tls-self-signed: cannot ${what}: ${reason}`, { cause: error });
}
