/** Process measurements for benchmarks, read from /proc (Linux). */

/** Peak resident set size (VmHWM) of a process in bytes, or NaN if unreadable. */
export async function peakRssBytes(pid: number): Promise<number> {
  return await statusField(pid, "VmHWM");
}

/** Current resident set size (VmRSS) of a process in bytes, or NaN if unreadable. */
export async function rssBytes(pid: number): Promise<number> {
  return await statusField(pid, "VmRSS");
}

/** User + system CPU time of a process so far, in milliseconds, or NaN. */
export async function cpuTimeMs(pid: number): Promise<number> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

async function statusField(pid: number, field: string): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kb = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1];
    return kb ? Number(kb) * 1024 : NaN;
  } catch {
    return NaN;
  }
}
