/**
 * Start-up: how long from spawning `deno run main.ts ...` until the server
 * printed every `Listening on` line, and until a client command exited:
 * `connect --help` and every mode's --help, and one exchange of each mode
 * with a running server. The baselines are the floor Deno itself sets: a bare
 * script that binds one TCP port and prints its line (for the servers), and
 * a script that prints one line and exits (for the clients).
 *
 * The samples are taken in rounds, each round one start of every command and
 * baseline in turn, so a drift in the machine's load moves both sides of a
 * ratio alike.
 */
import { ALL_PORTS_ZERO, benchScript, ServerUnderTest, SOCKETKIT } from "../_server.ts";
import type { Measurement, Scenario } from "../scenario.ts";

/** `connect MODE --help` and `connect X`: ≤ 1.3x the bare script (issue 19). */
const CLIENT_GOAL = 1.3;
/** `serve`: ≤ 2x the bare listening script (issue 19). */
const SERVER_GOAL = 2;

/** Median of a non-empty list. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Milliseconds from spawn to the last Listening line; the server is stopped again. */
async function timeToListening(
  args: string[],
  expect: number | "settle",
): Promise<{ ms: number; labels: string[] }> {
  await using server = await ServerUnderTest.start(args, { expect });
  return { ms: server.listeningMs, labels: [...server.ports.keys()] };
}

