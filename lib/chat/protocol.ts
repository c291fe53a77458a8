/**
 * Every line the chat server sends, and the few a client recognises. Server
 * and client share this file, so the documented protocol
 * (docs/chat.md) has one source. The lines of events (messages, actions,
 * private messages, joins, leaves, renames, /users, /rooms) are built and
 * parsed in events.ts, beside their JSON form.
 *
 * Line kinds, told apart by their first characters:
 * - `[HH:MM:SS] name: text`   a member's message (also in history)
 * - `[HH:MM:SS] * name text`  a member's /me action (also in history)
 * - `[HH:MM:SS] (private) a -> b: text`  a /msg, seen by its two ends only
 * - `* ...`                   a room event everyone sees (joined, left, renamed, shutdown)
 * - `! ...`                   a line for you alone (handshake, replies, refusals)
 */

export const CHAT_LABEL = "[Chat Server]";

/** What a valid name is, in words. */
export const NAME_RULE = "1-32 letters, digits, _ - or .";
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;

/** Every line that asks for a name ends with this. */
export const ASK_NAME = "Enter your name:";

/** The room every member joins first. */
export const LOBBY = "#lobby";

/** What a valid room name is, in words. */
export const ROOM_RULE = "# and 1-32 letters, digits, _ - or .";
const ROOM_PATTERN = /^#[A-Za-z0-9_.-]{1,32}$/;

/** A room name as typed ("games" or "#games") made canonical ("#games"), or null if invalid. */
export function roomName(typed: string): string | null {
  const name = typed.startsWith("#") ? typed : "#" + typed;
  return ROOM_PATTERN.test(name) ? name : null;
}

/** True for a name a member may take (the rule only, not whether it is free). */
export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** The key names are unique under: "Alice" and "alice" are the same member. */
export function nameKey(name: string): string {
  return name.toLowerCase();
}

