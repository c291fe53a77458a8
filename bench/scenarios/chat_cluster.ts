/**
 * Chat across a cluster: 1,000 members split over two `serve` instances
 * joined through a real redis-server, one paced sender on the first; against
 * the same load on one instance, measured in the same run. Goals (issue 12):
 * every line delivered, p99 at most 50 ms, and the CPU per delivery (both
 * instances and Redis together) within 1.5x of one instance's.
 */
import { REDIS_MISSING, RedisServer } from "../../tests/_redis.ts";
import type { Measurement, Scenario, ScenarioOptions } from "../scenario.ts";
import { runCluster, runOnce, type RunResult } from "./chat.ts";

const MEMBERS = 1000;

export const chatClusterScenario: Scenario = {
  name: "chat-cluster",
  description: "Chat fan-out to 1,000 members over 2 instances and Redis vs one instance",
  async run(options: ScenarioOptions): Promise<Measurement[]> {
    if (REDIS_MISSING) {
      console.error(`chat-cluster: ${REDIS_MISSING}`);
      return [];
    }
    const messages = options.quick ? 100 : 500;
    // Alternate the order by run, so a drift in machine load favours neither.
    const clusterFirst = (options.run ?? 0) % 2 === 1;
    let single: RunResult | null = null;
    if (!clusterFirst) single = await runOnce("chat", MEMBERS, messages);
    const cluster = await withRedis((redis) => runCluster(redis, MEMBERS, messages));
    single ??= await runOnce("chat", MEMBERS, messages);
    const note = (run: RunResult, of: string) =>
      `${of}: ${run.received}/${run.expected} delivered, CPU ${run.serverCpuPercent.toFixed(0)}%`;
    const byServer = cluster.p99ByServer.map((ms) => ms.toFixed(1)).join(" / ");
    const notes = `${note(cluster, "2 instances + Redis")} (p99 ${byServer} ms on the sender's / ` +
      `the other instance); ${note(single, "1 instance")}`;
    return [
      {
        figure: "delivered, 1,000 members over 2",
        unit: "%",
        value: (cluster.received / cluster.expected) * 100,
        baseline: (single.received / single.expected) * 100,
        better: "higher",
        goal: { value: 100 },
      },
      {
        figure: "deliveries/s, 1,000 members over 2",
        unit: "msg/s",
        value: cluster.deliveriesPerSecond,
        baseline: single.deliveriesPerSecond,
        better: "higher",
        note: notes,
      },
      {
        figure: "p50 latency, 1,000 members over 2",
        unit: "ms",
        value: cluster.p50,
        baseline: single.p50,
        better: "lower",
      },
      {
        figure: "p99 latency, 1,000 members over 2",
        unit: "ms",
        value: cluster.p99,
        baseline: single.p99,
        better: "lower",
        goal: { value: 50 },
      },
      {
        figure: "CPU per delivery, 1,000 members over 2",
        unit: "µs",
        value: cluster.cpuPerDeliveryUs,
        baseline: single.cpuPerDeliveryUs,
        better: "lower",
        note: "both instances and redis-server, against one instance",
        goal: { ratio: 1.5 },
      },
    ];
  },
};

async function withRedis<T>(run: (redis: { url: string; pid: number }) => Promise<T>): Promise<T> {
  await using redis = await RedisServer.start();
  return await run({ url: redis.url, pid: redis.pid });
}
