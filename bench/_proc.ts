/**
 * Process measurements for benchmarks, read from /proc (Linux). Deno grants
 * /proc only to --allow-all, so when reading is refused the file is read
 * through `cat` instead (needs --allow-run, which the bench task has).
 */
import process from "node:process";

/** Peak resident set size (VmHWM) of a process in bytes, or NaN if unreadable. */
export async function peakRssBytes(pid: number): Promise<number> {
  return await statusField(pid, "VmHWM");
}

/** Current resident set size (VmRSS) of a process in bytes, or NaN if unreadable. */
export async function rssBytes(pid: number): Promise<number> {
  return await statusField(pid, "VmRSS");
}

/** Open file descriptors of a process, or NaN if they cannot be counted. */
export async function openFds(pid: number): Promise<number> {
  try {
    let n = 0;
    for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) n++;
    return n;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) return NaN;
  }
  const { success, stdout } = await new Deno.Command("ls", {
    args: [`/proc/${pid}/fd`],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!success) return NaN;
  return new TextDecoder().decode(stdout).split("\n").filter((name) => name !== "").length;
}

/** User + system CPU time of a process so far, in milliseconds, or NaN. */
export async function cpuTimeMs(pid: number): Promise<number> {
  try {
    const stat = await readProc(`/proc/${pid}/stat`);
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/** User + system CPU time of this process so far, in milliseconds; needs no permission. */
export function ownCpuTimeMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** The CPU model name from /proc/cpuinfo, or "unknown". */
export async function cpuModel(): Promise<string> {
  try {
    const info = await readProc("/proc/cpuinfo");
    return info.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

async function statusField(pid: number, field: string): Promise<number> {
  try {
    const status = await readProc(`/proc/${pid}/status`);
    const kb = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1];
    return kb ? Number(kb) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function readProc(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
  }
  const { success, stdout } = await new Deno.Command("cat", {
    args: [path],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!success) throw new Error(`Cannot read "${path}"`);
  return new TextDecoder().decode(stdout);
}
