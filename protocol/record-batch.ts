import { crc32c } from "@node-rs/crc32";
import { allocUninitialized } from "./bytes.js";
import { DecodeError } from "./decode-error.js";

/**
 * Kafka RecordBatch v2 (magic 2), byte for byte (`shared/research/kafka-wire.md` §1).
 *
 * One format on the wire, on disk and in fetch responses: the client encodes a batch once, the
 * leader stamps its base offset and leader epoch in place (both lie before the CRC'd range, so the
 * CRC stays valid), and the same bytes go to disk and back out to consumers. The broker never
 * decodes records; `decodeRecords` is for clients and tests.
 *
 * Layout (big-endian):
 *
 *   off size field
 *     0    8 baseOffset            int64  (stamped by the leader)
 *     8    4 batchLength           int32  bytes after this field; batch size = 12 + batchLength
 *    12    4 partitionLeaderEpoch  int32  (stamped by the leader: its Raft term)
 *    16    1 magic                 int8   = 2
 *    17    4 crc                   uint32 CRC-32C of bytes 21 .. end of batch
 *    21    2 attributes            int16
 *    23    4 lastOffsetDelta       int32
 *    27    8 baseTimestamp         int64
 *    35    8 maxTimestamp          int64
 *    43    8 producerId            int64
 *    51    2 producerEpoch         int16
 *    53    4 baseSequence          int32
 *    57    4 recordCount           int32
 *    61    … records
 *
 * A record: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
 * keyLength varint (-1 = null) | key | valueLength varint | value | headerCount varint |
 * { headerKeyLength varint | key utf8 | headerValueLength varint (-1 = null) | value }*.
 * Varints are zigzag (Protobuf sint32/sint64), not the unsigned varints of flexible Kafka APIs.
 */

export const RECORD_BATCH_HEADER_SIZE = 61;
export const RECORD_BATCH_MAGIC = 2;
/** Bytes of baseOffset + batchLength: a batch is `BATCH_LENGTH_PREFIX + batchLength` bytes. */
export const BATCH_LENGTH_PREFIX = 12;

const OFF_BASE_OFFSET = 0;
const OFF_BATCH_LENGTH = 8;
const OFF_LEADER_EPOCH = 12;
const OFF_MAGIC = 16;
const OFF_CRC = 17;
const OFF_ATTRIBUTES = 21;
const OFF_LAST_OFFSET_DELTA = 23;
const OFF_BASE_TIMESTAMP = 27;
const OFF_MAX_TIMESTAMP = 35;
const OFF_PRODUCER_ID = 43;
const OFF_PRODUCER_EPOCH = 51;
const OFF_BASE_SEQUENCE = 53;
const OFF_RECORD_COUNT = 57;

/** The smallest legal batchLength: a header with no records. */
const MIN_BATCH_LENGTH = RECORD_BATCH_HEADER_SIZE - BATCH_LENGTH_PREFIX;
/** A record is at least 7 bytes (length, attributes, timestampDelta, offsetDelta, keyLength, valueLength, headerCount). */
const MIN_RECORD_SIZE = 7;

/** Bits of the attributes field. */
export const BatchAttributes = {
  /** Bits 0-2: compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd). */
  CompressionMask: 0x07,
  /** Bit 3: timestamps are the broker's append time (maxTimestamp), not the producer's CreateTime. */
  LogAppendTime: 0x08,
  Transactional: 0x10,
  /** Bit 5: a transaction marker (commit/abort); consumers skip these records. */
  Control: 0x20,
  /** Bit 6: set by compaction. */
  DeleteHorizon: 0x40,
} as const;

const CODEC_NAMES: readonly string[] = ["none", "gzip", "snappy", "lz4", "zstd"];

