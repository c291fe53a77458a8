/** Every benchmark scenario, in the order `deno task bench` runs them. */
import type { Scenario } from "../scenario.ts";
import { chatScenario } from "./chat.ts";
import { chatClusterScenario } from "./chat_cluster.ts";
import { chatWebScenario } from "./chat_web.ts";
import { filesScenario } from "./files.ts";
import { filesListScenario } from "./files_list.ts";
import { filesManyScenario } from "./files_many.ts";
import { idleConnections } from "./idle.ts";
import { tcpConnect, tcpPipelined, udpMessage } from "./message.ts";
import { resetsBeforeAccept } from "./resets.ts";
import { soak } from "./soak.ts";
import { startup } from "./startup.ts";
import { webScenario } from "./web.ts";

export const SCENARIOS: Scenario[] = [
  tcpPipelined,
  tcpConnect,
  udpMessage,
  chatScenario,
  chatClusterScenario,
  chatWebScenario,
  filesScenario,
  filesManyScenario,
  filesListScenario,
  startup,
  idleConnections,
  resetsBeforeAccept,
  webScenario,
  soak,
];
