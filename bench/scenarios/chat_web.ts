/**
 * Chat fan-out to 1,000 members over WebSockets (the web service's /chat)
 * against 1,000 members over TCP, in the same run: the same server program,
 * the same paced sender (a TCP member), the same generator processes. The
 * figures are the WebSocket run's, the baseline the TCP run's; the order
 * alternates by repetition so a drift in load favours neither. A third run,
 * bench/bare_broadcast_ws.ts (nothing but Deno's WebSocket), shows how much
 * of the cost is Deno's own send path.
 */
import type { Measurement, Scenario, ScenarioOptions } from "../scenario.ts";
import { runOnce, type RunResult } from "./chat.ts";

const MEMBERS = 1000;
// Deno's WebSocket client costs more per frame than a TCP read: with two generator processes
// the generators, not the server, set the latency. Four, for all three runs alike.
const GENERATORS = 4;

export const chatWebScenario: Scenario = {
  name: "chat-fanout-web",
  description: "Chat fan-out to 1,000 WebSocket members vs 1,000 TCP members, 100 msg/s",
  async run(options: ScenarioOptions): Promise<Measurement[]> {
    const messages = options.quick ? 100 : 500;
    let web: RunResult;
    let tcp: RunResult;
    if ((options.run ?? 0) % 2 === 0) {
      web = await runOnce("web", MEMBERS, messages, GENERATORS);
      tcp = await runOnce("chat", MEMBERS, messages, GENERATORS);
    } else {
      tcp = await runOnce("chat", MEMBERS, messages, GENERATORS);
      web = await runOnce("web", MEMBERS, messages, GENERATORS);
    }
    const bare = await runOnce("bare-web", MEMBERS, messages, GENERATORS);
    const note = (run: RunResult, of: string) =>
      `${of}: ${run.received}/${run.expected} delivered, server CPU ${
        run.serverCpuPercent.toFixed(0)
      }%, generator CPU ${run.generatorCpuPercent.toFixed(0)}%`;
    const notes = `${note(web, "WebSocket")}; ${note(tcp, "TCP")}; ${
      note(bare, "bare Deno WebSocket")
    }`;
    return [
      {
        figure: `delivered, ${MEMBERS} WebSocket members`,
        unit: "%",
        value: (web.received / web.expected) * 100,
        baseline: (tcp.received / tcp.expected) * 100,
        better: "higher",
        note: notes,
        goal: { value: 100 },
      },
      {
        figure: `p50 latency, ${MEMBERS} WebSocket members`,
        unit: "ms",
        value: web.p50,
        baseline: tcp.p50,
        better: "lower",
      },
      {
        figure: `p99 latency, ${MEMBERS} WebSocket members`,
        unit: "ms",
        value: web.p99,
        baseline: tcp.p99,
        better: "lower",
        goal: { ratio: 1.5 },
      },
      {
        figure: `server CPU per delivery, ${MEMBERS} WebSocket members`,
        unit: "us",
        value: web.cpuPerDeliveryUs,
        baseline: tcp.cpuPerDeliveryUs,
        better: "lower",
      },
      {
        figure: `p99 latency, bare Deno WebSocket broadcast (baseline: chat over WebSocket)`,
        unit: "ms",
        value: bare.p99,
        baseline: web.p99,
        better: "lower",
      },
      {
        figure: `CPU per delivery, bare Deno WebSocket broadcast (baseline: chat over WebSocket)`,
        unit: "us",
        value: bare.cpuPerDeliveryUs,
        baseline: web.cpuPerDeliveryUs,
        better: "lower",
      },
      {
        figure: `peak RSS server, ${MEMBERS} WebSocket members`,
        unit: "MB",
        value: web.serverPeakMb,
        baseline: tcp.serverPeakMb,
        better: "lower",
      },
    ];
  },
};