/** "12:00:01" in the server's local time. */
export function clock(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

// ---- room lines (broadcast): built from events by eventText() in events.ts ----

/** Sent to every connection, named or not, before the server closes it. */
export const SHUTDOWN_NOTICE = "* Server shutting down; goodbye";

// ---- private lines ----

/** The first line on every connection. */
export function welcomeLine(members: number): string {
  const online = `${members} member${members === 1 ? "" : "s"} online`;
  return `! Welcome to socketkit chat (${online}). Names are ${NAME_RULE} ${ASK_NAME}`;
}

/**
 * The answer to a name that breaks the rule; `shown` is already neutralised.
 * `ask` adds the question again (during the handshake, not for /name).
 */
export function invalidNameLine(shown: string, ask = true): string {
  return `! Invalid name "${shown}": use ${NAME_RULE}${ask ? " " + ASK_NAME : ""}`;
}

/** The answer to a name someone else has; `ask` as for {@link invalidNameLine}. */
export function takenNameLine(name: string, ask = true): string {
  return `! The name "${name}" is taken.${ask ? " " + ASK_NAME : ""}`;
}

/** Confirms the join; lists at most `shown` names so the line stays short. */
export function joinedLine(name: string, names: string[], shown = 20): string {
  const listed = names.slice(0, shown).join(", ");
  const more = names.length > shown ? ` and ${names.length - shown} more (/users lists all)` : "";
  return `! Joined as ${name}. ${names.length} here: ${listed}${more}`;
}

/** Confirms a move with /join; lists names as {@link joinedLine} does. */
export function joinedRoomLine(room: string, names: string[], shown = 20): string {
  const listed = names.slice(0, shown).join(", ");
  const more = names.length > shown ? ` and ${names.length - shown} more (/users lists all)` : "";
  return `! Joined ${room}. ${names.length} here: ${listed}${more}`;
}

/** The limits, right after the join line; clients pace themselves by it. */
export function limitsLine(maxLine: number, rate: number, burst: number): string {
  const pace = rate > 0 ? `${rate} lines per second, bursts of ${burst}` : "no rate limit";
  return `! Limits: lines up to ${maxLine} bytes; ${pace}. Type /help for commands.`;
}

/** Precedes the history a newcomer receives (only when there is some). */
export function historyLine(count: number): string {
  return `! The last ${count} message${count === 1 ? "" : "s"}:`;
}

/** To the member who renamed. */
export function youAreNowLine(name: string): string {
  return `! You are now known as ${name}`;
}

/**
 * Sent before closing a connection from an address that holds its share of
 * the members already; `cap` says how many and why (net/per_address.ts).
 */
export function addressShareLine(cap: string): string {
  return `! Too many members from your address (${cap}); try again later`;
}

/** Sent before closing a connection when the room is full. */
export function roomFullLine(maxMembers: number): string {
  return `! The room is full (${maxMembers} member${maxMembers === 1 ? "" : "s"}); try again later`;
}

/** A refused over-long line. */
export function tooLongLine(maxLine: number): string {
  return `! Line too long (over ${maxLine} bytes); it was not sent`;
}

/** Sent once when a member goes over the rate; refused lines after it are silent. */
export function slowDownLine(rate: number, burst: number): string {
  return `! Slow down: over ${rate} lines per second (bursts of ${burst}); lines are dropped until you pause`;
}

/** An unknown /command; `shown` is already neutralised. */
export function unknownCommandLine(shown: string): string {
  return `! Unknown command "${shown}"; type /help for the commands`;
}

/** A command used without its argument. */
export function usageLine(usage: string): string {
  return `! Usage: ${usage}`;
}

/** `/join` to the room one is in. */
export function alreadyInRoomLine(room: string): string {
  return `! You are already in ${room}`;
}

/** `/join` of a new room when --chat-max-rooms rooms exist. */
export function tooManyRoomsLine(room: string, maxRooms: number): string {
  return `! Cannot create ${room}: the server has ${maxRooms} rooms, its limit; /rooms lists them`;
}

/** `/join` of a name that breaks the rule; `shown` is already neutralised. */
export function invalidRoomLine(shown: string): string {
  return `! Invalid room "${shown}": use ${ROOM_RULE}`;
}

/** `/msg` or `/kick` naming nobody; `shown` is already neutralised. */
export function noSuchMemberLine(shown: string): string {
  return `! Nobody here is called "${shown}"; /users lists your room`;
}

/** `/kick` from a member who is not an operator. */
export const NOT_OPERATOR_LINE =
  "! Only an operator (a member authenticated with the server's token) may /kick";

/** To the operator after a /kick of a member of another instance of the cluster. */
export function kickedElsewhereLine(name: string): string {
  return `! Kicked ${name} (on another server of the cluster)`;
}

/**
 * The answer to a line that starts like `AUTH <token>`: never shown to the
 * room, logged or echoed, since the rest may be a token (a netcat recipe
 * followed against the wrong server). On a server with a token every member
 * authenticated before joining.
 */
export function authNotSentLine(authenticated: boolean, naming: boolean): string {
  const why = authenticated ? "you are already authenticated" : "this server has no token";
  return `! That AUTH line was not sent to anyone or kept (${why})${
    naming ? ". Enter your name:" : ""
  }`;
}

/** To the operator after a /kick. */
export function kickedDoneLine(name: string): string {
  return `! Kicked ${name}`;
}

/** To a kicked member before its connection closes; `why` is its leave reason ("kicked by ..."). */
export function youWereKickedLine(why: string): string {
  return `! You were ${why}`;
}

/**
 * To a member whose name another instance took while the cluster was split:
 * renamed (`kept` true) or about to be closed.
 */
export function nameTakenElsewhereLine(name: string, kept: boolean): string {
  return kept
    ? `! Your name "${name}" was taken on another server while the cluster was split`
    : `! Your name "${name}" was taken on another server; reconnect with another`;
}

export const JSON_ON_LINE =
  "! JSON mode on: one JSON object per line from now on; /json off for text";
export const JSON_OFF_LINE = "! JSON mode off";
/** The answer to `/json off` over a WebSocket, which carries JSON objects only. */
export const JSON_ONLY_LINE = "! A WebSocket member gets JSON objects only";
export const ECHO_ON_LINE = "! Echo on: your own messages come back to you";
export const ECHO_OFF_LINE = "! Echo off";

export const GOODBYE_LINE = "! Goodbye";
export const NAME_TIMEOUT_LINE = "! No name given in time; goodbye";
export const IDLE_LINE = "! Idle for too long; goodbye";

/** `/help`. */
export const HELP_LINES = [
  "! Commands:",
  "!   /users              who is in your room",
  "!   /rooms              every room and how many are in it",
  "!   /join #ROOM         move to a room (created if new)",
  "!   /msg NAME TEXT      a private message to one member",
  "!   /me ACTION          send an action, e.g. /me waves",
  "!   /name NEWNAME       change your name",
  "!   /kick NAME [WHY]    remove a member (operators only)",
  "!   /json [nohistory]   JSON objects from now on (/json off: text)",
  "!   /echo on|off        get your own messages back",
  "!   /quit               leave the chat",
  "!   /help               this list",
  "! A line starting with // is sent as a message with one / removed.",
];

// ---- what a client recognises ----

/** The text of a `! ...` line without its marker, or null for any other line. */
export function systemText(line: string): string | null {
  return line.startsWith("! ") ? line.slice(2) : null;
}

/** True for a line asking for a name (welcome, invalid, taken). */
export function asksForName(line: string): boolean {
  return line.startsWith("! ") && line.endsWith(ASK_NAME);
}

/** The name in a {@link takenNameLine}, or null. */
export function parseTakenName(line: string): string | null {
  return line.match(/^! The name "([A-Za-z0-9_.-]{1,32})" is taken\./)?.[1] ?? null;
}

/** The count in a {@link historyLine}, or null. */
export function parseHistoryHeader(line: string): number | null {
  const count = line.match(/^! The last (\d+) messages?:$/)?.[1];
  return count === undefined ? null : Number(count);
}

/** True for the answers to a /join that did not move us ({@link tooManyRoomsLine}, {@link invalidRoomLine}). */
export function isRoomRefusal(line: string): boolean {
  return line.startsWith("! Cannot create ") || line.startsWith("! Invalid room ");
}

/** The name in a `! Joined as NAME.` line, or null. */
export function parseJoined(line: string): string | null {
  return line.match(/^! Joined as ([A-Za-z0-9_.-]{1,32})\. /)?.[1] ?? null;
}

/** The room in a `! Joined #ROOM.` line (a /join), or null. */
export function parseJoinedRoom(line: string): string | null {
  return line.match(/^! Joined (#[A-Za-z0-9_.-]{1,32})\. /)?.[1] ?? null;
}

/** The rest of a {@link youWereKickedLine} (`kicked by ...`), or null. */
export function parseKicked(line: string): string | null {
  return line.match(/^! You were (kicked by .*)$/)?.[1] ?? null;
}

/** True for the line a server sends every connection as it shuts down. */
export function isShutdownNotice(line: string): boolean {
  return line === SHUTDOWN_NOTICE;
}

/** The name in a `! You are now known as NAME` line, or null. */
export function parseRenamed(line: string): string | null {
  return line.match(/^! You are now known as ([A-Za-z0-9_.-]{1,32})$/)?.[1] ?? null;
}

/** The pace in a `! Limits:` line; rate 0 means none. Null if the line is not one. */
export function parseLimits(line: string): { rate: number; burst: number } | null {
  if (!line.startsWith("! Limits: ")) return null;
  const pace = line.match(/; (\d+(?:\.\d+)?) lines per second, bursts of (\d+)\./);
  return pace ? { rate: Number(pace[1]), burst: Number(pace[2]) } : { rate: 0, burst: 0 };
}
