/**
 * CPU time used by processes, from /proc/<pid>/stat (Linux): user + system time of every thread.
 * On a shared machine wall-clock figures swing with what else runs; the CPU a system spends per
 * record does not, so the benchmarks report it beside throughput.
 */
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux we run on). */
const USER_HZ = 100;

/** CPU seconds `pid` has used so far, or undefined when /proc cannot tell (not Linux, gone). */
export function processCpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  return cpuSecondsFromStat(stat);
}

/** utime + stime of one /proc/<pid>/stat line, in seconds. The command name may hold spaces and parentheses. */
export function cpuSecondsFromStat(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After "pid (comm) ", field 3 (state) is fields[0]; utime and stime are fields 14 and 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / USER_HZ : undefined;
}

/** Total CPU seconds of `pids` so far; undefined when any of them cannot be read. */
export function totalCpuSeconds(pids: readonly number[]): number | undefined {
  let total = 0;
  for (const pid of pids) {
    const s = processCpuSeconds(pid);
    if (s === undefined) return undefined;
    total += s;
  }
  return total;
}
