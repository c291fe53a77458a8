/**
 * The info protocol: one request datagram, one reply datagram. Parsing the
 * request and formatting every reply, as text or JSON, within one bound.
 * Pure functions, shared by the server, the client and the tests.
 */
import type { StatusSection } from "../base/status.ts";
import { formatHostPort } from "../net/address.ts";
import { counted, decodeLenient, encode, printable } from "../base/text.ts";

export const INFO_LABEL = "[Info Server]";

/** The commands, in the order HELP and errors list them. */
export const INFO_COMMANDS = ["STATUS", "TIME", "USERS", "HELP"] as const;
export type InfoCommand = typeof INFO_COMMANDS[number];

/**
 * Largest reply payload in bytes. The IPv6 minimum MTU (1280) less the IPv6
 * (40) and UDP (8) headers leaves 1232; 1200 keeps a margin, as QUIC does, so
 * a reply is never fragmented on any path.
 */
export const MAX_REPLY = 1200;

/**
 * Largest USERS reply payload: a glance at who is there, not a directory; the
 * whole list is the chat's /users.
 */
export const MAX_USERS_REPLY = 512;

/** Longest request line read as a command, after trimming; anything longer is junk. */
export const MAX_REQUEST = 64;

/**
 * What a request datagram must weigh for every reply to come whole: a reply
 * is at most 3x its request on the wire (net/amplification.ts), and
 * {@link MAX_REPLY} needs 382 bytes. `connect info` pads its requests to this
 * with spaces; a shorter request gets a short answer that says so.
 */
export const PADDED_REQUEST = 400;

/** The last line of a short text answer: how to get the whole one. */
export const PAD_HINT = `more: pad to ${PADDED_REQUEST} bytes`;

/** How much of an unknown command is echoed back, in characters. */
const ECHO_CHARS = 40;
/** How much of a chat member's name a USERS reply shows, in characters. */
const NAME_CHARS = 64;

/** A parsed request. */
export type InfoRequest =
  | { kind: "command"; command: InfoCommand; json: boolean }
  /** `shown` is safe to print: cut and with control characters escaped. */
  | { kind: "unknown"; shown: string; json: boolean };

/**
 * Reads a request datagram; never throws, whatever the bytes. The request is
 * its first line, trimmed; what follows the line's end is padding.
 */
export function parseRequest(bytes: Uint8Array): InfoRequest {
  // An AUTH line that is not a datagram's first line with its LF (or on a
  // server without a token) would hold a token: never echoed, never logged.
  if (/^\s*auth[ \t]/i.test(decodeLenient(bytes.subarray(0, 8)))) {
    return { kind: "unknown", shown: "AUTH ...", json: false };
  }
  const line = requestLine(bytes);
  if (line.length > MAX_REQUEST) {
    const head = Array.from(decodeLenient(line.subarray(0, 4 * ECHO_CHARS))).slice(0, ECHO_CHARS);
    return { kind: "unknown", shown: printable(head.join("")) + "...", json: false };
  }
  const text = decodeLenient(line).trim();
  const words = text.split(/\s+/);
  const json = words.length === 2 && words[1]!.toUpperCase() === "JSON";
  const word = words[0]!.toUpperCase();
  if ((words.length === 1 || json) && (INFO_COMMANDS as readonly string[]).includes(word)) {
    return { kind: "command", command: word as InfoCommand, json };
  }
  return { kind: "unknown", shown: shorten(json ? words[0]! : text), json };
}

/** The request datagram for a command, e.g. "STATUS JSON", padded to {@link PADDED_REQUEST}. */
export function requestText(command: InfoCommand, json: boolean): string {
  return (json ? `${command} JSON` : command).padEnd(PADDED_REQUEST);
}

/**
 * The first line: leading whitespace skipped, up to the first LF, trailing
 * whitespace and NULs dropped; on bytes, so padding costs no decoding.
 */
function requestLine(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length && isPad(bytes[start]!)) start++;
  let end = bytes.indexOf(0x0a, start);
  if (end < 0) end = bytes.length;
  while (end > start && isPad(bytes[end - 1]!)) end--;
  return bytes.subarray(start, end);
}

/** Space, tab, CR, LF, VT, FF and NUL. */
function isPad(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0;
}

/**
 * Whether `text` is a reply of the info service to `command`: what a client
 * checks before printing it, so another service's answer (the UDP message
 * service's acknowledgement) is not passed off as one.
 */
export function isInfoReply(command: InfoCommand, json: boolean, text: string): boolean {
  if (json) {
    try {
      const value = JSON.parse(text);
      return typeof value === "object" && value !== null && !Array.isArray(value) &&
        (value.command === command || typeof value.error === "string");
    } catch {
      return false;
    }
  }
  return text.startsWith(TEXT_HEADS[command]) || text.startsWith("ERROR ");
}

/** How each text reply starts. */
const TEXT_HEADS: Record<InfoCommand, string> = {
  STATUS: "version: ",
  TIME: "time: ",
  USERS: "users: ",
  HELP: "commands: ",
};

