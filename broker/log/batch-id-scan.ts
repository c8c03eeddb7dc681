/**
 * Lists the batch ids of a log's data entries from a Raft index on: what a partition needs to
 * rebuild its dedup index (batch id → offsets) when it becomes leader or builds a snapshot. Runs in
 * the log worker pool; it reads every byte of the scanned segments (page cache, in practice: the
 * dedup window is the recent past), so it must not run on the event loop.
 *
 * The answer is packed (40 bytes per batch: id, then Raft index, base offset and next offset as
 * f64): one buffer to pass between threads, not hundreds of thousands of objects.
 */
import { closeSync, openSync } from "node:fs";
import { BATCH_ID_SIZE, FrameKind, frameBatchId } from "./frame.js";
import { FrameScanner } from "./frame-scanner.js";

export interface BatchIdScanTask {
  /** Segments to read, oldest first, with the bytes of whole frames in each. */
  segments: Array<{ path: string; length: number }>;
  fromIndex: number;
}

export const BATCH_ID_RECORD_SIZE = BATCH_ID_SIZE + 24;

/** One data entry's batch id and where it sits. */
export interface BatchIdEntry {
  batchId: Buffer;
  index: number;
  offset: bigint;
  nextOffset: bigint;
}

export async function scanBatchIds(task: BatchIdScanTask): Promise<Uint8Array> {
  const records: Buffer[] = [];
  for (const s of task.segments) {
    const fd = openSync(s.path, "r");
    try {
      const scanner = new FrameScanner(fd, 0, s.length, false);
      for (let step = await scanner.next(); step.type === "frame"; step = await scanner.next()) {
        const h = step.header;
        if (h.kind !== FrameKind.Batch || h.index < task.fromIndex) continue;
        const id = frameBatchId(step.buf, step.at);
        if (id.every((b) => b === 0)) continue;
        const record = Buffer.allocUnsafe(BATCH_ID_RECORD_SIZE);
        id.copy(record, 0);
        record.writeDoubleLE(h.index, BATCH_ID_SIZE);
        record.writeDoubleLE(h.offset, BATCH_ID_SIZE + 8);
        record.writeDoubleLE(h.nextOffset, BATCH_ID_SIZE + 16);
        records.push(record);
      }
    } finally {
      closeSync(fd);
    }
  }
  const out = new Uint8Array(records.length * BATCH_ID_RECORD_SIZE);
  records.forEach((r, i) => out.set(r, i * BATCH_ID_RECORD_SIZE));
  return out;
}

export function decodeBatchIds(packed: Uint8Array): BatchIdEntry[] {
  const buf = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  const out: BatchIdEntry[] = [];
  for (let at = 0; at < buf.length; at += BATCH_ID_RECORD_SIZE) {
    out.push({
      batchId: Buffer.from(buf.subarray(at, at + BATCH_ID_SIZE)),
      index: buf.readDoubleLE(at + BATCH_ID_SIZE),
      offset: BigInt(buf.readDoubleLE(at + BATCH_ID_SIZE + 8)),
      nextOffset: BigInt(buf.readDoubleLE(at + BATCH_ID_SIZE + 16)),
    });
  }
  return out;
}
