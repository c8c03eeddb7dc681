/**
 * The worker pool for background work on logs: compaction (decoding and re-encoding records) and
 * batch-id scans (reading whole segments). Neither may run on the event loop next to appends. One
 * thread by default: this is background work, and this machine has two cores, one of which the
 * broker's event loop needs.
 */
import { Piscina } from "piscina";
import { decodeBatchIds, type BatchIdEntry, type BatchIdScanTask } from "./batch-id-scan.js";
import type { CompactedSegment, CompactionTask } from "./compaction.js";
import type { LogWorkerResult, LogWorkerTask } from "./log-worker.js";

export class LogWorkerPool {
  private readonly pool: Piscina<LogWorkerTask, LogWorkerResult>;

  constructor(options: { threads?: number } = {}) {
    this.pool = new Piscina<LogWorkerTask, LogWorkerResult>({
      filename: new URL("./log-worker.js", import.meta.url).href,
      minThreads: 0,
      maxThreads: options.threads ?? 1,
      // Background work comes now and then; let the thread go between bursts.
      idleTimeout: 10_000,
      // One task per log at a time, a few logs at once: a bound only guards against bugs.
      maxQueue: "auto",
      // Piscina's default atomics ("sync") parks the thread between tasks, which is right: every
      // task closes the files it opens before it resolves.
    });
  }

  async compact(task: CompactionTask): Promise<CompactedSegment[]> {
    const result = await this.pool.run({ type: "compact", ...task });
    if (!Array.isArray(result)) throw new Error("log worker: a compaction answered with something else");
    return result;
  }

  async scanBatchIds(task: BatchIdScanTask): Promise<BatchIdEntry[]> {
    const result = await this.pool.run({ type: "scan-batch-ids", ...task });
    if (!(result instanceof Uint8Array)) throw new Error("log worker: a batch-id scan answered with something else");
    return decodeBatchIds(result);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
