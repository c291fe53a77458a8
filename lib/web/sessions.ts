/**
 * The web login's sessions: a browser that presented the token through the
 * login form gets a random session id in an HttpOnly cookie instead of
 * keeping the token itself. Held in memory (a restart logs everybody out),
 * bounded in number and lifetime.
 */

/** The cookie's name. */
export const SESSION_COOKIE = "socketkit_session";

/** How long a login lasts. */
export const SESSION_LIFETIME_MS = 12 * 60 * 60 * 1000;

/** Sessions kept at most; the oldest goes first. */
export const MAX_SESSIONS = 4096;

/** The sessions of one web service. */
export class Sessions {
  /** id -> expiry (Date.now() ms); a Map keeps insertion order, oldest first. */
  #sessions = new Map<string, number>();
  #now: () => number;

  /** @param now clock in milliseconds (default Date.now), for tests */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Starts a session; returns its id (256 random bits, hex). */
  create(): string {
    const id = Array.from(crypto.getRandomValues(new Uint8Array(32)))
      .map((byte) => byte.toString(16).padStart(2, "0")).join("");
    while (this.#sessions.size >= MAX_SESSIONS) {
      this.#sessions.delete(this.#sessions.keys().next().value!);
    }
    this.#sessions.set(id, this.#now() + SESSION_LIFETIME_MS);
    return id;
  }

  /** True when `id` is a live session. */
  valid(id: string): boolean {
    const expires = this.#sessions.get(id);
    if (expires === undefined) return false;
    if (expires > this.#now()) return true;
    this.#sessions.delete(id);
    return false;
  }

  /** Ends a session (logout). */
  end(id: string): void {
    this.#sessions.delete(id);
  }
}

/** The value of cookie `name` in a Cookie header, or null. */
export function cookieValue(header: string | null, name: string): string | null {
  if (header === null) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** The Set-Cookie value for session `id` (empty id and Max-Age 0: clears it). */
export function sessionCookie(id: string, secure: boolean): string {
  const maxAge = id === "" ? 0 : Math.floor(SESSION_LIFETIME_MS / 1000);
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${
    secure ? "; Secure" : ""
  }`;
}
