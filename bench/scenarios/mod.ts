/** Every benchmark scenario, in the order `deno task bench` runs them. */
import type { Scenario } from "../scenario.ts";
import { chatScenario } from "./chat.ts";
import { chatClusterScenario } from "./chat_cluster.ts";
import { filesScenario } from "./files.ts";
import { filesManyScenario } from "./files_many.ts";
import { idleConnections } from "./idle.ts";
import { tcpConnect, tcpPipelined, udpMessage } from "./message.ts";
import { resetsBeforeAccept } from "./resets.ts";
import { soak } from "./soak.ts";
import { startup } from "./startup.ts";

export const SCENARIOS: Scenario[] = [
  tcpPipelined,
  tcpConnect,
  udpMessage,
  chatScenario,
  chatClusterScenario,
  filesScenario,
  filesManyScenario,
  startup,
  idleConnections,
  resetsBeforeAccept,
  soak,
];
