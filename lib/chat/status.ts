/** What the chat service counts, as STATUS shows it. */
import { counted } from "../base/text.ts";
import type { StatusSection } from "../base/status.ts";

/**
 * The `chat` part of STATUS (zeros when the service is not running): this
 * instance's members and rooms (#lobby always counts).
 */
export function chatStatus(members = 0, messages = 0, rooms = 0): StatusSection {
  return {
    key: "chat",
    text: `chat: ${counted(members, "member")}, ${counted(messages, "message")}, ${
      counted(rooms, "room")
    }`,
    json: { members, messages, rooms },
  };
}
