/**
 * The Piscina task of the log worker pool: one entry point, dispatching on the task's type, so
 * background work on logs (compaction, batch-id scans for dedup and snapshots) shares a pool.
 */
import { scanBatchIds, type BatchIdScanTask } from "./batch-id-scan.js";
import { compactSegments, type CompactedSegment, type CompactionTask } from "./compaction.js";

export type LogWorkerTask = ({ type: "compact" } & CompactionTask) | ({ type: "scan-batch-ids" } & BatchIdScanTask);

/** Compaction answers with its segments, a scan with packed batch ids. */
export type LogWorkerResult = CompactedSegment[] | Uint8Array;

export default function runLogTask(task: LogWorkerTask): Promise<LogWorkerResult> {
  return task.type === "compact" ? compactSegments(task) : scanBatchIds(task);
}
