/**
 * `socketkit help [TOPIC]`: the manuals in docs/, built into the program (as
 * text imports, so `deno compile` and `deno install` carry them), to read
 * offline with the exact text of the repository's docs.
 */
import { UsageError } from "./base/errors.ts";
import benchmarks from "../docs/benchmarks.md" with { type: "text" };
import chat from "../docs/chat.md" with { type: "text" };
import cluster from "../docs/cluster.md" with { type: "text" };
import development from "../docs/development.md" with { type: "text" };
import files from "../docs/files.md" with { type: "text" };
import info from "../docs/info.md" with { type: "text" };
import limits from "../docs/limits.md" with { type: "text" };
import message from "../docs/message.md" with { type: "text" };
import security from "../docs/security.md" with { type: "text" };
import serve from "../docs/serve.md" with { type: "text" };
import web from "../docs/web.md" with { type: "text" };
import readme from "../README.md" with { type: "text" };

/** Topic -> [one line on it, the manual's text]. */
export const TOPICS: Record<string, readonly [summary: string, text: string]> = {
  readme: ["what socketkit is, install, a quick start, the commands", readme],
  serve: ["running the server: shared flags, logging, stopping", serve],
  message: ["TCP and UDP message services, message mode, wire protocol", message],
  chat: ["the chat room, connect chat, wire protocol", chat],
  cluster: ["one chat across several instances through Redis", cluster],
  info: ["the info service, connect info, the menu", info],
  files: ["the file service, upload, download, files, wire protocol", files],
  web: ["the web service: the page, files over HTTP, /metrics, /readyz", web],
  security: ["access lists, the token, TLS, permissions, threat notes", security],
  limits: ["every limit and timeout", limits],
  benchmarks: ["deno task bench and its results", benchmarks],
  development: ["install, compile and ship, where the code is, tests", development],
};

/** The list `socketkit help` prints. */
export function topicList(): string {
  const width = Math.max(...Object.keys(TOPICS).map((name) => name.length)) + 2;
  const rows = Object.entries(TOPICS).map(([name, [summary]]) =>
    `  ${name.padEnd(width)}${summary}`
  );
  return `Manuals (socketkit help TOPIC prints one; the text of docs/TOPIC.md):\n${
    rows.join("\n")
  }\n`;
}

/**
 * The text for `socketkit help [TOPIC]`: the topic list, or one manual.
 * Throws UsageError for an unknown topic.
 */
export function helpText(topic: string | undefined): string {
  if (topic === undefined) return topicList();
  const found = TOPICS[topic.toLowerCase().replace(/\.md$/, "")];
  if (!found) {
    throw new UsageError(
      `Unknown help topic "${topic}": expected one of ${Object.keys(TOPICS).join(", ")}`,
      "socketkit",
    );
  }
  return found[1];
}
