/** One part of the server's STATUS: what one service (or the gate) counts. */
export interface StatusSection {
  /** The JSON member, e.g. "chat". */
  key: string;
  /** The text line, e.g. "chat: 2 members, 10 messages". */
  text: string;
  /** The JSON value, e.g. { members: 2, messages: 10 }. */
  json: Record<string, number>;
}
