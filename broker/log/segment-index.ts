/**
 * The sparse index of one segment: some frames' (offset, Raft index, term, file position).
 *
 * A point is recorded for the first frame of the segment, for every frame whose term differs from
 * the frame before it, and whenever `intervalBytes` have been written since the last point. The
 * term rule makes `termAt` exact without reading the file: between two points the term cannot
 * change. Lookups return the last point at or before the target; the caller scans forward from it.
 *
 * Invariant: points are in file order, so positions, indexes and offsets are all non-decreasing.
 *
 * On disk (`<base offset>.index`, written when a segment is sealed or the log is closed cleanly):
 *
 *   byte  size  field
 *      0     4  magic "FLIX"
 *      4     4  CRC-32C (LE) of bytes 8..end
 *      8     4  version 1
 *     12     4  point count n
 *     16     8  segment file length this index describes (f64)
 *     24     8  Raft index of the segment's last frame (f64)
 *     32     8  next offset after the segment (f64)
 *     40     8  max timestamp in the segment (f64, -1 if none)
 *     48     8  position of the last frame (f64), re-verified on open
 *     56  n×32  points: offset, index, term, position (f64 each)
 *
 * An index whose CRC, version or described length does not match its segment is stale: it is
 * rebuilt by scanning the segment. The index is never needed for correctness, only for speed.
 */
import { crc32c } from "@node-rs/crc32";

const MAGIC = 0x58494c46; // "FLIX" little-endian
const VERSION = 1;
const FILE_HEADER_SIZE = 56;
const POINT_SIZE = 32;

export interface SegmentSummary {
  /** Bytes of frames in the segment file. */
  length: number;
  lastIndex: number;
  nextOffset: number;
  maxTimestamp: number;
  lastFramePosition: number;
}

export interface IndexPoint {
  offset: number;
  index: number;
  term: number;
  position: number;
}

export class SegmentIndex {
  private offsets: Float64Array;
  private indexes: Float64Array;
  private terms: Float64Array;
  private positions: Float64Array;
  private count = 0;
  /** Position of the last frame that got a point, to apply `intervalBytes`. */
  private lastPointPosition = -Infinity;
  private lastTerm = -1;

  constructor(private readonly intervalBytes: number, capacity = 16) {
    this.offsets = new Float64Array(capacity);
    this.indexes = new Float64Array(capacity);
    this.terms = new Float64Array(capacity);
    this.positions = new Float64Array(capacity);
  }

  /** Called for every frame appended or scanned, in file order; keeps the ones the rules pick. */
  observe(offset: number, index: number, term: number, position: number): void {
    if (this.count > 0 && term === this.lastTerm && position - this.lastPointPosition < this.intervalBytes) return;
    this.push(offset, index, term, position);
  }

  private push(offset: number, index: number, term: number, position: number): void {
    if (this.count === this.offsets.length) this.grow();
    this.offsets[this.count] = offset;
    this.indexes[this.count] = index;
    this.terms[this.count] = term;
    this.positions[this.count] = position;
    this.count++;
    this.lastPointPosition = position;
    this.lastTerm = term;
  }

  private grow(): void {
    const n = this.offsets.length * 2;
    const widen = (a: Float64Array): Float64Array => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.offsets = widen(this.offsets);
    this.indexes = widen(this.indexes);
    this.terms = widen(this.terms);
    this.positions = widen(this.positions);
  }

  /** The last point with `values[i] <= target`, or the first point if none is. */
  private floor(values: Float64Array, target: number): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (values[mid] <= target) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  private point(i: number): IndexPoint {
    return { offset: this.offsets[i], index: this.indexes[i], term: this.terms[i], position: this.positions[i] };
  }

  /** Where to start scanning for the frame holding `offset`. */
  lookupOffset(offset: number): IndexPoint {
    return this.point(this.floor(this.offsets, offset));
  }

  /** Where to start scanning for the frame with Raft index `index`. */
  lookupIndex(index: number): IndexPoint {
    return this.point(this.floor(this.indexes, index));
  }

  /** Term of the entry with Raft index `index` (which must be in this segment). */
  termAt(index: number): number {
    return this.terms[this.floor(this.indexes, index)];
  }

  /** Drops every point at or after file position `position` (after a suffix truncation). */
  truncateAt(position: number): void {
    while (this.count > 0 && this.positions[this.count - 1] >= position) this.count--;
    this.lastPointPosition = this.count > 0 ? this.positions[this.count - 1] : -Infinity;
    this.lastTerm = this.count > 0 ? this.terms[this.count - 1] : -1;
  }

  encode(summary: SegmentSummary): Buffer {
    const buf = Buffer.alloc(FILE_HEADER_SIZE + this.count * POINT_SIZE);
    buf.writeUInt32LE(MAGIC, 0);
    buf.writeUInt32LE(VERSION, 8);
    buf.writeUInt32LE(this.count, 12);
    buf.writeDoubleLE(summary.length, 16);
    buf.writeDoubleLE(summary.lastIndex, 24);
    buf.writeDoubleLE(summary.nextOffset, 32);
    buf.writeDoubleLE(summary.maxTimestamp, 40);
    buf.writeDoubleLE(summary.lastFramePosition, 48);
    for (let i = 0; i < this.count; i++) {
      const at = FILE_HEADER_SIZE + i * POINT_SIZE;
      buf.writeDoubleLE(this.offsets[i], at);
      buf.writeDoubleLE(this.indexes[i], at + 8);
      buf.writeDoubleLE(this.terms[i], at + 16);
      buf.writeDoubleLE(this.positions[i], at + 24);
    }
    buf.writeUInt32LE(crc32c(buf.subarray(8)), 4);
    return buf;
  }

  /** Parses an index file; undefined when it is damaged or of another version (then: rebuild). */
  static decode(buf: Buffer, intervalBytes: number): { index: SegmentIndex; summary: SegmentSummary } | undefined {
    if (buf.length < FILE_HEADER_SIZE || buf.readUInt32LE(0) !== MAGIC) return undefined;
    if (buf.readUInt32LE(4) !== crc32c(buf.subarray(8)) || buf.readUInt32LE(8) !== VERSION) return undefined;
    const count = buf.readUInt32LE(12);
    if (count === 0 || buf.length !== FILE_HEADER_SIZE + count * POINT_SIZE) return undefined;
    const index = new SegmentIndex(intervalBytes, count);
    for (let i = 0; i < count; i++) {
      const at = FILE_HEADER_SIZE + i * POINT_SIZE;
      index.push(buf.readDoubleLE(at), buf.readDoubleLE(at + 8), buf.readDoubleLE(at + 16), buf.readDoubleLE(at + 24));
    }
    const summary: SegmentSummary = {
      length: buf.readDoubleLE(16),
      lastIndex: buf.readDoubleLE(24),
      nextOffset: buf.readDoubleLE(32),
      maxTimestamp: buf.readDoubleLE(40),
      lastFramePosition: buf.readDoubleLE(48),
    };
    return { index, summary };
  }
}
