/**
 * Synchronous reads of Raft entries from a partition's segment files, for the one caller that
 * cannot wait: Raft's `Storage.entries()` when a lagging follower needs entries older than the
 * in-memory tail (and, after a restart, committed entries being applied again). Everything else
 * (fetch, recovery, the tail loaded at open) uses the SegmentLog's asynchronous reads.
 *
 * A positioned `readSync` blocks the event loop for the length of the read. That is acceptable
 * only because it is rare: it happens when a follower is further behind than the tail kept in
 * memory (a replica back from a long outage, or a new one catching up), and a sequential catch-up
 * resumes from a cursor, so each byte is read once. A follower that far behind should in time get
 * a snapshot plus an asynchronous bulk copy instead; that is not built yet.
 *
 * The frame layout read here is the SegmentLog's (broker/log/frame.ts): a 52-byte header
 * (crc u32, length u32, version, kind, entry type, 0, index u64, term u64, offset u64, batch id 16
 * bytes) and the payload. Only frames of the durable prefix are read (the caller asks for indexes
 * below its in-memory tail, which only ever drops entries that are on disk), so the CRCs that
 * recovery checked are not checked again.
 */
import { closeSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import { EntryType, type Entry } from "../../protocol/raft.js";
import { ENTRY_HEADER_SIZE, EntryKind, entryOffsets } from "./entry-codec.js";

const FRAME_HEADER_SIZE = 52;
const FRAME_VERSION = 1;
const FRAME_KIND_BATCH = 1;
const FRAME_KIND_CONTROL = 2;
const SEGMENT_NAME = /^\d{20}\.log$/;

/** One entry read back, with the offsets it covers (control entries: offset = next). */
export interface LocatedEntry {
  entry: Entry;
  offset: number;
  next: number;
}

function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at + 4) * 0x1_0000_0000 + buf.readUInt32LE(at);
}

export class SyncFrameReader {
  /** Segment files sorted by base offset (= by Raft index), with the index of their first frame. */
  private segments: Array<{ path: string; baseIndex: number }> = [];
  /** Where the frame after the last one read starts, so a sequential catch-up does not rescan. */
  private cursor: { path: string; index: number; position: number } | undefined;
  private readonly header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);

  constructor(private readonly dir: string) {}

  /** Forgets the cursor: after a suffix truncation the bytes past it are rewritten. */
  invalidate(): void {
    this.cursor = undefined;
  }

  private refresh(): void {
    const names = readdirSync(this.dir).filter((n) => SEGMENT_NAME.test(n)).sort();
    const known = new Map(this.segments.map((s) => [s.path, s.baseIndex]));
    const out: Array<{ path: string; baseIndex: number }> = [];
    for (const n of names) {
      const path = join(this.dir, n);
      let baseIndex = known.get(path);
      if (baseIndex === undefined) {
        const fd = openSync(path, "r");
        try {
          if (readSync(fd, this.header, 0, FRAME_HEADER_SIZE, 0) < FRAME_HEADER_SIZE) continue;
        } finally {
          closeSync(fd);
        }
        baseIndex = readU64(this.header, 12);
      }
      out.push({ path, baseIndex });
    }
    this.segments = out;
  }

  /** Entries with Raft index in [lo, hi), at most about `maxSize` bytes but at least one. */
  read(lo: number, hi: number, maxSize: number): LocatedEntry[] {
    try {
      return this.readOnce(lo, hi, maxSize, false);
    } catch (err) {
      // A segment deleted or rolled since the last listing: list again once.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" && !(err instanceof MissingEntryError)) throw err;
      this.cursor = undefined;
      return this.readOnce(lo, hi, maxSize, true);
    }
  }

  private readOnce(lo: number, hi: number, maxSize: number, fresh: boolean): LocatedEntry[] {
    if (fresh || this.segments.length === 0) this.refresh();
    let s = -1;
    for (let k = 0; k < this.segments.length; k++) if (this.segments[k].baseIndex <= lo) s = k;
    if (s < 0) throw new MissingEntryError(`entry ${lo} is not in any segment of ${this.dir}`);
    const out: LocatedEntry[] = [];
    let size = 0;
    let index = lo;
    for (; s < this.segments.length && index < hi; s++) {
      const seg = this.segments[s];
      const fd = openSync(seg.path, "r");
      try {
        let pos = this.cursor && this.cursor.path === seg.path && this.cursor.index <= index ? this.cursor.position : 0;
        let expect = pos === 0 ? -1 : this.cursor!.index;
        for (;;) {
          if (readSync(fd, this.header, 0, FRAME_HEADER_SIZE, pos) < FRAME_HEADER_SIZE) break;
          const h = this.header;
          const length = h.readUInt32LE(4);
          const fi = readU64(h, 12);
          if (h[8] !== FRAME_VERSION || length < FRAME_HEADER_SIZE || (expect >= 0 && fi !== expect)) {
            // Only a stale cursor can land off a frame boundary: start the segment over.
            if (pos !== 0 && expect >= 0) {
              this.cursor = undefined;
              pos = 0;
              expect = -1;
              continue;
            }
            throw new Error(`no valid frame at ${pos} of ${seg.path}`);
          }
          expect = fi + 1;
          if (fi >= hi) {
            this.cursor = { path: seg.path, index: fi, position: pos };
            return out;
          }
          if (fi < index) {
            pos += length;
            continue;
          }
          const payloadLength = length - FRAME_HEADER_SIZE;
          if (out.length > 0 && size + payloadLength > maxSize) {
            this.cursor = { path: seg.path, index: fi, position: pos };
            return out;
          }
          const kind = h[9];
          const term = readU64(h, 20);
          const offset = readU64(h, 28);
          let located: LocatedEntry;
          if (kind === FRAME_KIND_BATCH) {
            const data = Buffer.allocUnsafe(ENTRY_HEADER_SIZE + payloadLength);
            data[0] = EntryKind.RecordBatch;
            h.copy(data, 1, 36, 52);
            readSync(fd, data, ENTRY_HEADER_SIZE, payloadLength, pos + FRAME_HEADER_SIZE);
            located = { entry: { index: fi, term, type: EntryType.Normal, data }, ...pick(entryOffsets(data)) };
          } else if (kind === FRAME_KIND_CONTROL) {
            const data = Buffer.allocUnsafe(payloadLength);
            readSync(fd, data, 0, payloadLength, pos + FRAME_HEADER_SIZE);
            located = { entry: { index: fi, term, type: h[10] as EntryType, data }, offset, next: offset };
          } else {
            // Compacted frames are only ever below a snapshot, which Raft never reads.
            throw new Error(`entry ${fi} in ${seg.path} is a compacted frame; Raft cannot read it`);
          }
          out.push(located);
          size += payloadLength;
          index = fi + 1;
          pos += length;
          this.cursor = { path: seg.path, index, position: pos };
          if (index >= hi) return out;
        }
      } finally {
        closeSync(fd);
      }
    }
    if (out.length === 0 || index < hi) throw new MissingEntryError(`entries [${index}, ${hi}) are not in the segments of ${this.dir}`);
    return out;
  }
}

function pick(o: { base: number; next: number }): { offset: number; next: number } {
  return { offset: o.base, next: o.next };
}

export class MissingEntryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MissingEntryError";
  }
}
