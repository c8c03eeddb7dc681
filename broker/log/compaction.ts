/**
 * Compaction of sealed segments of a `cleanup.policy=compact` log; runs in the log worker pool
 * (`log-worker.ts`), off the main thread.
 *
 * Pass 1 reads every committed record (the segments to compact, then newer segments up to
 * `maxIndex`) and keeps, per key, the offset of its latest record. Pass 2 rewrites each segment to
 * `<segment>.compacting`, keeping a record iff it is the latest for its key (records without a key
 * are always kept), and dropping a latest record that is a tombstone (null value) once its
 * timestamp is more than `tombstoneRetentionMs` old, so consumers had that long to see the delete.
 *
 * Surviving records keep their offsets: consecutive survivors of one batch are re-encoded as one
 * batch (producer id, epoch and leader epoch carried over), inside a compacted frame that keeps the
 * entry's Raft index. A batch that loses nothing is copied byte for byte; one that cannot be
 * decoded (e.g. compressed) is kept whole: compaction never loses data it does not understand.
 * Only committed entries a snapshot covers may be compacted: Raft never reads them back.
 *
 * The key map holds every distinct key of the compacted range in memory (latin1 strings); Kafka
 * bounds this with a fixed dedupe buffer and several passes, which is the next step if needed.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from "node:fs";
import { decodeRecords, encodeRecordBatch, iterateBatches, readBatchHeader, type DecodedRecord } from "../../protocol/record-batch.js";
import { encodeCompactedFrame, FRAME_HEADER_SIZE, FrameKind, type FrameHeader } from "./frame.js";
import { FrameScanner } from "./frame-scanner.js";
import { SegmentIndex } from "./segment-index.js";

export interface CompactionTask {
  /** Sealed segments to rewrite, oldest first, with the bytes of whole frames in each. */
  segments: Array<{ path: string; length: number }>;
  /** Later segments, read only for newer records of the same keys (up to `maxIndex`). */
  newer: Array<{ path: string; length: number }>;
  /** Highest committed Raft index: newer entries may still be truncated, so they do not count. */
  maxIndex: number;
  now: number;
  tombstoneRetentionMs: number;
  indexIntervalBytes: number;
}

export interface CompactedSegment {
  path: string;
  /** The rewritten file, or undefined when nothing in the segment could be dropped. */
  tmpPath?: string;
  /** The rewritten segment's index file bytes (summary included). */
  index?: Uint8Array;
  recordsRemoved: number;
}

export const COMPACTING_SUFFIX = ".compacting";

async function forEachFrame(
  path: string,
  length: number,
  visit: (h: FrameHeader, frame: Buffer) => boolean | void,
): Promise<void> {
  const fd = openSync(path, "r");
  try {
    const scanner = new FrameScanner(fd, 0, length, false);
    for (;;) {
      const step = await scanner.next();
      if (step.type !== "frame") return;
      if (visit(step.header, step.buf.subarray(step.at, step.at + step.header.length)) === false) return;
    }
  } finally {
    closeSync(fd);
  }
}

/** The record batches inside a batch or compacted frame. */
function batchesOf(frame: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (const span of iterateBatches(frame, FRAME_HEADER_SIZE)) out.push(frame.subarray(span.at, span.at + span.size));
  return out;
}

function keyOf(r: DecodedRecord): string | undefined {
  return r.key === null ? undefined : Buffer.from(r.key.buffer, r.key.byteOffset, r.key.byteLength).toString("latin1");
}