function codecName(codec: number): string {
  return CODEC_NAMES[codec] ?? `unknown codec ${codec}`;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The fixed 61-byte header, decoded. */
export interface BatchHeader {
  baseOffset: bigint;
  batchLength: number;
  /** Total bytes of the batch: `BATCH_LENGTH_PREFIX + batchLength`. */
  size: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

export interface RecordHeader {
  key: string;
  value: Uint8Array | null;
}

export interface RecordInput {
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers?: RecordHeader[];
  /** Milliseconds since the epoch (CreateTime); defaults to the batch's timestamp. */
  timestamp?: bigint;
}

export interface EncodeBatchOptions {
  /** Normally left at 0: the leader stamps the real base offset. */
  baseOffset?: bigint;
  /** -1 (the default) when the producer is not idempotent. */
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  /** Timestamp of records that carry none; defaults to now. */
  timestamp?: bigint;
  /** -1 (the default, as Kafka's producer writes) until the leader stamps its epoch. */
  leaderEpoch?: number;
}

export interface DecodedRecord {
  offset: bigint;
  timestamp: bigint;
  /** Views into the batch, not copies: keep the batch alive (or copy) while you hold them. */
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: RecordHeader[];
}

/** Where one batch lies in a buffer. */
export interface BatchSpan {
  at: number;
  size: number;
  header: BatchHeader;
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function checkPosition(buf: Uint8Array, at: number): void {
  if (!Number.isSafeInteger(at) || at < 0 || at > buf.length) {
    throw new DecodeError(`record batch: position ${at} is outside the buffer of ${buf.length} bytes`);
  }
}

/**
 * Size in bytes of the batch starting at `at` (12 + batchLength), or undefined when fewer than the
 * 12 bytes that say so are there. It reads only baseOffset and batchLength, so a storage scan can
 * step over batches cheaply. Throws DecodeError when batchLength is shorter than a header: such a
 * length can only be garbage, and trusting it could make a scanner stand still.
 */
export function batchSizeAt(buf: Uint8Array, at: number): number | undefined {
  checkPosition(buf, at);
  if (buf.length - at < BATCH_LENGTH_PREFIX) return undefined;
  const batchLength = view(buf).getInt32(at + OFF_BATCH_LENGTH);
  if (batchLength < MIN_BATCH_LENGTH) {
    throw new DecodeError(`record batch at ${at}: batchLength ${batchLength} is below the minimum ${MIN_BATCH_LENGTH}`);
  }
  return BATCH_LENGTH_PREFIX + batchLength;
}

/**
 * Decodes the 61-byte header of the batch at `at` without touching its records. Checks the magic
 * byte, that batchLength covers at least a header, that the whole batch lies inside `buf`, and that
 * recordCount and lastOffsetDelta are not negative. Does not check the CRC (`verifyBatchCrc`).
 */
export function readBatchHeader(buf: Uint8Array, at = 0): BatchHeader {
  checkPosition(buf, at);
  const available = buf.length - at;
  if (available < RECORD_BATCH_HEADER_SIZE) {
    throw new DecodeError(`record batch at ${at}: ${available} bytes, a header needs ${RECORD_BATCH_HEADER_SIZE}`);
  }
  const dv = view(buf);
  const magic = dv.getInt8(at + OFF_MAGIC);
  if (magic !== RECORD_BATCH_MAGIC) {
    throw new DecodeError(`record batch at ${at}: magic ${magic}, only ${RECORD_BATCH_MAGIC} is supported`);
  }
  const batchLength = dv.getInt32(at + OFF_BATCH_LENGTH);
  if (batchLength < MIN_BATCH_LENGTH) {
    throw new DecodeError(`record batch at ${at}: batchLength ${batchLength} is below the minimum ${MIN_BATCH_LENGTH}`);
  }
  const size = BATCH_LENGTH_PREFIX + batchLength;
  if (size > available) {
    throw new DecodeError(`record batch at ${at}: batch of ${size} bytes but only ${available} are there`);
  }
  const recordCount = dv.getInt32(at + OFF_RECORD_COUNT);
  if (recordCount < 0) throw new DecodeError(`record batch at ${at}: negative recordCount ${recordCount}`);
  const lastOffsetDelta = dv.getInt32(at + OFF_LAST_OFFSET_DELTA);
  if (lastOffsetDelta < 0) throw new DecodeError(`record batch at ${at}: negative lastOffsetDelta ${lastOffsetDelta}`);
  return {
    baseOffset: dv.getBigInt64(at + OFF_BASE_OFFSET),
    batchLength,
    size,
    partitionLeaderEpoch: dv.getInt32(at + OFF_LEADER_EPOCH),
    magic,
    crc: dv.getUint32(at + OFF_CRC),
    attributes: dv.getInt16(at + OFF_ATTRIBUTES),
    lastOffsetDelta,
    baseTimestamp: dv.getBigInt64(at + OFF_BASE_TIMESTAMP),
    maxTimestamp: dv.getBigInt64(at + OFF_MAX_TIMESTAMP),
    producerId: dv.getBigInt64(at + OFF_PRODUCER_ID),
    producerEpoch: dv.getInt16(at + OFF_PRODUCER_EPOCH),
    baseSequence: dv.getInt32(at + OFF_BASE_SEQUENCE),
    recordCount,
  };
}

/** CRC-32C over attributes .. end of batch, as stored at byte 17. */
function computeCrc(buf: Uint8Array, at: number, size: number): number {
  return crc32c(buf.subarray(at + OFF_ATTRIBUTES, at + size)) >>> 0;
}

/** True when the batch at `at` is whole and its stored CRC matches its bytes. Never throws on bad bytes. */
export function verifyBatchCrc(buf: Uint8Array, at = 0): boolean {
  let header: BatchHeader;
  try {
    header = readBatchHeader(buf, at);
  } catch (e) {
    if (e instanceof DecodeError) return false;
    throw e;
  }
  return computeCrc(buf, at, header.size) === header.crc;
}

/**
 * Writes baseOffset and partitionLeaderEpoch of the batch at `at` in place. Neither field is
 * covered by the CRC (Kafka put them outside it precisely so the broker can assign them per batch),
 * so the batch stays valid without recomputing anything.
 */
export function stampBatch(buf: Uint8Array, at: number, baseOffset: bigint, leaderEpoch: number): void {
  checkPosition(buf, at);
  if (buf.length - at < RECORD_BATCH_HEADER_SIZE) {
    throw new RangeError(`stampBatch: no batch header at ${at} in a buffer of ${buf.length} bytes`);
  }
  if (baseOffset < 0n || baseOffset > INT64_MAX) throw new RangeError(`stampBatch: base offset ${baseOffset} out of range`);
  if (!Number.isInteger(leaderEpoch) || leaderEpoch < -1 || leaderEpoch > INT32_MAX) {
    throw new RangeError(`stampBatch: leader epoch ${leaderEpoch} is not an int32 >= -1`);
  }
  const dv = view(buf);
  dv.setBigInt64(at + OFF_BASE_OFFSET, baseOffset);
  dv.setInt32(at + OFF_LEADER_EPOCH, leaderEpoch);
}

/**
 * Walks the consecutive batches in `buf[at, end)` by their headers, never decoding records.
 * Yields each batch's position, size and header; throws DecodeError at the first malformed or
 * truncated batch (bytes left over that do not form a whole batch count as truncated). A caller that
 * must find the valid prefix, such as log recovery, keeps the end of the last span it got: that is
 * where the good bytes stop. With `verifyCrc`, a batch whose CRC does not match throws too.
 */
export function* iterateBatches(
  buf: Uint8Array,
  at = 0,
  end = buf.length,
  opts: { verifyCrc?: boolean } = {},
): Generator<BatchSpan, void, undefined> {
  checkPosition(buf, at);
  checkPosition(buf, end);
  if (end < at) throw new DecodeError(`record batches: end ${end} is before start ${at}`);
  const region = buf.subarray(0, end);
  let pos = at;
  while (pos < end) {
    const header = readBatchHeader(region, pos);
    if (opts.verifyCrc && computeCrc(region, pos, header.size) !== header.crc) {
      throw new DecodeError(`record batch at ${pos}: CRC mismatch`);
    }
    yield { at: pos, size: header.size, header };
    pos += header.size;
  }
}

/**
 * Checks what a leader must check before accepting a producer's batch, as Kafka's LogValidator does:
 * exactly one whole batch, a matching CRC, at least one record, lastOffsetDelta = recordCount - 1,
 * no control batch, and a sequence number when the producer is idempotent. Returns the header.
 *
 * The leader assigns `recordCount` offsets without decoding the records, so the count must be
 * believable: it may not exceed what the record bytes can hold. That bound needs uncompressed
 * records, so compressed batches are refused (no client of ours compresses, and `decodeRecords`
 * could not read them either).
 */
export function validateProducedBatch(buf: Uint8Array): BatchHeader {
  const header = readBatchHeader(buf, 0);
  if (header.size !== buf.length) {
    throw new DecodeError(`produced batch: ${buf.length} bytes but the batch says ${header.size}; send exactly one batch`);
  }
  if (computeCrc(buf, 0, header.size) !== header.crc) throw new DecodeError("produced batch: CRC mismatch, the batch is corrupt");
  const codec = header.attributes & BatchAttributes.CompressionMask;
  if (codec !== 0) throw new DecodeError(`produced batch: compressed with ${codecName(codec)}, which is not supported`);
  if (header.recordCount === 0) throw new DecodeError("produced batch: no records");
  const bodyBytes = header.size - RECORD_BATCH_HEADER_SIZE;
  if (header.recordCount > bodyBytes / MIN_RECORD_SIZE) {
    throw new DecodeError(`produced batch: ${header.recordCount} records cannot fit in ${bodyBytes} bytes`);
  }
  if (header.lastOffsetDelta !== header.recordCount - 1) {
    throw new DecodeError(`produced batch: lastOffsetDelta ${header.lastOffsetDelta} does not match ${header.recordCount} records`);
  }
  if (header.attributes & BatchAttributes.Control) throw new DecodeError("produced batch: clients may not send control batches");
  if (header.producerId >= 0n && header.baseSequence < 0) {
    throw new DecodeError(`produced batch: producer ${header.producerId} sent no base sequence`);
  }
  return header;
}

// ---------------------------------------------------------------------------------------------
// Encoding (client side)

function zigzag32(n: number): number {
  return ((n << 1) ^ (n >> 31)) >>> 0;
}

function zigzag64(n: bigint): bigint {
  return (n << 1n) ^ (n >> 63n);
}

function varintSize(n: number): number {
  let u = zigzag32(n);
  let size = 1;
  while (u >= 0x80) {
    u >>>= 7;
    size++;
  }
  return size;
}

function varlongSize(n: bigint): number {
  let u = BigInt.asUintN(64, zigzag64(n));
  let size = 1;
  while (u >= 0x80n) {
    u >>= 7n;
    size++;
  }
  return size;
}

/** Sequential writer over an exactly-sized buffer. */
class Writer {
  pos = 0;
  readonly dv: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.dv = view(bytes);
  }
  varint(n: number): void {
    let u = zigzag32(n);
    while (u >= 0x80) {
      this.bytes[this.pos++] = (u & 0x7f) | 0x80;
      u >>>= 7;
    }
    this.bytes[this.pos++] = u;
  }
  varlong(n: bigint): void {
    let u = BigInt.asUintN(64, zigzag64(n));
    while (u >= 0x80n) {
      this.bytes[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.bytes[this.pos++] = Number(u);
  }
  /** Length-prefixed bytes; null is length -1. */
  lengthPrefixed(b: Uint8Array | null): void {
    if (b === null) {
      this.varint(-1);
      return;
    }
    this.varint(b.length);
    this.bytes.set(b, this.pos);
    this.pos += b.length;
  }
}

function lengthPrefixedSize(b: Uint8Array | null): number {
  return b === null ? 1 : varintSize(b.length) + b.length;
}

function checkInt(name: string, n: number, min: number, max: number): void {
  if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`encodeRecordBatch: ${name} ${n} is outside [${min}, ${max}]`);
}

function checkLong(name: string, n: bigint): void {
  if (n < INT64_MIN || n > INT64_MAX) throw new RangeError(`encodeRecordBatch: ${name} ${n} is not an int64`);
}

const utf8 = new TextEncoder();

/**
 * Encodes records as one uncompressed batch (attributes 0, CreateTime). The buffer is sized
 * exactly up front, so each key and value is copied once. The first record's timestamp is the base
 * timestamp (deltas may be negative, as Kafka allows). Throws RangeError on arguments no batch can
 * hold (no records, values out of their field's range).
 */
export function encodeRecordBatch(records: RecordInput[], opts: EncodeBatchOptions = {}): Uint8Array {
  if (records.length === 0) throw new RangeError("encodeRecordBatch: a batch needs at least one record");
  const baseOffset = opts.baseOffset ?? 0n;
  const producerId = opts.producerId ?? -1n;
  const producerEpoch = opts.producerEpoch ?? -1;
  const baseSequence = opts.baseSequence ?? -1;
  const leaderEpoch = opts.leaderEpoch ?? -1;
  const defaultTimestamp = opts.timestamp ?? BigInt(Date.now());
  checkLong("baseOffset", baseOffset);
  checkLong("producerId", producerId);
  checkInt("producerEpoch", producerEpoch, -(2 ** 15), 2 ** 15 - 1);
  checkInt("baseSequence", baseSequence, INT32_MIN, INT32_MAX);
  checkInt("leaderEpoch", leaderEpoch, INT32_MIN, INT32_MAX);

  // Pass 1: sizes (and the header keys' UTF-8, needed for their lengths anyway).
  const baseTimestamp = records[0].timestamp ?? defaultTimestamp;
  let maxTimestamp = baseTimestamp;
  const timestamps: bigint[] = new Array(records.length);
  const bodySizes: number[] = new Array(records.length);
  const headerKeys: Uint8Array[][] = new Array(records.length);
  let size = RECORD_BATCH_HEADER_SIZE;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const ts = r.timestamp ?? defaultTimestamp;
    checkLong("timestamp", ts);
    checkLong("timestamp delta", ts - baseTimestamp);
    timestamps[i] = ts;
    if (ts > maxTimestamp) maxTimestamp = ts;
    const keys = (r.headers ?? []).map((h) => utf8.encode(h.key));
    headerKeys[i] = keys;
    let body = 1 + varlongSize(ts - baseTimestamp) + varintSize(i) + lengthPrefixedSize(r.key) + lengthPrefixedSize(r.value);
    body += varintSize(keys.length);
    for (let h = 0; h < keys.length; h++) body += lengthPrefixedSize(keys[h]) + lengthPrefixedSize(r.headers![h].value);
    bodySizes[i] = body;
    size += varintSize(body) + body;
  }
  if (size - BATCH_LENGTH_PREFIX > INT32_MAX) throw new RangeError(`encodeRecordBatch: batch of ${size} bytes is too large`);

  // Pass 2: write.
  const w = new Writer(allocUninitialized(size));
  const dv = w.dv;
  dv.setBigInt64(OFF_BASE_OFFSET, baseOffset);
  dv.setInt32(OFF_BATCH_LENGTH, size - BATCH_LENGTH_PREFIX);
  dv.setInt32(OFF_LEADER_EPOCH, leaderEpoch);
  dv.setInt8(OFF_MAGIC, RECORD_BATCH_MAGIC);
  dv.setInt16(OFF_ATTRIBUTES, 0);
  dv.setInt32(OFF_LAST_OFFSET_DELTA, records.length - 1);
  dv.setBigInt64(OFF_BASE_TIMESTAMP, baseTimestamp);
  dv.setBigInt64(OFF_MAX_TIMESTAMP, maxTimestamp);
  dv.setBigInt64(OFF_PRODUCER_ID, producerId);
  dv.setInt16(OFF_PRODUCER_EPOCH, producerEpoch);
  dv.setInt32(OFF_BASE_SEQUENCE, baseSequence);
  dv.setInt32(OFF_RECORD_COUNT, records.length);
  w.pos = RECORD_BATCH_HEADER_SIZE;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    w.varint(bodySizes[i]);
    w.bytes[w.pos++] = 0; // record attributes: unused
    w.varlong(timestamps[i] - baseTimestamp);
    w.varint(i);
    w.lengthPrefixed(r.key);
    w.lengthPrefixed(r.value);
    const keys = headerKeys[i];
    w.varint(keys.length);
    for (let h = 0; h < keys.length; h++) {
      w.lengthPrefixed(keys[h]);
      w.lengthPrefixed(r.headers![h].value);
    }
  }
  // Every byte must be written: the buffer was not zero-filled.
  if (w.pos !== size) throw new Error(`encodeRecordBatch: measured ${size} bytes but wrote ${w.pos}`);
  dv.setUint32(OFF_CRC, computeCrc(w.bytes, 0, size));
  return w.bytes;
}

// ---------------------------------------------------------------------------------------------
// Decoding records (client side)

/**
 * Bounds-checked reader over `bytes[pos, end)`. Every read checks against `end` first, so a lying
 * length can at worst make a read fail with a DecodeError; nothing ever reads past the batch.
 */
class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    public end: number,
    readonly where: () => string,
  ) {}

  fail(what: string): never {
    throw new DecodeError(`${this.where()}: ${what}`);
  }

  byte(): number {
    if (this.pos >= this.end) this.fail("truncated");
    return this.bytes[this.pos++];
  }

  /** Zigzag varint, at most 5 bytes, result must fit an int32 (as Kafka's ByteUtils.readVarint). */
  varint(field: string): number {
    // Hot: two or three per record. No method call or power per byte.
    let u = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) this.fail("truncated");
      const b = this.bytes[this.pos++];
      u += (b & 0x7f) * scale;
      if (b < 0x80) {
        const n = u % 2 === 0 ? u / 2 : -(u + 1) / 2;
        if (n < INT32_MIN || n > INT32_MAX) this.fail(`${field} varint ${n} does not fit an int32`);
        return n;
      }
      scale *= 128;
    }
    return this.fail(`${field} varint longer than 5 bytes`);
  }

  /** Zigzag varlong, at most 10 bytes, result must fit an int64. */
  varlong(field: string): bigint {
    // A one-byte varlong (a timestamp delta within ±63 ms) comes from a table: no BigInt made.
    const first = this.pos < this.end ? this.bytes[this.pos] : 0x80;
    if (first < 0x80) {
      this.pos++;
      return ONE_BYTE_VARLONGS[first];
    }
    let u = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      u |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        if (u > 0xffff_ffff_ffff_ffffn) this.fail(`${field} varlong does not fit an int64`);
        return (u >> 1n) ^ -(u & 1n);
      }
    }
    return this.fail(`${field} varlong longer than 10 bytes`);
  }

  /** Length-prefixed bytes (-1 = null) as a view into the batch. */
  nullableBytes(field: string): Uint8Array | null {
    const len = this.varint(`${field} length`);
    if (len === -1) return null;
    if (len < -1) this.fail(`${field} length ${len}`);
    if (len > this.end - this.pos) this.fail(`${field} length ${len} runs past the record`);
    const b = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }
}

