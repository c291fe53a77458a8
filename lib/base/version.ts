/** The program's version, read once from deno.json so there is one place to bump it. */
import denoJson from "../../deno.json" with { type: "json" };

/** e.g. "0.1.0". */
export const VERSION: string = denoJson.version;
