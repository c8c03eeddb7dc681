/**
 * `bench produce|consume|e2e` (Flotilla alone) and `bench compare` (Flotilla, then NATS
 * JetStream, the same workload and options): starts each system, runs the workload, stops the
 * system, and writes the HTML report when asked. One system runs at a time, so neither competes
 * with the other for the machine.
 */
import { writeFile } from "node:fs/promises";
import type { BenchSystem } from "./bench-system.js";
import { runWorkload, type WorkloadRun, type WorkloadSummary } from "./cluster-workloads.js";
import { FlotillaSystem } from "./flotilla-system.js";
import { JetStreamSystem } from "./jetstream-system.js";
import { Progress } from "./progress.js";
import { renderReport } from "./report.js";
import type { ClusterWorkload, WorkloadOptions } from "./workload-options.js";

export interface CompareResult {
  workload: "compare";
  flotilla: WorkloadSummary;
  jetstream: WorkloadSummary;
  /** Flotilla's figure over JetStream's: above 1 for records/s and below 1 for p99 mean Flotilla is ahead. */
  ratio: { recordsPerSec: number; p99Ms: number };
}

async function measure(workload: ClusterWorkload, start: () => Promise<BenchSystem>, o: WorkloadOptions, progress: Progress): Promise<WorkloadRun> {
  const system = await start();
  try {
    const run = await runWorkload(workload, system, o, progress);
    progress.note(`${system.name} ${workload}: ${run.summary.recordsPerSec} records/s, p99 ${run.summary.p99Ms} ms`);
    return run;
  } finally {
    await system.stop();
  }
}

async function writeReport(o: WorkloadOptions, command: string, runs: WorkloadRun[], progress: Progress): Promise<void> {
  if (!o.report) return;
  const title = runs.length > 1 ? `Flotilla vs NATS JetStream: ${o.workload}` : `Flotilla: ${runs[0].summary.workload}`;
  await writeFile(o.report, renderReport({ title, command, runs }));
  progress.note(`report written to ${o.report}`);
}

export async function runClusterWorkload(workload: ClusterWorkload, o: WorkloadOptions, command: string): Promise<WorkloadSummary> {
  const progress = new Progress(workload);
  const run = await measure(workload, () => FlotillaSystem.start(o, (l) => progress.note(l)), o, progress);
  await writeReport({ ...o, workload }, command, [run], progress);
  return run.summary;
}

export async function runCompare(o: WorkloadOptions, command: string): Promise<CompareResult> {
  const progress = new Progress("compare");
  const say = (l: string): void => progress.note(l);
  // Flotilla first: `flotilla dev` installs nats-server when it is missing, which JetStream needs too.
  const flotilla = await measure(o.workload, () => FlotillaSystem.start(o, say), o, progress);
  const jetstream = await measure(o.workload, () => JetStreamSystem.start(o, say), o, progress);
  await writeReport(o, command, [flotilla, jetstream], progress);
  const ratio = (a: number, b: number): number => (b === 0 ? 0 : Number((a / b).toFixed(2)));
  return {
    workload: "compare",
    flotilla: flotilla.summary,
    jetstream: jetstream.summary,
    ratio: { recordsPerSec: ratio(flotilla.summary.recordsPerSec, jetstream.summary.recordsPerSec), p99Ms: ratio(flotilla.summary.p99Ms, jetstream.summary.p99Ms) },
  };
}
