/** `deno task bench`: placeholder until the runner lands (issue 6). */
import { SCENARIOS } from "./scenarios/mod.ts";

console.log(`${SCENARIOS.length} scenarios registered; the runner is not written yet`);
