/**
 * The frame: how one Raft entry sits in a segment file.
 *
 * A partition's Raft log IS its partition log, so a segment stores Raft entries, not bare record
 * batches. An entry is either a data entry (its payload is one Kafka RecordBatch v2, offsets already
 * stamped by the leader) or a control entry (a no-op or a configuration change: it takes no offsets
 * and its payload is opaque bytes). Each entry is written as one frame:
 *
 *   byte  size  field
 *      0     4  crc      CRC-32C (LE) of bytes 4..52 followed by the payload's "covered prefix" (below)
 *      4     4  length   u32 LE, the whole frame: 52-byte header + payload
 *      8     1  version  1
 *      9     1  kind     1 = record batch, 2 = control, 3 = compacted (see below)
 *     10     1  type     the Raft entry type (EntryType: 0 normal, 1 conf change)
 *     11     1  zero
 *     12     8  index    u64 LE, the Raft index of the entry
 *     20     8  term     u64 LE, the Raft term of the entry
 *     28     8  offset   u64 LE, batch: its base offset; control: the log's next offset at that point
 *     36    16  batchId  the producer's batch UUID (dedup survives restarts); zeros for control frames
 *     52     …  payload  batch bytes exactly as received, or the control entry's data
 *
 * Why a frame CRC on top of the batch CRC: the batch's own CRC-32C starts at byte 21, so the base
 * offset, length, leader epoch, magic and the CRC field itself are unprotected, and so is everything
 * Raft needs (index, term). The frame CRC covers the header plus exactly that unprotected prefix of
 * a batch (21 bytes) or the whole payload of a control frame; the batch CRC then chains the rest.
 * Appends therefore never checksum record bytes twice, and a scan that checks both CRCs has checked
 * every byte of the file.
 *
 * A compacted frame replaces a batch frame when compaction (`compaction.ts`) removed some
 * of its records: same Raft index, term and `offset` (the original base offset, so segment names
 * and index points stay valid), and a payload of zero or more whole batches holding the surviving
 * records at their original offsets. Compaction is not the hot path, so its frame CRC simply covers
 * the whole payload. Raft never reads these entries: only entries a snapshot covers are compacted.
 *
 * Numbers above 2^32 are stored as two u32 halves; Raft indexes, terms and offsets stay below 2^53
 * (an offset of 2^53 at a million records per second is 285 years away), which `decodeFrameHeader`
 * checks rather than assumes.
 */
import { crc32c } from "@node-rs/crc32";
import { iterateBatches, readBatchHeader, RECORD_BATCH_HEADER_SIZE, verifyBatchCrc } from "../../protocol/record-batch.js";

export const FRAME_HEADER_SIZE = 52;
const FRAME_VERSION = 1;
/** Bytes at the start of a record batch that its own CRC does not cover. */
const BATCH_UNCOVERED_PREFIX = 21;
/** No frame may be larger than this: a corrupt length must not make the scanner allocate gigabytes. */
export const MAX_FRAME_SIZE = 64 * 1024 * 1024;