export async function compactSegments(task: CompactionTask): Promise<CompactedSegment[]> {
  const latest = new Map<string, bigint>();
  const learn = (h: FrameHeader, frame: Buffer): boolean => {
    if (h.index > task.maxIndex) return false;
    if (h.kind === FrameKind.Control) return true;
    try {
      for (const batch of batchesOf(frame)) for (const r of decodeRecords(batch)) {
        const k = keyOf(r);
        if (k !== undefined) latest.set(k, r.offset);
      }
    } catch {
      // Undecodable batches are kept whole in pass 2, and teach nothing here.
    }
    return true;
  };
  for (const s of [...task.segments, ...task.newer]) await forEachFrame(s.path, s.length, learn);

  const results: CompactedSegment[] = [];
  for (const s of task.segments) {
    const frames: Buffer[] = [];
    let removed = 0;
    await forEachFrame(s.path, s.length, (h, frame) => {
      if (h.kind === FrameKind.Control) {
        frames.push(Buffer.from(frame));
        return;
      }
      let batches: Buffer[];
      let kept: Buffer[];
      try {
        batches = batchesOf(frame);
        kept = [];
        for (const batch of batches) {
          const records = decodeRecords(batch);
          const survivors = records.filter((r) => {
            const k = keyOf(r);
            if (k === undefined) return true;
            if (latest.get(k) !== r.offset) return false;
            return !(r.value === null && Number(r.timestamp) < task.now - task.tombstoneRetentionMs);
          });
          removed += records.length - survivors.length;
          if (survivors.length === records.length) kept.push(batch);
          else kept.push(...reencode(batch, survivors));
        }
      } catch {
        frames.push(Buffer.from(frame));
        return;
      }
      const unchanged = h.kind === FrameKind.Batch && kept.length === 1 && kept[0] === batches[0];
      frames.push(unchanged ? Buffer.from(frame) : encodeCompactedFrame(h.index, h.term, h.entryType, h.offset, Buffer.concat(kept)));
    });
    if (removed === 0) {
      results.push({ path: s.path, recordsRemoved: 0 });
      continue;
    }
    const tmpPath = s.path + COMPACTING_SUFFIX;
    const index = new SegmentIndex(task.indexIntervalBytes);
    const summary = { length: 0, lastIndex: 0, nextOffset: 0, maxTimestamp: -1, lastFramePosition: 0 };
    const fd = openSync(tmpPath, "w");
    try {
      for (const frame of frames) {
        const h = frameSummary(frame);
        index.observe(h.offset, h.index, h.term, summary.length);
        summary.lastFramePosition = summary.length;
        summary.lastIndex = h.index;
        summary.nextOffset = Math.max(summary.nextOffset, h.nextOffset);
        summary.maxTimestamp = Math.max(summary.maxTimestamp, h.maxTimestamp);
        writeSync(fd, frame, 0, frame.length, summary.length);
        summary.length += frame.length;
      }
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    results.push({ path: s.path, tmpPath, index: index.encode(summary), recordsRemoved: removed });
  }
  return results;
}

/** Offsets, index, term and timestamp of a frame we just built or copied (already verified). */
function frameSummary(frame: Buffer): { offset: number; index: number; term: number; nextOffset: number; maxTimestamp: number } {
  const offset = frame.readUInt32LE(28) + frame.readUInt32LE(32) * 0x1_0000_0000;
  const index = frame.readUInt32LE(12) + frame.readUInt32LE(16) * 0x1_0000_0000;
  const term = frame.readUInt32LE(20) + frame.readUInt32LE(24) * 0x1_0000_0000;
  let nextOffset = offset;
  let maxTimestamp = -1;
  if (frame[9] !== FrameKind.Control) {
    for (const span of iterateBatches(frame, FRAME_HEADER_SIZE)) {
      nextOffset = Number(span.header.baseOffset) + span.header.lastOffsetDelta + 1;
      maxTimestamp = Math.max(maxTimestamp, Number(span.header.maxTimestamp));
    }
  }
  return { offset, index, term, nextOffset, maxTimestamp };
}

/** Survivors of one batch, as batches of consecutive offsets (offsets are never renumbered). */
function reencode(batch: Buffer, survivors: DecodedRecord[]): Buffer[] {
  const h = readBatchHeader(batch, 0);
  const out: Buffer[] = [];
  let run: DecodedRecord[] = [];
  const flush = (): void => {
    if (run.length === 0) return;
    const first = run[0].offset;
    const bytes = encodeRecordBatch(
      run.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp })),
      {
        baseOffset: first,
        producerId: h.producerId,
        producerEpoch: h.producerEpoch,
        baseSequence: h.baseSequence < 0 ? -1 : h.baseSequence + Number(first - h.baseOffset),
        leaderEpoch: h.partitionLeaderEpoch,
      },
    );
    out.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    run = [];
  };
  for (const r of survivors) {
    if (run.length > 0 && r.offset !== run[run.length - 1].offset + 1n) flush();
    run.push(r);
  }
  flush();
  return out;
}