/** A chat member as USERS shows it. */
export interface MemberView {
  name: string;
  /** The chat room it is in, e.g. "#lobby". */
  room: string;
  /** Date.now() when the member joined. */
  joinedAt: number;
  /** The cluster instance it is on (with --redis). */
  instance?: string;
}

/** The chat cluster as STATUS shows it (with --redis). */
export interface ClusterStatusView {
  /** --cluster-name. */
  name: string;
  /** This instance's id. */
  instance: string;
  /** "joined", "degraded" (Redis away) or "local-only" (not joined yet). */
  state: string;
  /** Events waiting to be written to Redis. */
  queued: number;
  /** Events of other instances that never arrived. */
  missed: number;
  /** Every instance known, this one first. */
  instances: { id: string; members: number; alive: boolean; self: boolean }[];
}

/** Instances STATUS lists one by one; more are counted. */
const SHOWN_INSTANCES = 8;

/** One listening socket as STATUS shows it. */
export interface EndpointView {
  label: string;
  transport: string;
  hostname: string;
  port: number;
  /** Open connections (TCP services only). */
  connections?: number;
  /** The UDP engine (UDP services only). */
  engine?: string;
}

/** What a STATUS reply reports. */
export interface StatusView {
  version: string;
  uptimeMs: number;
  services: EndpointView[];
  /** Every service's counters (and the gate's), in the order shown. */
  sections: StatusSection[];
  /** The chat cluster, with --redis. */
  cluster?: ClusterStatusView | null;
}

/** The STATUS reply. */
export function statusReply(view: StatusView, json: boolean): string {
  if (json) {
    return JSON.stringify({
      command: "STATUS",
      version: view.version,
      uptimeSeconds: Math.floor(view.uptimeMs / 1000),
      services: view.services.map((service) => ({
        label: service.label,
        transport: service.transport,
        host: service.hostname,
        port: service.port,
        ...(service.connections === undefined ? {} : { connections: service.connections }),
        ...(service.engine === undefined ? {} : { engine: service.engine }),
      })),
      ...Object.fromEntries(view.sections.map((section) => [section.key, section.json])),
      ...(view.cluster ? { cluster: clusterJson(view.cluster) } : {}),
    });
  }
  return [
    `version: ${view.version}`,
    `uptime: ${formatDuration(view.uptimeMs)}`,
    ...view.services.map((service) => {
      const where = `${service.transport} ${formatHostPort(service.hostname, service.port)}`;
      const open = service.connections === undefined
        ? ""
        : `, ${counted(service.connections, "connection")} open`;
      const engine = service.engine === undefined ? "" : ` (${service.engine} engine)`;
      return `service: ${service.label} ${where}${open}${engine}`;
    }),
    ...view.sections.map((section) => section.text),
    ...(view.cluster ? clusterLines(view.cluster) : []),
  ].join("\n");
}

function clusterJson(cluster: ClusterStatusView) {
  const shown = cluster.instances.slice(0, SHOWN_INSTANCES);
  return {
    name: cut(cluster.name, NAME_CHARS),
    instance: cut(cluster.instance, NAME_CHARS),
    state: cluster.state,
    alive: cluster.instances.filter((instance) => instance.alive).length,
    members: cluster.instances.reduce((sum, instance) => sum + instance.members, 0),
    queued: cluster.queued,
    missed: cluster.missed,
    instances: shown.map((instance) => ({ ...instance, id: cut(instance.id, NAME_CHARS) })),
    moreInstances: cluster.instances.length - shown.length,
  };
}

/**
 * "cluster: NAME, this instance ID joined; 2 of 2 instances alive, 5 members, 0 queued"
 * and one line per instance.
 */
function clusterLines(cluster: ClusterStatusView): string[] {
  const alive = cluster.instances.filter((instance) => instance.alive).length;
  const members = cluster.instances.reduce((sum, instance) => sum + instance.members, 0);
  const lines = [
    `cluster: ${printable(cut(cluster.name, NAME_CHARS))}, this instance ${
      printable(cut(cluster.instance, NAME_CHARS))
    } ${cluster.state}; ${alive} of ${counted(cluster.instances.length, "instance")} alive, ${
      counted(members, "member")
    }, ${cluster.queued} queued, ${cluster.missed} missed`,
  ];
  for (const instance of cluster.instances.slice(0, SHOWN_INSTANCES)) {
    const tags = [
      counted(instance.members, "member"),
      ...(instance.self ? ["this one"] : []),
      ...(instance.alive ? [] : ["not responding"]),
    ];
    lines.push(`instance: ${printable(cut(instance.id, NAME_CHARS))} (${tags.join(", ")})`);
  }
  const more = cluster.instances.length - SHOWN_INSTANCES;
  if (more > 0) lines.push(`instance: ... and ${more} more`);
  return lines;
}

