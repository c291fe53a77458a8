/** `socketkit connect info`: one query to the info service, one reply printed. */
import { importLazily } from "../base/lazy_import.ts";
import { NoAnswerError, RuntimeError, UsageError } from "../base/errors.ts";
import { type CommandSpec, formatHelp, parseFlags } from "../base/flags.ts";
import { decodeLenient, encode, printable } from "../base/text.ts";
import { formatHostPort } from "../net/address.ts";
import { HOST_FLAG, portFlag, serverAddress } from "../net/server_address.ts";
import {
  CLIENT_SECURITY_FLAGS,
  type ClientSecurity,
  securityFor,
} from "../security/client_settings.ts";
import type { ModeContext } from "../service.ts";
import { INFO_PORT } from "./config.ts";
import { INFO_COMMANDS, type InfoCommand, isInfoReply, requestText } from "./protocol.ts";

export const INFO_SPEC: CommandSpec = {
  name: "socketkit connect info",
  usage: ["socketkit connect info [STATUS|TIME|USERS|HELP] [flags]"],
  summary: "Ask the UDP info service one question and print its answer.",
  maxPositionals: 1,
  flags: {
    json: { type: "boolean", help: "Print the answer as one JSON object (and nothing else)" },
    host: HOST_FLAG,
    "info-port": portFlag("info-port", INFO_PORT, "UDP info service port"),
    timeout: {
      type: "string",
      value: "TIME",
      default: "2s",
      help: "How long to wait for the reply to each try",
    },
    retries: { type: "string", value: "N", default: "2", help: "Resends when no reply comes" },
    ...CLIENT_SECURITY_FLAGS,
  },
  notes: `Commands (any case; default STATUS):
  STATUS  version, uptime, services and their ports, live counters
  TIME    server time in ISO 8601 with its UTC offset, and Unix time in ms
  USERS   chat members now connected and how long each has been there
  HELP    the server's own list of commands

Exit status: 0 with an answer, 1 when no reply came or it was not the info
service's (a wrong port), or the server answered ERROR; 2 for a usage error.

Examples:
  socketkit connect info
  socketkit connect info time --json
  socketkit connect info USERS --host 192.0.2.7 --timeout 500ms --retries 5`,
};

/** Options of {@link queryInfo}. */
export interface InfoQueryOptions {
  host: string;
  port: number;
  /** Milliseconds to wait for the reply to each try. */
  timeout: number;
  /** Resends after the first try. */
  retries: number;
  /** The token (and TLS, to warn that UDP has none). */
  security: ClientSecurity;
}

/**
 * Sends one command and resolves with the reply text. Throws RuntimeError
 * when no reply comes after every try, or when what comes is not the info
 * service's (another service on that port).
 */
export async function queryInfo(
  command: InfoCommand,
  json: boolean,
  options: InfoQueryOptions,
): Promise<string> {
  // Loaded here, not with the flags, so `connect info --help` starts fast.
  const { UdpRequester } = await importLazily<typeof import("../security/udp_request.ts")>(
    new URL("../security/udp_request.ts", import.meta.url),
  );
  const requester = new UdpRequester(options.host, options.port, options.security);
  try {
    const outcome = await requester.request(encode(requestText(command, json)), options);
    if (outcome.kind === "reply") {
      const text = decodeLenient(outcome.data);
      if (isInfoReply(command, json, text)) return text;
      const where = formatHostPort(options.host, options.port);
      const chars = Array.from(text);
      const shown = printable(chars.slice(0, 40).join("")) + (chars.length > 40 ? "..." : "");
      throw new NoAnswerError(
        `${where} answered "${shown}", which is not a reply of the info service: wrong port (--info-port)?`,
      );
    }
    throw new NoAnswerError(
      `No reply from ${formatHostPort(options.host, options.port)} after ${outcome.tries} ${
        outcome.tries === 1 ? "try" : "tries"
      }: is socketkit serve running with the info service on that port?`,
    );
  } finally {
    requester.close();
  }
}

/** Runs `connect info` with its arguments; resolves to the exit code. */
export async function infoMode(args: string[], context: ModeContext): Promise<number> {
  const parsed = parseFlags(INFO_SPEC, args);
  if (parsed.help) {
    console.log(formatHelp(INFO_SPEC));
    return 0;
  }
  const word = (parsed.positionals[0] ?? "STATUS").toUpperCase();
  if (!(INFO_COMMANDS as readonly string[]).includes(word)) {
    throw new UsageError(
      `Unknown info command "${printable(parsed.positionals[0] ?? "")}": expected one of ${
        INFO_COMMANDS.join(", ")
      }`,
      INFO_SPEC.name,
    );
  }
  const json = parsed.boolean("json");
  const options: InfoQueryOptions = {
    ...serverAddress(parsed, "info-port"),
    timeout: Math.max(1, parsed.duration("timeout")),
    retries: parsed.integer("retries", 0, 100),
    security: securityFor(parsed, context),
  };
  const reply = await queryInfo(word as InfoCommand, json, options);
  if (json) {
    let value: unknown;
    try {
      value = JSON.parse(reply);
    } catch {
      throw new RuntimeError(`The reply is not JSON: "${printable(reply.slice(0, 80))}"`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new RuntimeError(`The reply is not a JSON object: "${printable(reply.slice(0, 80))}"`);
    }
    if ("error" in value) throw new RuntimeError(`The server answered: ${String(value.error)}`);
    console.log(JSON.stringify(value));
    return 0;
  }
  // The reply comes from the network: nothing in it may drive the terminal.
  console.log(reply.split("\n").map(printable).join("\n"));
  return reply.startsWith("ERROR ") ? 1 : 0;
}
