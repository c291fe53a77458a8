/**
 * /metrics in the Prometheus text exposition format (version 0.0.4): the
 * `socketkit_` prefix, base units (seconds, bytes), `_total` for counters,
 * and no per-user labels. Built from what STATUS shows (every service's
 * counters), the listening sockets, the cluster view and the web service's
 * own counters, so both read the same numbers.
 */
import type { StatusSection } from "../base/status.ts";
import type { ClusterStatusView } from "../info/protocol.ts";
import type { Endpoint } from "../service.ts";
import type { WebCounters } from "./metrics_counters.ts";

/** What the exposition is built from. */
export interface MetricsSources {
  version: string;
  /** Date.now() at start. */
  startedAt: number;
  endpoints(): { service: string; endpoint: Endpoint }[];
  sections(): StatusSection[];
  cluster(): ClusterStatusView | null;
  /** --redis is set (the link state is shown). */
  redisConfigured: boolean;
  web: WebCounters;
  /** Files in the store. */
  filesStored(): number;
}

type Labels = Record<string, string>;

/** One metric family: its samples, each with its labels. */
class Family {
  readonly samples: [Labels, number][] = [];
  constructor(
    readonly name: string,
    readonly type: "counter" | "gauge",
    readonly help: string,
  ) {}
  add(labels: Labels, value: number): this {
    this.samples.push([labels, value]);
    return this;
  }
}

/** The text /metrics answers with. */
export function prometheusText(sources: MetricsSources): string {
  const sections = new Map<string, Record<string, number>>(
    sources.sections().map((section) => [section.key, section.json]),
  );
  const section = (key: string) => sections.get(key) ?? {};
  const num = (key: string, field: string) => section(key)[field] ?? 0;
  const web = sources.web;
  const families: Family[] = [];
  const family = (name: string, type: "counter" | "gauge", help: string) => {
    const made = new Family(`socketkit_${name}`, type, help);
    families.push(made);
    return made;
  };

  family("build_info", "gauge", "The running version (always 1)").add(
    { version: sources.version },
    1,
  );
  family("start_time_seconds", "gauge", "When the server started, in Unix seconds").add(
    {},
    sources.startedAt / 1000,
  );

  const connections = family(
    "connections",
    "gauge",
    "Open connections per TCP service (web: requests being answered)",
  );
  for (const { service, endpoint } of sources.endpoints()) {
    if (endpoint.connections === undefined) continue;
    connections.add({ service }, endpoint.connections());
  }

  family("messages_total", "counter", "Messages received: message-service messages, chat lines")
    .add({ service: "message", transport: "tcp", direction: "in" }, num("messages", "tcp"))
    .add({ service: "message", transport: "udp", direction: "in" }, num("messages", "udp"))
    .add({ service: "chat", transport: "tcp", direction: "in" }, num("chat", "messages"));

  family("bytes_total", "counter", "Payload bytes moved, by service and direction")
    .add({ service: "files", direction: "in" }, num("files", "bytesUploaded"))
    .add({ service: "files", direction: "out" }, num("files", "bytesDownloaded"))
    .add({ service: "web", direction: "in" }, web.bytesIn)
    .add({ service: "web", direction: "out" }, web.bytesOut);

  family("http_requests_total", "counter", "HTTP requests the web service answered").add(
    {},
    web.requests,
  );

  family("chat_members", "gauge", "Chat members on this instance").add(
    {},
    num("chat", "members"),
  );
  family("chat_rooms", "gauge", "Chat rooms on this instance").add({}, num("chat", "rooms"));
  family("files_stored", "gauge", "Files in the file store").add({}, sources.filesStored());

  family("refusals_total", "counter", "Connections, datagrams and requests refused, by kind")
    .add({ kind: "access" }, num("security", "refusedConnections") + web.refusedAccess)
    .add({ kind: "datagram_access" }, num("security", "refusedDatagrams"))
    .add({ kind: "auth" }, num("security", "authFailures") + web.refusedAuth)
    .add({ kind: "tls" }, num("security", "tlsFailures"))
    .add({ kind: "busy" }, web.refusedBusy)
    .add({ kind: "cross_site" }, web.refusedOrigin);

  family("udp_dropped_total", "counter", "Datagrams dropped unanswered over a rate limit")
    .add({ service: "message" }, num("messages", "udpDropped"))
    .add({ service: "info" }, num("info", "dropped"));

  if (sources.redisConfigured) {
    const cluster = sources.cluster();
    const state = cluster?.state ?? "local-only";
    family("redis_up", "gauge", "1 when the chat cluster's Redis link is up").add(
      {},
      state === "joined" ? 1 : 0,
    );
    const states = family("cluster_state", "gauge", "The chat cluster's state (1 for the current)");
    for (const name of ["joined", "degraded", "local-only"]) {
      states.add({ state: name }, name === state ? 1 : 0);
    }
    family("cluster_queued_events", "gauge", "Chat events waiting to be written to Redis").add(
      {},
      cluster?.queued ?? 0,
    );
  }

  return families.map(formatFamily).join("");
}

function formatFamily(family: Family): string {
  const lines = [
    `# HELP ${family.name} ${family.help}`,
    `# TYPE ${family.name} ${family.type}`,
  ];
  for (const [labels, value] of family.samples) {
    lines.push(`${family.name}${formatLabels(labels)} ${formatValue(value)}`);
  }
  return lines.join("\n") + "\n";
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${
    entries.map(([key, value]) =>
      `${key}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`
    ).join(",")
  }}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
  return String(value);
}