export const FrameKind = {
  Batch: 1,
  Control: 2,
  Compacted: 3,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export const BATCH_ID_SIZE = 16;
const ZERO_BATCH_ID = new Uint8Array(BATCH_ID_SIZE);

export interface FrameHeader {
  kind: FrameKind;
  /** Raft entry type (0 normal, 1 conf change). */
  entryType: number;
  /** Whole frame size in bytes, header included. */
  length: number;
  index: number;
  term: number;
  /** Batch: base offset. Control: the next offset of the log when the entry was appended. */
  offset: number;
  /**
   * Batch: offset after its last record. Control: equal to `offset` (it takes no offsets).
   * Compacted: after its last surviving record (`offset` if none survived).
   */
  nextOffset: number;
  /** Batch: its max timestamp (ms). Control: -1. */
  maxTimestamp: number;
}

/** What a caller appends: one Raft entry, carrying a record batch or opaque control bytes. */
export type FrameInput =
  | { kind: typeof FrameKind.Batch; index: number; term: number; entryType: number; batchId?: Uint8Array; batch: Buffer }
  | { kind: typeof FrameKind.Control; index: number; term: number; entryType: number; data: Uint8Array };

function writeU64(buf: Buffer, at: number, n: number): void {
  buf.writeUInt32LE(n % 0x1_0000_0000, at);
  buf.writeUInt32LE(Math.floor(n / 0x1_0000_0000), at + 4);
}

function readU64(buf: Buffer, at: number): number {
  const hi = buf.readUInt32LE(at + 4);
  if (hi >= 0x20_0000) throw new FrameError(`u64 at ${at} is above 2^53`);
  return hi * 0x1_0000_0000 + buf.readUInt32LE(at);
}

/** A frame that cannot be trusted: torn, corrupt, or not ours. Recovery cuts the log here. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

/**
 * Builds the 52-byte header for `input` and returns it with the payload, ready for one writev.
 * The payload is not copied. For a batch, `offset`/`nextOffset` are read from the batch itself.
 */
export function encodeFrame(input: FrameInput, controlOffset: number): { header: Buffer; payload: Buffer; info: FrameHeader } {
  const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  let payload: Buffer;
  let offset: number;
  let nextOffset: number;
  let maxTimestamp: number;
  let covered: number;
  let batchId: Uint8Array;
  if (input.kind === FrameKind.Batch) {
    payload = input.batch;
    const h = readBatchHeader(payload, 0);
    if (h.size !== payload.length) {
      throw new FrameError(`batch length field says ${h.size} bytes, ${payload.length} were given`);
    }
    offset = Number(h.baseOffset);
    nextOffset = offset + h.lastOffsetDelta + 1;
    maxTimestamp = Number(h.maxTimestamp);
    covered = BATCH_UNCOVERED_PREFIX;
    batchId = input.batchId ?? ZERO_BATCH_ID;
    if (batchId.length !== BATCH_ID_SIZE) throw new FrameError(`batch id must be ${BATCH_ID_SIZE} bytes`);
  } else {
    payload = Buffer.isBuffer(input.data) ? input.data : Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength);
    offset = controlOffset;
    nextOffset = controlOffset;
    maxTimestamp = -1;
    covered = payload.length;
    batchId = ZERO_BATCH_ID;
  }
  const length = FRAME_HEADER_SIZE + payload.length;
  if (length > MAX_FRAME_SIZE) throw new FrameError(`frame of ${length} bytes is above the ${MAX_FRAME_SIZE} limit`);
  header.writeUInt32LE(length, 4);
  header[8] = FRAME_VERSION;
  header[9] = input.kind;
  header[10] = input.entryType;
  header[11] = 0;
  writeU64(header, 12, input.index);
  writeU64(header, 20, input.term);
  writeU64(header, 28, offset);
  header.set(batchId, 36);
  header.writeUInt32LE(crc32c(payload.subarray(0, covered), crc32c(header.subarray(4))), 0);
  return {
    header,
    payload,
    info: { kind: input.kind, entryType: input.entryType, length, index: input.index, term: input.term, offset, nextOffset, maxTimestamp },
  };
}

/**
 * Decodes the frame at `buf[at..]`. With `verify` (recovery scans) it checks the header CRC and,
 * for a batch, its length, base offset and CRC; reads of a recovered log skip the CRCs.
 * Returns undefined when `buf` ends before the frame does (the caller reads more, or at the end of
 * the file calls it a torn tail); throws FrameError when the bytes are wrong.
 */
