/** Reading the server's TLS certificate and key (--tls-cert, --tls-key). */
import { RuntimeError } from "../base/errors.ts";
import { readFlagFile } from "../base/flag_file.ts";
import type { TlsKeyPair } from "../net/listen.ts";

/**
 * Reads both PEM files. Throws RuntimeError naming the flag and file when one
 * cannot be read or does not look like what it should hold.
 */
export function readKeyPair(files: { certFile: string; keyFile: string }): TlsKeyPair {
  const cert = readFlagFile("tls-cert", files.certFile);
  const key = readFlagFile("tls-key", files.keyFile);
  if (!cert.includes("-----BEGIN CERTIFICATE-----")) {
    throw new RuntimeError(
      `Cannot use --tls-cert "${files.certFile}": no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)`,
    );
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
    throw new RuntimeError(
      `Cannot use --tls-key "${files.keyFile}": no PEM private key in it (expected -----BEGIN PRIVATE KEY-----)`,
    );
  }
  return { cert, key };
}
