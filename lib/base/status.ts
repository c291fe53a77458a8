/** One part of the server's STATUS: what one service (or the gate) counts. */
export interface StatusSection {
  /** The JSON member, e.g. "chat". */
  key: string;
  /** The text line, e.g. "chat: 2 members, 10 messages". */
  text: string;
  /** The JSON value, e.g. { members: 2, messages: 10 }. */
  json: Record<string, number>;
}

/**
 * The STATUS section of a service that counts plain numbers: the JSON value
 * is the counters themselves, the text line is `line(counters)`. Called
 * without counters (the service is not running), it shows `zeros`.
 */
export function countersStatus<T extends Record<string, number>>(
  key: string,
  zeros: T,
  line: (counters: T) => string,
): (counters?: T) => StatusSection {
  return (counters = zeros) => ({ key, text: line(counters), json: { ...counters } });
}
