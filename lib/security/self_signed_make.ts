/**
 * Making the files of `serve --tls-self-signed` (self_signed.ts): a CA and a
 * server certificate it signed, with the X.509 library on WebCrypto. The
 * server certificate is a leaf (CA:FALSE, serverAuth): rustls, under Deno's
 * TLS, refuses a CA certificate used as a server certificate, which is what
 * `openssl req -x509` makes. Loaded only when something must be made or
 * checked: the library costs a start-up a few hundred milliseconds.
 */
import * as x509 from "@peculiar/x509";
import { join } from "node:path";
import { isIP } from "node:net";
import { RuntimeError } from "../base/errors.ts";
import {
  fileError,
  pemSha256,
  RENEW_BEFORE_MS,
  type SelfSigned,
  TLS_FILES,
} from "./self_signed_files.ts";

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;
const CA_DAYS = 3650;
// Under 398 days: what browsers and Apple platforms accept for a server certificate.
const CERT_DAYS = 397;

/**
 * Makes (or reuses) the CA and the server certificate in `dir` for `names`.
 * The server certificate is re-issued by the same CA when a name is missing
 * or it expires within 30 days. Keys are written with mode 0600. Throws
 * RuntimeError naming the directory or file when it cannot be read or written.
 */
export async function makeSelfSigned(dir: string, names: string[]): Promise<SelfSigned> {
  x509.cryptoProvider.set(crypto);
  const path = (file: string) => join(dir, file);
  const result = (action: SelfSigned["action"], ca: x509.X509Certificate, names: string[]) =>
    fingerprintOf(ca).then((fingerprint): SelfSigned => ({
      certFile: path(TLS_FILES.cert),
      keyFile: path(TLS_FILES.key),
      caFile: path(TLS_FILES.ca),
      fingerprint,
      names,
      action,
    }));
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw fileError(`create the folder "${dir}"`, error);
  }
  const existing = await readExisting(dir);
  if (existing !== null) {
    const have = namesOf(existing.cert);
    const fresh = existing.cert.notAfter.getTime() - Date.now() > RENEW_BEFORE_MS;
    if (fresh && names.every((name) => have.includes(name))) {
      await writeRecord(dir, existing.cert, have); // it was missing or stale
      return await result("reused", existing.ca, have);
    }
    const all = [...new Set([...have, ...names])];
    await writeLeaf(dir, existing.ca, existing.caKey, all);
    return await result("renewed", existing.ca, all);
  }
  const ca = await writeCa(dir);
  await writeLeaf(dir, ca.cert, ca.key, names);
  return await result("created", ca.cert, names);
}

/** The CA and the server certificate already in `dir`, or null when any file is missing. */
async function readExisting(
  dir: string,
): Promise<{ ca: x509.X509Certificate; caKey: CryptoKey; cert: x509.X509Certificate } | null> {
  const texts: string[] = [];
  for (const file of [TLS_FILES.ca, TLS_FILES.caKey, TLS_FILES.cert, TLS_FILES.key]) {
    try {
      texts.push(await Deno.readTextFile(join(dir, file)));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw fileError(`read "${join(dir, file)}"`, error);
    }
  }
  const [caPem, caKeyPem, certPem] = texts as [string, string, string];
  try {
    return {
      ca: new x509.X509Certificate(caPem),
      caKey: await importKey(caKeyPem),
      cert: new x509.X509Certificate(certPem),
    };
  } catch (error) {
    throw new RuntimeError(
      `Cannot use the TLS files in "${dir}": ${
        error instanceof Error ? error.message : error
      }; move the folder away and start again to make new ones`,
    );
  }
}

async function writeCa(dir: string): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=socketkit CA ${new Date(now).toISOString().slice(0, 10)} ${serial().slice(0, 8)}`,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + CA_DAYS * DAY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  await writePrivate(join(dir, TLS_FILES.caKey), await keyPem(keys.privateKey));
  await writePublic(join(dir, TLS_FILES.ca), cert.toString("pem") + "\n");
  return { cert, key: keys.privateKey };
}

async function writeLeaf(
  dir: string,
  ca: x509.X509Certificate,
  caKey: CryptoKey,
  names: string[],
): Promise<void> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names.find((name) => isIP(name) === 0) ?? names[0] ?? "socketkit"}`,
    issuer: ca.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + CERT_DAYS * DAY_MS),
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((name) => ({
          type: isIP(name) === 0 ? "dns" as const : "ip" as const,
          value: name,
        })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  await writePrivate(join(dir, TLS_FILES.key), await keyPem(keys.privateKey));
  await writePublic(join(dir, TLS_FILES.cert), cert.toString("pem") + "\n");
  await writeRecord(dir, cert, names);
}

/** cert.json: what the certificate is for, so the next start need not load this library. */
async function writeRecord(dir: string, cert: x509.X509Certificate, names: string[]) {
  const pem = cert.toString("pem") + "\n";
  const record = { names, notAfter: cert.notAfter.toISOString(), sha256: await pemSha256(pem) };
  await writePublic(join(dir, TLS_FILES.record), JSON.stringify(record) + "\n");
}

/** The DNS names and IP addresses in a certificate's subjectAltName. */
export function namesOf(cert: x509.X509Certificate): string[] {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  if (san === null) return [];
  return san.names.items
    .filter((name) => name.type === "dns" || name.type === "ip")
    .map((name) => name.value);
}

async function fingerprintOf(cert: x509.X509Certificate): Promise<string> {
  const digest = new Uint8Array(await cert.getThumbprint("SHA-256"));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
  return x509.PemConverter.encode(der.buffer, "PRIVATE KEY") + "\n";
}

async function importKey(pem: string): Promise<CryptoKey> {
  const [der] = x509.PemConverter.decode(pem);
  if (der === undefined) throw new Error(`no PEM key in ${TLS_FILES.caKey}`);
  return await crypto.subtle.importKey("pkcs8", der, ALGORITHM, true, ["sign"]);
}

async function writePrivate(file: string, text: string): Promise<void> {
  try {
    // Created 0600, and chmod for a file that was there: the umask never widens it.
    await Deno.writeTextFile(file, text, { mode: 0o600 });
    await Deno.chmod(file, 0o600);
  } catch (error) {
    throw fileError(`write "${file}"`, error);
  }
}

async function writePublic(file: string, text: string): Promise<void> {
  try {
    await Deno.writeTextFile(file, text, { mode: 0o644 });
  } catch (error) {
    throw fileError(`write "${file}"`, error);
  }
}

function serial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f; // a positive serial number
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
