/**
 * `bench profile DIR`: what the V8 CPU profiles of a run (`--cpu-prof DIR`) say, one summary per
 * main-thread profile: CPU time busy, and the functions that took it (self time, and inclusive time
 * of our own functions), so a claim like "socket writes and GC dominate the leader" can be checked.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The parts of a `.cpuprofile` (Chrome DevTools format) this reads. */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  /** Seconds the thread ran (everything but "(idle)"). */
  busySeconds: number;
  /** Share of busy time per function, by self time, largest first. */
  self: Array<{ fn: string; percent: number }>;
  /** Share of busy time under each function of ours (dist/), largest first. */
  inclusive: Array<{ fn: string; percent: number }>;
}

function frameName(n: CpuProfile["nodes"][number]): string {
  const url = n.callFrame.url.replace(/.*\/(dist|node_modules)\//, "$1/");
  return `${n.callFrame.functionName || "(anonymous)"}${url ? ` ${url}:${n.callFrame.lineNumber + 1}` : ""}`;
}

export function summarizeProfile(file: string, p: CpuProfile, top = 15): ProfileSummary {
  const time = new Map<number, number>();
  p.samples.forEach((id, i) => time.set(id, (time.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  // Walks the call tree from the root, carrying the names on the stack (counted once each).
  const walk = (id: number, stack: Set<string>): void => {
    const n = byId.get(id)!;
    const name = frameName(n);
    const t = time.get(id) ?? 0;
    const inner = new Set(stack).add(name);
    if (t > 0 && n.callFrame.functionName !== "(idle)") {
      busy += t;
      self.set(name, (self.get(name) ?? 0) + t);
      for (const s of inner) inclusive.set(s, (inclusive.get(s) ?? 0) + t);
    }
    for (const c of n.children ?? []) walk(c, inner);
  };
  if (p.nodes.length > 0) walk(p.nodes[0].id, new Set());
  const ranked = (m: Map<string, number>, keep: (fn: string) => boolean): Array<{ fn: string; percent: number }> =>
    [...m]
      .filter(([fn]) => keep(fn))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, t]) => ({ fn, percent: Number(((100 * t) / Math.max(1, busy)).toFixed(1)) }));
  return { file, busySeconds: Number((busy / 1e6).toFixed(2)), self: ranked(self, () => true), inclusive: ranked(inclusive, (fn) => fn.includes(" dist/")) };
}

/** Summaries of every main-thread profile in `dir` (Node names worker threads' profiles `….N.00M` with N > 0). */
export function summarizeProfiles(dir: string, top?: number): ProfileSummary[] {
  return readdirSync(dir)
    .filter((f) => /^CPU\..*\.0\.\d+\.cpuprofile$/.test(f))
    .sort()
    .map((f) => summarizeProfile(f, JSON.parse(readFileSync(join(dir, f), "utf8")) as CpuProfile, top));
}
