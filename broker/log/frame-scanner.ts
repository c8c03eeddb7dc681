/**
 * Reads the frames of one segment file in order, from a position up to an end, in large reads.
 * Used by recovery (with `verify`), index rebuilds, and reads by offset or Raft index.
 */
import { read, readSync } from "node:fs";
import { decodeFrame, FRAME_HEADER_SIZE, FrameError, type FrameHeader } from "./frame.js";

function readAt(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

export type ScanStep =
  /** `buf[at .. at + header.length)` holds the frame; valid until the next call to `next`. */
  | { type: "frame"; header: FrameHeader; position: number; buf: Buffer; at: number }
  /** No more frames: `end` reached, or the file is shorter (cut by a truncation during a read). */
  | { type: "end" }
  /** The bytes at `position` are not a whole, valid frame: a torn or corrupt tail. */
  | { type: "bad"; position: number; reason: string };

export class FrameScanner {
  private buf: Buffer;
  /** File position of buf[0]. */
  private bufStart: number;
  private bufLength = 0;
  private cursor: number;

  constructor(
    private readonly fd: number,
    start: number,
    private readonly end: number,
    private readonly verify: boolean,
    chunkSize = 1 << 20,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(FRAME_HEADER_SIZE, Math.min(chunkSize, end - start)));
    this.bufStart = start;
    this.cursor = start;
  }

  /** File position of the next frame. */
  get position(): number {
    return this.cursor;
  }

  async next(): Promise<ScanStep> {
    for (;;) {
      const step = this.step();
      if (step.type !== "need") return step;
      const want = this.makeRoom(step.at, step.need);
      const n = await readAt(this.fd, this.buf, this.bufLength, want, this.bufStart + this.bufLength);
      if (n === 0) return { type: "end" };
      this.bufLength += n;
    }
  }

  /** `next` with blocking reads: for callers that must answer synchronously (Raft's Storage). */
  nextSync(): ScanStep {
    for (;;) {
      const step = this.step();
      if (step.type !== "need") return step;
      const want = this.makeRoom(step.at, step.need);
      const n = readSync(this.fd, this.buf, this.bufLength, want, this.bufStart + this.bufLength);
      if (n === 0) return { type: "end" };
      this.bufLength += n;
    }
  }

  /** Decodes the frame at the cursor from the buffer, or says how many bytes are missing. */
  private step(): ScanStep | { type: "need"; at: number; need: number } {
    if (this.cursor >= this.end) return { type: "end" };
    const at = this.cursor - this.bufStart;
    let header: FrameHeader | undefined;
    try {
      header = decodeFrame(this.buf.subarray(0, this.bufLength), at, this.verify);
    } catch (err) {
      if (err instanceof FrameError) return { type: "bad", position: this.cursor, reason: err.message };
      throw err;
    }
    if (header) {
      if (this.cursor + header.length > this.end) {
        return { type: "bad", position: this.cursor, reason: "frame runs past the end of the file" };
      }
      this.cursor += header.length;
      return { type: "frame", header, position: this.cursor - header.length, buf: this.buf, at };
    }
    // Not enough bytes buffered: the frame (or its header) continues past the buffer. A whole
    // header has been length-checked by decodeFrame, so `need` is at most MAX_FRAME_SIZE.
    const have = this.bufLength - at;
    const need = have < FRAME_HEADER_SIZE ? FRAME_HEADER_SIZE : this.buf.readUInt32LE(at + 4);
    if (this.cursor + need > this.end) {
      return { type: "bad", position: this.cursor, reason: `torn frame: ${this.end - this.cursor} bytes left at the end of the file` };
    }
    return { type: "need", at, need };
  }

  /**
   * Moves the unread bytes (from `at`) to the front, growing the buffer to hold `need` bytes, and
   * returns how many bytes to read next.
   */
  private makeRoom(at: number, need: number): number {
    const keep = this.bufLength - at;
    if (need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(need);
      this.buf.copy(bigger, 0, at, this.bufLength);
      this.buf = bigger;
    } else {
      this.buf.copy(this.buf, 0, at, this.bufLength);
    }
    this.bufStart += at;
    this.bufLength = keep;
    return Math.min(this.buf.length - keep, this.end - (this.bufStart + keep));
  }
}