/** Milliseconds from spawn to exit, `input` on its stdin; throws on a non-zero exit. */
async function timeToExit(args: string[], input?: string): Promise<number> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(15_000), // bounded even if it hangs
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const output = await child.output();
  const ms = performance.now() - started;
  if (!output.success) {
    throw new Error(
      `"${args.join(" ")}" exited ${output.code}: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return ms;
}

/** One command measured in every round. */
interface Probe {
  figure: string;
  /** One sample, in ms; `round` makes names and paths unique. */
  sample(round: number): Promise<number>;
  /** The probe whose samples are this one's baseline (none for a baseline). */
  baseline?: "listen" | "exit";
  note?: string;
}

/** Start-up times of `serve`, and of `connect` with every mode. */
export const startup: Scenario = {
  name: "startup",
  description:
    "Start-up: spawn to every Listening line; connect --help, each mode's --help and one exchange of each mode to exit",
  async run(options) {
    const rounds = options.quick ? 3 : 9;
    const filesDir = await Deno.makeTempDir({ prefix: "socketkit-bench-" });
    const workDir = await Deno.makeTempDir({ prefix: "socketkit-bench-client-" });
    try {
      const serve = [...SOCKETKIT, "serve", ...ALL_PORTS_ZERO, "--quiet", "--files-dir", filesDir];
      // The server the clients talk to: its own files dir, so the measured serves start empty.
      const target = await ServerUnderTest.start(
        [...SOCKETKIT, "serve", ...ALL_PORTS_ZERO, "--quiet", "--files-dir", `${filesDir}-target`],
        { expect: "settle" },
      );
      try {
        const connect = (...args: string[]) => [...SOCKETKIT, "connect", ...args];
        const upload = `${workDir}/upload.bin`;
        await Deno.writeFile(upload, new Uint8Array(4096).fill(0x61));
        const port = (label: string) => String(target.port(label));
        let labels: string[] = [];
        const probes: Probe[] = [
          {
            figure: "bare listen",
            sample: async () =>
              (await timeToListening(benchScript("./baselines/tcp_line_echo.ts"), 1)).ms,
          },
          {
            figure: "bare exit",
            sample: () => timeToExit(benchScript("./baselines/noop.ts")),
          },
          {
            figure: "serve --services message: spawn to Listening",
            sample: async () => (await timeToListening([...serve, "--services", "message"], 2)).ms,
            baseline: "listen",
            note: `median of ${rounds} starts; baseline: a bare Deno script binding one port`,
          },
          {
            figure: "serve (all services): spawn to every Listening",
            sample: async () => {
              const result = await timeToListening(serve, "settle");
              labels = result.labels;
              return result.ms;
            },
            baseline: "listen",
          },
          {
            figure: "connect --help: spawn to exit",
            sample: () => timeToExit(connect("--help")),
            baseline: "exit",
            note: "baseline: a Deno script that prints one line",
          },
          ...["info", "chat", "upload", "download", "files", "delete", "rename"].map((mode) => ({
            figure: `connect ${mode} --help: spawn to exit`,
            sample: () => timeToExit(connect(mode, "--help")),
            baseline: "exit" as const,
          })),
          {
            figure: "connect --tcp, one line: spawn to exit",
            sample: () => timeToExit(connect("--tcp", "--tcp-port", port("[TCP Server]")), "hi\n"),
            baseline: "exit",
          },
          {
            figure: "connect --udp, one line: spawn to exit",
            sample: () => timeToExit(connect("--udp", "--udp-port", port("[UDP Server]")), "hi\n"),
            baseline: "exit",
          },
          {
            figure: "connect info STATUS: spawn to exit",
            sample: () =>
              timeToExit(connect("info", "STATUS", "--info-port", port("[Info Server]"))),
            baseline: "exit",
          },
          {
            figure: "connect chat, one line: spawn to exit",
            sample: (round) =>
              timeToExit(
                connect("chat", "--name", `bench${round}`, "--chat-port", port("[Chat Server]")),
                "hi\n",
              ),
            baseline: "exit",
          },
          {
            figure: "connect files: spawn to exit",
            sample: () => timeToExit(connect("files", "--file-port", port("[File Server]"))),
            baseline: "exit",
          },
          {
            figure: "connect upload, 4 KB: spawn to exit",
            sample: () =>
              timeToExit(
                connect("upload", upload, "--force", "--file-port", port("[File Server]")),
              ),
            baseline: "exit",
            note: "4 KB hash with the JavaScript SHA-256: node:crypto is not loaded",
          },
          {
            figure: "connect download, 4 KB: spawn to exit",
            sample: (round) =>
              timeToExit(connect(
                "download",
                "upload.bin",
                ...[
                  "--output",
                  `${workDir}/down${round}.bin`,
                  "--file-port",
                  port("[File Server]"),
                ],
              )),
            baseline: "exit",
          },
        ];
        // The download's file is there whichever way the rounds go.
        await timeToExit(
          connect("upload", upload, "--force", "--file-port", port("[File Server]")),
        );
        const samples = new Map<Probe, number[]>(probes.map((probe) => [probe, []]));
        // One round not counted: it fills Deno's module cache and the server's files.
        // Every other run takes the round backwards, so no command always follows the same one.
        const order = (options.run ?? 0) % 2 === 0 ? probes : [...probes].reverse();
        for (let round = -1; round < rounds; round++) {
          for (const probe of order) {
            const ms = await probe.sample(round + 1);
            if (round >= 0) samples.get(probe)!.push(ms);
          }
        }
        const listen = median(samples.get(probes[0]!)!);
        const exit = median(samples.get(probes[1]!)!);
        return probes.filter((probe) => probe.baseline !== undefined).map((probe): Measurement => {
          const note = probe.figure.startsWith("serve (all")
            ? `${labels.length} listeners: ${labels.join(" ")}`
            : probe.note;
          return {
            figure: probe.figure,
            unit: "ms",
            value: median(samples.get(probe)!),
            baseline: probe.baseline === "listen" ? listen : exit,
            better: "lower",
            goal: { ratio: probe.baseline === "listen" ? SERVER_GOAL : CLIENT_GOAL },
            ...(note === undefined ? {} : { note }),
          };
        });
      } finally {
        await target.stop();
      }
    } finally {
      await Deno.remove(filesDir, { recursive: true });
      await Deno.remove(`${filesDir}-target`, { recursive: true }).catch(() => {});
      await Deno.remove(workDir, { recursive: true });
    }
  },
};
