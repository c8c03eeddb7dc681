/**
 * PartitionLogStorage: the Raft core's `Storage` over a partition's SegmentLog, plus the write
 * side the replica drives from each Ready.
 *
 * Raft reads its log synchronously, the SegmentLog reads asynchronously. The bridge is a tail of
 * recent entries kept in memory: every entry from `tailStart` to the last index, including the ones
 * handed to the log but not yet durable. Below the tail, terms come from the SegmentLog's in-memory
 * index (`termAt`, exact across restarts) and entries from a synchronous positioned read of the
 * segment files (`SyncFrameReader`; rare, see there).
 *
 * Invariants:
 * - `tail[i]` is the entry at Raft index `tailStart + i`; the tail always ends at `lastIndex()`.
 * - Every entry below `tailStart` is durable in the SegmentLog (the tail only drops entries that are
 *   both durable and applied), so reading it from the files is safe.
 * - `endOffset` is the offset after the last entry's records: what a new leader continues from.
 *   Offsets are read from the entries themselves (a stamped batch carries its base offset and
 *   record count), never derived by counting entries.
 */
import type { Logger } from "pino";
import type { ConfState, Entry, HardState, Snapshot } from "../../protocol/raft.js";
import type { Storage } from "../raft/index.js";
import { LogError, LogErrorCode, type AppendEntry, type SegmentLog } from "../log/index.js";
import { encodeDataEntry, entryBatch, entryBatchId, entryOffsets, isDataEntry } from "./entry-codec.js";
import { SyncFrameReader, type LocatedEntry } from "./sync-frame-reader.js";

/** What Raft counts an entry as against size limits (as the core does: payload + 16). */
function entrySize(e: Entry): number {
  return e.data.byteLength + 16;
}

export interface PartitionLogStorageOptions {
  log: SegmentLog;
  /** The SegmentLog's directory (for the synchronous catch-up reader). */
  logDir: string;
  hardState: HardState;
  confState: ConfState;
  /** Bytes of entry payload kept in memory beyond what is unapplied or not yet durable. */
  maxTailBytes: number;
  logger: Logger;
}

export class PartitionLogStorage implements Storage {
  private readonly log: SegmentLog;
  private readonly reader: SyncFrameReader;
  private readonly maxTailBytes: number;
  private readonly logger: Logger;
  private hardState: HardState;
  confState: ConfState;

  private tail: LocatedEntry[] = [];
  private tailStart: number;
  private tailBytes = 0;
  private last: number;
  /** Offset after the last entry (the log end offset, durable or not). */
  private end: number;
  /** Highest index known durable in the SegmentLog. */
  private durable: number;
  /** Appends not yet durable, oldest first; truncations clamp their last index. */
  private pendingWrites: Array<{ lastIndex: number }> = [];
  /** Entries Raft had to read synchronously from the files (catch-up below the tail). */
  diskReadEntries = 0;

  private constructor(o: PartitionLogStorageOptions) {
    this.log = o.log;
    this.reader = new SyncFrameReader(o.logDir);
    this.maxTailBytes = o.maxTailBytes;
    this.logger = o.logger;
    this.hardState = o.hardState;
    this.confState = o.confState;
    this.last = o.log.lastIndex;
    this.tailStart = this.last + 1;
    this.end = Number(o.log.nextOffset);
    this.durable = this.last;
  }

  /**
   * Opens over a recovered SegmentLog and loads its last `preloadEntries` entries into the tail
   * (within `maxTailBytes`); `visit` sees each loaded entry in index order (the dedup index).
   */
  static async open(o: PartitionLogStorageOptions, preloadEntries: number, visit: (e: LocatedEntry) => void): Promise<PartitionLogStorage> {
    const s = new PartitionLogStorage(o);
    const last = o.log.lastIndex;
    let next = Math.max(o.log.firstIndex, last - preloadEntries + 1);
    s.tailStart = next;
    while (next <= last) {
      const stored = await o.log.readEntries(next, last + 1, 4 << 20);
      if (stored.length === 0) break;
      for (const st of stored) {
        let located: LocatedEntry;
        if (st.kind === "batch") {
          const data = encodeDataEntry(st.batchId ?? Buffer.alloc(16), st.payload);
          located = { entry: { index: st.index, term: st.term, type: 0, data }, ...offsetsOf(data) };
        } else if (st.kind === "control") {
          located = { entry: { index: st.index, term: st.term, type: st.entryType as Entry["type"], data: st.payload }, offset: Number(st.offset), next: Number(st.offset) };
        } else {
          throw new Error(`entry ${st.index} is compacted; a compacted partition needs a snapshot (not built yet)`);
        }
        visit(located);
        s.tail.push(located);
        s.tailBytes += located.entry.data.byteLength;
        next = st.index + 1;
      }
      s.trim(last);
    }
    return s;
  }

