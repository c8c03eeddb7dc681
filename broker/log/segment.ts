/**
 * One segment: a file of frames (`<base offset, 20 digits>.log`) and its sparse index.
 *
 * Only whole, written frames are described here: the log's write pump updates a segment after a
 * write completes, so a reader bounded by `length` never sees a partial frame.
 */
import { join } from "node:path";
import type { FileRef } from "./file-ref.js";
import type { FrameHeader } from "./frame.js";
import { SegmentIndex, type SegmentSummary } from "./segment-index.js";

const NAME_DIGITS = 20;
export const SEGMENT_SUFFIX = ".log";
export const INDEX_SUFFIX = ".index";

export function segmentPath(dir: string, baseOffset: number): string {
  return join(dir, String(baseOffset).padStart(NAME_DIGITS, "0") + SEGMENT_SUFFIX);
}

export function indexPath(dir: string, baseOffset: number): string {
  return join(dir, String(baseOffset).padStart(NAME_DIGITS, "0") + INDEX_SUFFIX);
}

/** The base offset a segment or index file name encodes, or undefined if it is not one of ours. */
export function parseSegmentName(name: string, suffix: string): number | undefined {
  if (!name.endsWith(suffix)) return undefined;
  const digits = name.slice(0, -suffix.length);
  if (digits.length !== NAME_DIGITS || !/^\d+$/.test(digits)) return undefined;
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : undefined;
}

export class Segment {
  /** Bytes of whole frames in the file. */
  length = 0;
  /** Raft index and term of the last frame; `baseIndex - 1` and -1 while empty. */
  lastIndex: number;
  lastTerm = -1;
  /** Offset after the last record in the segment (`baseOffset` while empty). */
  nextOffset: number;
  /** Largest batch max-timestamp (ms), -1 if no batch: what time retention compares. */
  maxTimestamp = -1;
  lastFramePosition = -1;
  /** When this process started writing it (for time-based rolls). */
  readonly openedAt = Date.now();

  constructor(
    readonly path: string,
    /** Offset of the first frame (a batch's base offset or a control frame's offset). */
    readonly baseOffset: number,
    /** Raft index of the first frame. */
    readonly baseIndex: number,
    readonly file: FileRef,
    readonly index: SegmentIndex,
  ) {
    this.lastIndex = baseIndex - 1;
    this.nextOffset = baseOffset;
  }

  /** Records a frame written (or found by a scan) at `position`, the segment's end. */
  addFrame(h: FrameHeader, position: number): void {
    this.index.observe(h.offset, h.index, h.term, position);
    this.length = position + h.length;
    this.lastIndex = h.index;
    this.lastTerm = h.term;
    this.nextOffset = Math.max(this.nextOffset, h.nextOffset);
    if (h.maxTimestamp > this.maxTimestamp) this.maxTimestamp = h.maxTimestamp;
    this.lastFramePosition = position;
  }

  /** Adopts a summary read from a valid index file (no scan happened). */
  adopt(summary: SegmentSummary): void {
    this.length = summary.length;
    this.lastIndex = summary.lastIndex;
    this.lastTerm = this.index.termAt(summary.lastIndex);
    this.nextOffset = summary.nextOffset;
    this.maxTimestamp = summary.maxTimestamp;
    this.lastFramePosition = summary.lastFramePosition;
  }

  summary(): SegmentSummary {
    return {
      length: this.length,
      lastIndex: this.lastIndex,
      nextOffset: this.nextOffset,
      maxTimestamp: this.maxTimestamp,
      lastFramePosition: this.lastFramePosition,
    };
  }

  /** Term of the entry at Raft index `i` (baseIndex <= i <= lastIndex). */
  termAt(i: number): number {
    return this.index.termAt(i);
  }
}
