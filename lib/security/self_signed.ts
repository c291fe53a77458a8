/**
 * `serve --tls-self-signed`: a small private CA and a server certificate it
 * signed, made once in --tls-dir and reused after, so a LAN needs no openssl.
 * Clients trust ca.pem with `--ca`. A restart with nothing to change reads
 * cert.json (the names and end of the certificate, and its digest, checked
 * against cert.pem) and loads no X.509 code; making or renewing is
 * self_signed_make.ts, loaded only then.
 */
import { importLazily } from "../base/lazy_import.ts";
import { join } from "node:path";
import { pemSha256, RENEW_BEFORE_MS, type SelfSigned, TLS_FILES } from "./self_signed_files.ts";
import type { SecurityConfig } from "./config.ts";
import { machineNames } from "./tls_names.ts";

/**
 * --tls-self-signed at start-up: makes or reuses the files, points
 * `security.tls` at them, and returns the start-up lines that tell a user
 * what happened and what a client gives to --ca.
 */
export async function applySelfSigned(security: SecurityConfig, host: string): Promise<string[]> {
  if (security.selfSigned === null) return [];
  const { dir, names } = security.selfSigned;
  const made = await ensureSelfSigned(dir, machineNames(host, names));
  security.tls = { certFile: made.certFile, keyFile: made.keyFile };
  const what = made.action === "reused"
    ? "reused from"
    : made.action === "created"
    ? "created in"
    : "renewed in";
  const wildcard = host === "0.0.0.0" || host === "::"
    ? ["[Server] A client dialling another name or address of this machine needs --tls-name it"]
    : [];
  return [
    `[Server] TLS certificate ${what} ${dir} for ${made.names.join(", ")}`,
    ...wildcard,
    `[Server] Clients: add --ca ${made.caFile} (a copy of it on their machine)`,
    `[Server] CA SHA-256 fingerprint: ${made.fingerprint}`,
  ];
}

/**
 * The CA and server certificate in `dir` for `names`: reused when they are
 * there, cover every name and are not near their end; otherwise made or
 * renewed (see self_signed_make.ts). Throws RuntimeError naming the file.
 */
export async function ensureSelfSigned(dir: string, names: string[]): Promise<SelfSigned> {
  const reused = await reusable(dir, names);
  if (reused !== null) return reused;
  const { makeSelfSigned } = await importLazily<typeof import("./self_signed_make.ts")>(
    new URL("./self_signed_make.ts", import.meta.url),
  );
  return await makeSelfSigned(dir, names);
}

/** The files as they are, when nothing needs doing; null otherwise (or when unsure). */
async function reusable(dir: string, names: string[]): Promise<SelfSigned | null> {
  const path = (file: string) => join(dir, file);
  let ca: string, cert: string, record: { names?: unknown; notAfter?: unknown; sha256?: unknown };
  try {
    [ca, cert] = await Promise.all([
      Deno.readTextFile(path(TLS_FILES.ca)),
      Deno.readTextFile(path(TLS_FILES.cert)),
    ]);
    record = JSON.parse(await Deno.readTextFile(path(TLS_FILES.record)));
    await Promise.all([Deno.stat(path(TLS_FILES.key)), Deno.stat(path(TLS_FILES.caKey))]);
  } catch {
    return null; // missing or unreadable: the maker says which, or makes them
  }
  const have = Array.isArray(record.names) ? record.names.map(String) : [];
  const end = typeof record.notAfter === "string" ? Date.parse(record.notAfter) : NaN;
  if (
    record.sha256 !== (await pemSha256(cert).catch(() => null)) ||
    !(end - Date.now() > RENEW_BEFORE_MS) ||
    !names.every((name) => have.includes(name))
  ) {
    return null;
  }
  const digest = await pemSha256(ca).catch(() => null);
  if (digest === null) return null;
  return {
    certFile: path(TLS_FILES.cert),
    keyFile: path(TLS_FILES.key),
    caFile: path(TLS_FILES.ca),
    fingerprint: digest.toUpperCase().match(/../g)!.join(":"),
    names: have,
    action: "reused",
  };
}