  // ---- Storage (what the Raft core reads) ----

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: this.confState };
  }

  firstIndex(): number {
    return this.log.firstIndex;
  }

  lastIndex(): number {
    return this.last;
  }

  term(i: number): number {
    if (i >= this.tailStart && i <= this.last) return this.tail[i - this.tailStart].entry.term;
    if (i === this.log.firstIndex - 1) return i === 0 ? 0 : this.snapshotTerm();
    const t = this.log.termAt(i);
    if (t === undefined) throw new RangeError(`term(${i}) outside [${this.log.firstIndex - 1}, ${this.last}]`);
    return t;
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    if (lo < this.log.firstIndex || hi > this.last + 1) throw new RangeError(`entries [${lo}, ${hi}) outside [${this.log.firstIndex}, ${this.last}]`);
    const out: Entry[] = [];
    let size = 0;
    if (lo < this.tailStart) {
      // Rare: a lagging follower (or re-applying after a restart); see SyncFrameReader.
      const disk = this.reader.read(lo, Math.min(hi, this.tailStart), maxSize);
      this.diskReadEntries += disk.length;
      for (const d of disk) {
        out.push(d.entry);
        size += entrySize(d.entry);
      }
      if (out.length < Math.min(hi, this.tailStart) - lo) return out;
      lo = this.tailStart;
    }
    for (let i = lo; i < hi; i++) {
      const e = this.tail[i - this.tailStart].entry;
      size += entrySize(e);
      if (out.length > 0 && maxSize > 0 && size > maxSize) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    const index = this.log.firstIndex - 1;
    return { meta: { index, term: index === 0 ? 0 : this.snapshotTerm(), confState: this.confState }, data: new Uint8Array(0) };
  }

  private snapshotTerm(): number {
    // Retention and snapshots are not wired to partitions yet (see the replica's module comment):
    // a log that starts past index 1 here has lost its prefix.
    throw new RangeError(`the log starts at ${this.log.firstIndex} and no snapshot covers what is before it`);
  }

  // ---- the write side (driven by the replica from each Ready) ----

  get endOffset(): number {
    return this.end;
  }

  get durableIndex(): number {
    return this.durable;
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  /** The entry at `i` with its offsets, from the tail or (rarely) the files. */
  entryAt(i: number): LocatedEntry | undefined {
    if (i > this.last || i < this.log.firstIndex) return undefined;
    if (i >= this.tailStart) return this.tail[i - this.tailStart];
    return this.reader.read(i, i + 1, 0)[0];
  }

  /**
   * Takes a Ready's entries: replaces any stored suffix they conflict with (calling `onTruncate`
   * first), adds them to the tail and queues them to the SegmentLog. Resolves when they are durable
   * (or were truncated by a later Ready, whose own durability then covers what is left).
   */
  append(entries: Entry[], onTruncate: (from: number) => void): Promise<void> {
    const first = entries[0].index;
    if (first > this.last + 1) throw new Error(`append at ${first} leaves a gap after ${this.last}`);
    let truncation: Promise<void> | undefined;
    if (first <= this.last) {
      onTruncate(first);
      if (first < this.tailStart) {
        const at = this.entryAt(first)!;
        this.tail = [];
        this.tailBytes = 0;
        this.tailStart = first;
        this.end = at.offset;
      } else {
        for (const dropped of this.tail.splice(first - this.tailStart)) this.tailBytes -= dropped.entry.data.byteLength;
        this.end = this.endBefore(first);
      }
      this.last = first - 1;
      this.durable = Math.min(this.durable, first - 1);
      for (const w of this.pendingWrites) w.lastIndex = Math.min(w.lastIndex, first - 1);
      this.reader.invalidate();
      truncation = this.log.truncateFromIndex(first);
      this.logger.info({ fromIndex: first }, "truncating an uncommitted suffix");
    }
    const toLog: AppendEntry[] = [];
    for (const e of entries) {
      let located: LocatedEntry;
      if (isDataEntry(e)) {
        located = { entry: e, ...offsetsOf(e.data) };
        if (located.offset !== this.end) {
          throw new Error(`entry ${e.index} starts at offset ${located.offset}, the log ends at ${this.end}`);
        }
        toLog.push({ kind: "batch", index: e.index, term: e.term, batch: entryBatch(e.data), batchId: entryBatchId(e.data), entryType: e.type });
      } else {
        located = { entry: e, offset: this.end, next: this.end };
        toLog.push({ kind: "control", index: e.index, term: e.term, entryType: e.type, data: e.data });
      }
      if (this.tail.length === 0) this.tailStart = e.index;
      this.tail.push(located);
      this.tailBytes += e.data.byteLength;
      this.end = located.next;
      this.last = e.index;
    }
    const w = { lastIndex: this.last };
    this.pendingWrites.push(w);
    const written = this.log.append(toLog).catch((err: unknown) => {
      // Cut by a later Ready's truncation: that Ready's write covers what remains.
      if (err instanceof LogError && err.code === LogErrorCode.Truncated) return;
      throw err;
    });
    const done = truncation ? Promise.all([truncation, written]).then(() => undefined) : written;
    return done.then(() => {
      this.pendingWrites.splice(this.pendingWrites.indexOf(w), 1);
      this.durable = Math.max(this.durable, w.lastIndex);
    });
  }

  /** End offset of the log just before index `i` (i within the tail or right after it). */
  private endBefore(i: number): number {
    if (i - 1 >= this.tailStart) return this.tail[i - 1 - this.tailStart].next;
    if (i - 1 < this.log.firstIndex) return Number(this.log.logStartOffset);
    return this.entryAt(i - 1)!.next;
  }

  /** Drops applied, durable entries from the front of the tail while it is over its byte budget. */
  trim(applied: number): void {
    const limit = Math.min(applied, this.durable);
    while (this.tail.length > 1 && this.tailBytes > this.maxTailBytes && this.tailStart <= limit) {
      const e = this.tail.shift()!;
      this.tailBytes -= e.entry.data.byteLength;
      this.tailStart++;
    }
  }

  /**
   * Record batches from `offset` on, served from the tail: the batch holding `offset` first, then
   * whole batches below `maxOffset` while they fit in `maxBytes`. Undefined when `offset` is below
   * the tail (the caller reads the files).
   */
  readTail(offset: number, maxBytes: number, maxOffset: number): Buffer[] | undefined {
    // First data entry of the tail that ends after `offset`.
    let lo = 0;
    let hi = this.tail.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.tail[mid].next <= offset) lo = mid + 1;
      else hi = mid;
    }
    const firstTailOffset = this.tail.length > 0 ? this.tail[0].offset : this.end;
    if (offset < firstTailOffset) return undefined;
    const out: Buffer[] = [];
    let total = 0;
    for (let k = lo; k < this.tail.length; k++) {
      const t = this.tail[k];
      if (t.next === t.offset) continue;
      if (t.offset >= maxOffset) break;
      const b = entryBatch(t.entry.data);
      if (out.length > 0 && total + b.length > maxBytes) break;
      out.push(b);
      total += b.length;
      if (total >= maxBytes) break;
    }
    return out;
  }

  get tailStats(): { tailStart: number; entries: number; bytes: number } {
    return { tailStart: this.tailStart, entries: this.tail.length, bytes: this.tailBytes };
  }
}

function offsetsOf(data: Uint8Array): { offset: number; next: number } {
  const o = entryOffsets(data);
  return { offset: o.base, next: o.next };
}
