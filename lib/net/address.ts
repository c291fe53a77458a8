/** Address formatting and classification shared by every service and client. */

/** "127.0.0.1:9001" or "[::1]:9001". */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/** Formats a Deno.Addr (TCP or UDP); other transports by their path. */
export function formatAddr(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return formatHostPort(addr.hostname, addr.port);
  }
  return "path" in addr ? addr.path : String(addr.transport);
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped IPv6 forms. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^::ffff:/, "");
  return host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The wildcard address of the same family as `hostname`, for binding a client socket. */
export function wildcardFor(hostname: string): string {
  return hostname.includes(":") ? "::" : "0.0.0.0";
}
