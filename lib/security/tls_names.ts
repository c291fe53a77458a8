/**
 * The names a self-signed server certificate is made for: what a client on
 * this machine or the LAN dials. The host name and this machine's addresses
 * come from Deno.hostname() and Deno.networkInterfaces() where --allow-sys
 * grants them, else the host name from /etc/hostname and no addresses (Deno
 * counts /proc as needing every permission); --tls-name adds the rest.
 */
import { isIP } from "node:net";

/**
 * localhost, 127.0.0.1, ::1, the host name, `host` (the --host address) or,
 * for a wildcard host, this machine's addresses where they can be read, and
 * `extra` (--tls-name). Link-local addresses are left out: nobody dials them.
 */
export function machineNames(host: string, extra: string[]): string[] {
  const names = ["localhost", "127.0.0.1", "::1"];
  const hostname = hostName();
  if (hostname) names.push(hostname.toLowerCase());
  if (host === "0.0.0.0" || host === "::") {
    names.push(...localAddresses(host === "::" ? [4, 6] : [4]));
  } else {
    names.push(host.toLowerCase());
  }
  names.push(...extra.map((name) => name.toLowerCase()));
  return [...new Set(names.map(canonical))];
}

/** One spelling per address, so "0:0::1" and "::1" are one name. */
function canonical(name: string): string {
  if (isIP(name) !== 6) return name;
  return new URL(`http://[${name}]/`).hostname.slice(1, -1);
}

function granted(kind: "hostname" | "networkInterfaces"): boolean {
  return Deno.permissions.querySync({ name: "sys", kind }).state === "granted";
}

function hostName(): string | null {
  try {
    const name = granted("hostname")
      ? Deno.hostname()
      : Deno.readTextFileSync("/etc/hostname").split("\n")[0]!;
    return /^[A-Za-z0-9.-]{1,253}$/.test(name.trim()) ? name.trim() : null;
  } catch {
    return null;
  }
}

function localAddresses(families: number[]): string[] {
  if (!granted("networkInterfaces")) return [];
  try {
    return Deno.networkInterfaces()
      .filter((nic) => families.includes(nic.family === "IPv4" ? 4 : 6))
      .map((nic) => nic.address)
      .filter((address) =>
        !address.startsWith("127.") && address !== "::1" && !/^fe80:/i.test(address)
      );
  } catch {
    return [];
  }
}
