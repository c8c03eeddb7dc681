/**
 * The worker pool compaction runs in: CPU work (decoding and re-encoding records) that must never
 * run on the event loop next to appends. One thread by default: compaction is background work and
 * this machine has two cores, one of which the broker's event loop needs.
 */
import { Piscina } from "piscina";
import type { CompactedSegment, CompactionTask } from "./compaction-worker.js";

export class CompactionPool {
  private readonly pool: Piscina<CompactionTask, CompactedSegment[]>;

  constructor(options: { threads?: number } = {}) {
    this.pool = new Piscina<CompactionTask, CompactedSegment[]>({
      filename: new URL("./compaction-worker.js", import.meta.url).href,
      minThreads: 0,
      maxThreads: options.threads ?? 1,
      // Compaction runs now and then; let the thread go between runs.
      idleTimeout: 10_000,
      // One compaction per log at a time, a few logs at once: a bound only guards against bugs.
      maxQueue: "auto",
      // Piscina's default atomics ("sync") parks the thread between tasks, which is right: the
      // task closes every file it opens before it resolves.
    });
  }

  run(task: CompactionTask): Promise<CompactedSegment[]> {
    return this.pool.run(task);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
