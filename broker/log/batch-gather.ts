/**
 * BatchGather: the record batches of consecutive frames, read from segment files straight into
 * one buffer that becomes a fetch response, so a fetch costs one allocation and large reads.
 *
 * Segment files hold frames (a 52-byte header, then the batch), but a response holds the batches
 * back to back. Each read fills the free end of the buffer with as many file bytes as fit; the
 * frames found there are decoded in place and each wanted batch is moved down over the headers
 * and unwanted frames before it (`copyWithin`: memory already touched, nothing allocated). The
 * buffer is sized for the byte budget up front and grows only for a first batch above it (which
 * a fetch returns whole).
 *
 * Layout of `buf`: [0, headroom) is left for the caller (the response header goes there);
 * [headroom, end) holds the gathered batches; [pending, filled) holds file bytes read but not
 * yet decoded (pending ≥ end).
 */
import { read } from "node:fs";
import { decodeFrame, FrameError, FrameKind, FRAME_HEADER_SIZE } from "./frame.js";

function readAt(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** What to gather: batches holding `target` or later, starting below `limit`, within `maxBytes`. */
export interface GatherRange {
  target: number;
  limit: number;
  maxBytes: number;
}

export class BatchGather {
  private buf: Buffer;
  private end: number;
  private pending: number;
  private filled: number;
  done = false;

  constructor(
    private readonly headroom: number,
    private readonly range: GatherRange,
    /** Bytes the segments to scan hold from the first read position on: no point allocating more. */
    available: number,
    private readonly alloc: (size: number) => Buffer,
  ) {
    this.buf = alloc(headroom + Math.max(FRAME_HEADER_SIZE, Math.min(range.maxBytes + FRAME_HEADER_SIZE, available)));
    this.end = this.pending = this.filled = headroom;
  }

  /** Gathers from one segment file, bytes [start, length) of `fd`; sets `done` once the range is complete. */
  async scan(fd: number, start: number, length: number): Promise<void> {
    this.pending = this.filled = this.end;
    let position = start;
    while (!this.done) {
      const need = this.takeFrames();
      if (this.done || position >= length) return;
      if (!this.makeRoom(need)) return;
      const n = await readAt(fd, this.buf, this.filled, Math.min(this.buf.length - this.filled, length - position), position);
      if (n === 0) return; // the file is shorter (cut by a truncation during the read)
      this.filled += n;
      position += n;
    }
  }

  /** The caller's headroom, then the batches gathered. */
  result(): Buffer {
    return this.buf.subarray(0, this.end);
  }

  /**
   * Decodes the whole frames in [pending, filled), moving wanted batches down to `end`. Returns the
   * bytes the next frame needs in all (its header, or the whole frame once the header is there).
   */
  private takeFrames(): number {
    const { target, limit, maxBytes } = this.range;
    const view = this.buf.subarray(0, this.filled);
    while (!this.done) {
      let h;
      try {
        h = decodeFrame(view, this.pending, false);
      } catch (err) {
        // A bad frame ends what this segment can serve (recovery cuts such tails on open).
        if (err instanceof FrameError) return Infinity;
        throw err;
      }
      if (!h) return this.filled - this.pending < FRAME_HEADER_SIZE ? FRAME_HEADER_SIZE : view.readUInt32LE(this.pending + 4);
      const at = this.pending;
      this.pending += h.length;
      if (h.kind === FrameKind.Control || h.nextOffset <= target || h.nextOffset === h.offset) continue;
      const size = h.length - FRAME_HEADER_SIZE;
      const gathered = this.end - this.headroom;
      if (h.offset >= limit || (gathered > 0 && gathered + size > maxBytes)) {
        this.done = true;
        break;
      }
      this.buf.copyWithin(this.end, at + FRAME_HEADER_SIZE, at + h.length);
      this.end += size;
      if (gathered + size >= maxBytes) this.done = true;
    }
    return 0;
  }

  /**
   * Moves the undecoded bytes down to `end` and makes sure a frame of `need` bytes fits after it.
   * False when it cannot: the frame would take the response past `maxBytes`, or is impossible.
   */
  private makeRoom(need: number): boolean {
    if (!Number.isFinite(need)) return false;
    if (this.pending > this.end) {
      this.buf.copyWithin(this.end, this.pending, this.filled);
      this.filled -= this.pending - this.end;
      this.pending = this.end;
    }
    if (this.pending + need <= this.buf.length) return true;
    const gathered = this.end - this.headroom;
    if (gathered > 0 && gathered + need - FRAME_HEADER_SIZE > this.range.maxBytes) {
      this.done = true;
      return false;
    }
    const bigger = this.alloc(this.pending + need);
    this.buf.copy(bigger, 0, 0, this.filled);
    this.buf = bigger;
    return true;
  }
}
