/**
 * The payload of a partition's Raft entries.
 *
 * A data entry is a 17-byte Flotilla header followed by ONE Kafka record batch, byte for byte:
 *
 *   byte  size  field
 *      0     1  kind     1 = record batch
 *      1    16  batchId  the producer's batch UUID (the dedup key)
 *     17     …  batch    RecordBatch v2, base offset and leader epoch already stamped by the leader
 *
 * Anything else is a control entry: the leader's no-op of a term (an empty Normal entry) or a
 * configuration change (EntryType.ConfChange). Control entries take no offsets.
 *
 * On disk the SegmentLog frame holds the batch id in its own header field, so a data entry is
 * written as `{ batch: view of bytes 17.., batchId: view of bytes 1..17 }` — no copy — and only a
 * synchronous catch-up read from disk has to rebuild the 17-byte header (one allocation per entry,
 * the payload is read straight into it).
 */
import { EntryType, type Entry } from "../../protocol/raft.js";
import type { ProducerBatch } from "./producer-sequence.js";

export const ENTRY_HEADER_SIZE = 17;
export const BATCH_ID_SIZE = 16;
export const EntryKind = { RecordBatch: 1 } as const;

/** Offsets of the batch header fields this module reads (see protocol/record-batch.ts). */
const BATCH_LAST_OFFSET_DELTA = 23;
const BATCH_PRODUCER_ID = 43;
const BATCH_PRODUCER_EPOCH = 51;
const BATCH_BASE_SEQUENCE = 53;

/** Builds a data entry's payload: the one copy of the producer's batch on the produce path. */
export function encodeDataEntry(batchId: Uint8Array, batch: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(ENTRY_HEADER_SIZE + batch.length);
  out[0] = EntryKind.RecordBatch;
  out.set(batchId, 1);
  out.set(batch, ENTRY_HEADER_SIZE);
  return out;
}

export function isDataEntry(e: Entry): boolean {
  return e.type === EntryType.Normal && e.data.length > ENTRY_HEADER_SIZE && e.data[0] === EntryKind.RecordBatch;
}

function asBuffer(data: Uint8Array, from: number, to: number): Buffer {
  return Buffer.from(data.buffer, data.byteOffset + from, to - from);
}

/** The record batch of a data entry (a view, no copy). */
export function entryBatch(data: Uint8Array): Buffer {
  return asBuffer(data, ENTRY_HEADER_SIZE, data.length);
}

/** The batch id of a data entry (a view, no copy). */
export function entryBatchId(data: Uint8Array): Buffer {
  return asBuffer(data, 1, ENTRY_HEADER_SIZE);
}

/** Base offset and offset after the last record of a data entry's (stamped) batch. */
export function entryOffsets(data: Uint8Array): { base: number; next: number } {
  const dv = new DataView(data.buffer, data.byteOffset + ENTRY_HEADER_SIZE, data.length - ENTRY_HEADER_SIZE);
  const base = Number(dv.getBigInt64(0));
  return { base, next: base + dv.getInt32(BATCH_LAST_OFFSET_DELTA) + 1 };
}

/**
 * The idempotence fields of the batch at `at` in `buf` (a checked header), or undefined for a
 * batch of no idempotent producer (producer id -1, or any negative id or sequence).
 */
export function batchProducer(buf: Uint8Array, at = 0): ProducerBatch | undefined {
  const dv = new DataView(buf.buffer, buf.byteOffset + at, buf.length - at);
  const producerId = dv.getBigInt64(BATCH_PRODUCER_ID);
  const firstSeq = dv.getInt32(BATCH_BASE_SEQUENCE);
  if (producerId < 0n || firstSeq < 0) return undefined;
  const epoch = dv.getInt16(BATCH_PRODUCER_EPOCH);
  return { producerId, epoch, firstSeq, lastSeq: (firstSeq + dv.getInt32(BATCH_LAST_OFFSET_DELTA)) % 2 ** 31 };
}

/** The idempotence fields of a data entry's batch. */
export function entryProducer(data: Uint8Array): ProducerBatch | undefined {
  return batchProducer(data, ENTRY_HEADER_SIZE);
}

export function batchIdKey(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString("hex");
}