/** The TIME reply for the instant `now`. */
export function timeReply(now: Date, json: boolean): string {
  const time = isoWithOffset(now);
  if (json) {
    return JSON.stringify({
      command: "TIME",
      time,
      unixMs: now.getTime(),
      utcOffsetMinutes: -now.getTimezoneOffset(),
    });
  }
  return `time: ${time}\nunix_ms: ${now.getTime()}`;
}

/**
 * The USERS reply: as many members as fit in {@link MAX_USERS_REPLY}, then how
 * many more there are.
 */
export function usersReply(members: MemberView[], now: number, json: boolean): string {
  const max = MAX_USERS_REPLY;
  const count = members.length;
  // Room is kept for the widest "more" part, whatever number it ends up being.
  if (json) {
    const head = `{"command":"USERS","count":${count},"users":[`;
    const tail = (more: number) => `],"more":${more}}`;
    const items: string[] = [];
    let size = byteLength(head) + byteLength(tail(count));
    for (const member of members) {
      const item = JSON.stringify({
        name: cut(member.name, NAME_CHARS),
        room: cut(member.room, NAME_CHARS),
        joinedAt: isoWithOffset(new Date(member.joinedAt)),
        seconds: Math.max(0, Math.floor((now - member.joinedAt) / 1000)),
        ...(member.instance === undefined ? {} : { instance: cut(member.instance, NAME_CHARS) }),
      });
      const added = byteLength(item) + (items.length > 0 ? 1 : 0);
      if (size + added > max) break;
      items.push(item);
      size += added;
    }
    return head + items.join(",") + tail(count - items.length);
  }
  const lines = [`users: ${count}`];
  const moreLine = (more: number) => `... and ${more} more`;
  let size = byteLength(lines[0]!) + 1 + byteLength(moreLine(count));
  for (const member of members) {
    const here = formatDuration(Math.max(0, now - member.joinedAt));
    const line = `${printable(cut(member.name, NAME_CHARS))} in ${
      printable(cut(member.room, NAME_CHARS))
    } (here ${here})`;
    const added = byteLength(line) + 1;
    if (size + added > max) break;
    lines.push(line);
    size += added;
  }
  const shown = lines.length - 1;
  if (shown < count) lines.push(moreLine(count - shown));
  return lines.join("\n");
}

const DESCRIPTIONS: Record<InfoCommand, string> = {
  STATUS: "version, uptime, services and their ports, live counters",
  TIME: "server time in ISO 8601 with its UTC offset, and Unix time in milliseconds",
  USERS: "chat members now connected, the room each is in and how long each has been there",
  HELP: "this list",
};

/** The HELP reply. */
export function helpReply(json: boolean): string {
  if (json) {
    return JSON.stringify({
      command: "HELP",
      commands: DESCRIPTIONS,
      note: 'One command per datagram, in any case; add " JSON" for a JSON reply',
    });
  }
  return [
    `commands: ${INFO_COMMANDS.join(", ")} (one per datagram, any case; add " JSON" for JSON)`,
    ...INFO_COMMANDS.map((command) => `${command}: ${DESCRIPTIONS[command]}`),
  ].join("\n");
}

/** The reply to anything that is not a command. `shown` must already be safe. */
export function errorReply(shown: string, json: boolean): string {
  const message = `unknown command "${shown}": try ${INFO_COMMANDS.join(", ")}`;
  return json ? JSON.stringify({ error: message }) : `ERROR ${message}`;
}

/**
 * A reply as bytes, never over {@link MAX_REPLY}. Replies are built to fit;
 * this is the last line of defence should one not (an unforeseen service list),
 * and it still answers with something well-formed.
 */
export function replyBytes(text: string, json: boolean): Uint8Array {
  const bytes = encode(text);
  if (bytes.length <= MAX_REPLY) return bytes;
  if (json) return encode(JSON.stringify({ error: "reply too large" }));
  return encode(decodeLenient(bytes.subarray(0, MAX_REPLY - 4)).replace(/\uFFFD$/, "") + "\n...");
}

/** "2024-05-01T12:34:56.789+02:00": local time with its UTC offset. */
export function isoWithOffset(date: Date): string {
  const offset = -date.getTimezoneOffset(); // minutes east of UTC
  const local = new Date(date.getTime() + offset * 60_000).toISOString().slice(0, -1);
  const abs = Math.abs(offset);
  const sign = offset < 0 ? "-" : "+";
  return `${local}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** "3s", "2m 5s", "1h 0m 3s", "2d 4h 0m 0s". */
export function formatDuration(ms: number): string {
  let seconds = Math.floor(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [["d", 86_400], ["h", 3600], ["m", 60]] as const) {
    const n = Math.floor(seconds / size);
    if (n > 0 || parts.length > 0) parts.push(`${n}${unit}`);
    seconds -= n * size;
  }
  parts.push(`${seconds}s`);
  return parts.join(" ");
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

function byteLength(text: string): number {
  return encode(text).length;
}

/** At most `max` characters (code points), with "..." when cut. */
function cut(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max).join("") + "...";
}

/** An echoed command: cut and with control characters escaped. */
function shorten(text: string): string {
  return printable(cut(text, ECHO_CHARS));
}