export function decodeFrame(buf: Buffer, at: number, verify: boolean): FrameHeader | undefined {
  if (buf.length - at < FRAME_HEADER_SIZE) return undefined;
  const length = buf.readUInt32LE(at + 4);
  if (length < FRAME_HEADER_SIZE || length > MAX_FRAME_SIZE) throw new FrameError(`frame length ${length} is impossible`);
  if (buf.length - at < length) return undefined;
  const kind = buf[at + 9];
  if (kind !== FrameKind.Batch && kind !== FrameKind.Control && kind !== FrameKind.Compacted) {
    throw new FrameError(`unknown frame kind ${kind}`);
  }
  const payloadAt = at + FRAME_HEADER_SIZE;
  const payloadLength = length - FRAME_HEADER_SIZE;
  const covered = kind === FrameKind.Batch ? BATCH_UNCOVERED_PREFIX : payloadLength;
  if (covered > payloadLength) throw new FrameError(`batch frame of ${length} bytes is too short`);
  if (verify) {
    const crc = crc32c(buf.subarray(payloadAt, payloadAt + covered), crc32c(buf.subarray(at + 4, payloadAt)));
    if (crc !== buf.readUInt32LE(at)) throw new FrameError("frame CRC mismatch");
  }
  if (buf[at + 8] !== FRAME_VERSION) throw new FrameError(`unknown frame version ${buf[at + 8]}`);
  const index = readU64(buf, at + 12);
  const term = readU64(buf, at + 20);
  const offset = readU64(buf, at + 28);
  if (kind === FrameKind.Control) {
    return { kind, entryType: buf[at + 10], length, index, term, offset, nextOffset: offset, maxTimestamp: -1 };
  }
  if (kind === FrameKind.Compacted) return decodeCompacted(buf, at, length, index, term, offset, verify);
  if (payloadLength < RECORD_BATCH_HEADER_SIZE) throw new FrameError(`batch of ${payloadLength} bytes is shorter than its header`);
  let h: ReturnType<typeof readBatchHeader>;
  try {
    h = readBatchHeader(buf, payloadAt);
  } catch (err) {
    throw new FrameError(`batch header does not decode: ${(err as Error).message}`);
  }
  if (h.size !== payloadLength) throw new FrameError("batch length differs from the frame's");
  if (Number(h.baseOffset) !== offset) throw new FrameError("batch base offset differs from the frame's");
  if (verify && !verifyBatchCrc(buf, payloadAt)) throw new FrameError("record batch CRC mismatch");
  return {
    kind,
    entryType: buf[at + 10],
    length,
    index,
    term,
    offset,
    nextOffset: offset + h.lastOffsetDelta + 1,
    maxTimestamp: Number(h.maxTimestamp),
  };
}

/** The batch id stored in the frame at `buf[at..]` (already verified by `decodeFrame`). */
export function frameBatchId(buf: Buffer, at: number): Buffer {
  return buf.subarray(at + 36, at + 36 + BATCH_ID_SIZE);
}

function decodeCompacted(buf: Buffer, at: number, length: number, index: number, term: number, offset: number, verify: boolean): FrameHeader {
  let nextOffset = offset;
  let maxTimestamp = -1;
  try {
    for (const span of iterateBatches(buf, at + FRAME_HEADER_SIZE, at + length, { verifyCrc: verify })) {
      const base = Number(span.header.baseOffset);
      if (base < nextOffset) throw new FrameError("compacted batches out of order");
      nextOffset = base + span.header.lastOffsetDelta + 1;
      maxTimestamp = Math.max(maxTimestamp, Number(span.header.maxTimestamp));
    }
  } catch (err) {
    if (err instanceof FrameError) throw err;
    throw new FrameError(`compacted batches do not decode: ${(err as Error).message}`);
  }
  return { kind: FrameKind.Compacted, entryType: buf[at + 10], length, index, term, offset, nextOffset, maxTimestamp };
}

/** A compacted frame (see the module comment): `batches` are whole batches, back to back. */
export function encodeCompactedFrame(index: number, term: number, entryType: number, offset: number, batches: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + batches.length);
  frame.writeUInt32LE(frame.length, 4);
  frame[8] = FRAME_VERSION;
  frame[9] = FrameKind.Compacted;
  frame[10] = entryType;
  frame[11] = 0;
  writeU64(frame, 12, index);
  writeU64(frame, 20, term);
  writeU64(frame, 28, offset);
  frame.fill(0, 36, FRAME_HEADER_SIZE);
  batches.copy(frame, FRAME_HEADER_SIZE);
  frame.writeUInt32LE(crc32c(frame.subarray(4)), 0);
  return frame;
}
