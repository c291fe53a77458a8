/** Every benchmark scenario, in the order `deno task bench` runs them. */
import type { Scenario } from "../scenario.ts";
import { chatScenario } from "./chat.ts";
import { filesScenario } from "./files.ts";

export const SCENARIOS: Scenario[] = [chatScenario, filesScenario];