/** The zigzag varlongs of one byte, 0x00..0x7f, decoded. */
const ONE_BYTE_VARLONGS: readonly bigint[] = Array.from({ length: 0x80 }, (_, b) => BigInt((b >>> 1) ^ -(b & 1)));
const NO_HEADERS: readonly RecordHeader[] = Object.freeze([]);

const utf8Strict = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(r: Reader, b: Uint8Array): string {
  try {
    return utf8Strict.decode(b);
  } catch {
    return r.fail("header key is not valid UTF-8");
  }
}

/**
 * Reads the records of the batch at the start of `batch`, handing each to `visit` in order. Checks
 * the header, the CRC, that the batch is uncompressed, and every length against the record it
 * sits in; the records must fill the batch exactly. `visit` gets one object, refilled for every
 * record (take what you keep, do not keep it): reading makes no object per record beyond key,
 * value and header views, a headers array when there are headers, and an offset.
 * Keys, values and header values are views into `batch` (Buffers when `batch` is one).
 * Offsets are baseOffset + offsetDelta; timestamps are baseTimestamp + timestampDelta, or the
 * batch's maxTimestamp for every record when the batch uses LogAppendTime.
 */
export function forEachRecord(batch: Uint8Array, visit: (record: Readonly<DecodedRecord>) => void): void {
  const h = readBatchHeader(batch, 0);
  if (computeCrc(batch, 0, h.size) !== h.crc) throw new DecodeError("record batch: CRC mismatch");
  const codec = h.attributes & BatchAttributes.CompressionMask;
  if (codec !== 0) throw new DecodeError(`record batch: compressed with ${codecName(codec)}, which is not supported`);
  const bodyBytes = h.size - RECORD_BATCH_HEADER_SIZE;
  if (h.recordCount > bodyBytes / MIN_RECORD_SIZE) {
    throw new DecodeError(`record batch: ${h.recordCount} records cannot fit in ${bodyBytes} bytes`);
  }
  const logAppendTime = (h.attributes & BatchAttributes.LogAppendTime) !== 0;
  // Offsets below 2^53 (all of ours) are one BigInt per record, not two.
  const safeBase = h.baseOffset <= BigInt(Number.MAX_SAFE_INTEGER - INT32_MAX) ? Number(h.baseOffset) : undefined;
  let index = 0;
  const r: Reader = new Reader(batch, RECORD_BATCH_HEADER_SIZE, h.size, () => `record batch: record ${index}`);
  const record: DecodedRecord = { offset: 0n, timestamp: 0n, key: null, value: null, headers: [] };
  for (; index < h.recordCount; index++) {
    const length = r.varint("length");
    if (length < 0 || length > h.size - r.pos) r.fail(`length ${length} runs past the batch`);
    const recordEnd = r.pos + length;
    const batchEnd = r.end;
    r.end = recordEnd;
    r.byte(); // record attributes: unused by Kafka
    const timestampDelta = r.varlong("timestampDelta");
    const offsetDelta = r.varint("offsetDelta");
    if (offsetDelta < 0) r.fail(`negative offsetDelta ${offsetDelta}`);
    record.key = r.nullableBytes("key");
    record.value = r.nullableBytes("value");
    const headerCount = r.varint("headerCount");
    // Each header takes at least 2 bytes, so this bounds the loop by the record's size.
    if (headerCount < 0 || headerCount > (recordEnd - r.pos) / 2) r.fail(`headerCount ${headerCount} does not fit the record`);
    const headers: RecordHeader[] = headerCount === 0 ? (NO_HEADERS as RecordHeader[]) : new Array(headerCount);
    for (let i = 0; i < headerCount; i++) {
      const hk = r.nullableBytes("header key");
      if (hk === null) r.fail("null header key");
      headers[i] = { key: decodeUtf8(r, hk), value: r.nullableBytes("header value") };
    }
    if (r.pos !== recordEnd) r.fail(`${recordEnd - r.pos} bytes left over inside the record`);
    r.end = batchEnd;
    record.offset = safeBase === undefined ? h.baseOffset + BigInt(offsetDelta) : BigInt(safeBase + offsetDelta);
    record.timestamp = logAppendTime ? h.maxTimestamp : timestampDelta === 0n ? h.baseTimestamp : h.baseTimestamp + timestampDelta;
    record.headers = headers;
    visit(record);
  }
  if (r.pos !== h.size) throw new DecodeError(`record batch: ${h.size - r.pos} bytes after the last record`);
}

/** The records of the batch at the start of `batch` (see `forEachRecord`), each an object of its own. */
export function decodeRecords(batch: Uint8Array): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  forEachRecord(batch, (r) => out.push({ ...r, headers: r.headers.length === 0 ? [] : r.headers }));
  return out;
}
