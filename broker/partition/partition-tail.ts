/**
 * PartitionTail: where each recent entry of a partition's Raft log sits in offset space, and the
 * entries themselves, for the parts of a replica that think in offsets. The Raft core reads its
 * log through `RaftLogStorage` (broker/log); this is the partition's view beside it, holding the
 * same Entry objects (no copies).
 *
 * What it answers:
 * - `endOffset`: the offset after the last entry's records, durable or not — where a new leader
 *   continues. Offsets are read from the entries themselves (a stamped batch carries its base
 *   offset and record count), never derived by counting entries.
 * - the offsets of any entry (`entryAt`), from memory or, below the tail, from the log's frames;
 * - fetch reads of the tail from memory (`readTail`).
 *
 * Invariants: `tail[i]` is the entry at Raft index `tailStart + i`; the tail always ends at
 * `lastIndex`; it only drops entries at or below the limit the replica gives (applied and durable),
 * so anything below `tailStart` is readable from the log's files.
 */
import type { Entry } from "../../protocol/raft.js";
import type { SegmentLog } from "../log/index.js";
import { encodeDataEntry, entryBatch, entryOffsets, isDataEntry } from "./entry-codec.js";

/** One entry with the offsets it covers (a control entry: offset = next). */
export interface LocatedEntry {
  entry: Entry;
  offset: number;
  next: number;
}

export class PartitionTail {
  private tail: LocatedEntry[] = [];
  private tailStart: number;
  private tailBytes = 0;
  private last: number;
  private end: number;

  private constructor(
    private readonly log: SegmentLog,
    private readonly maxTailBytes: number,
  ) {
    this.last = log.lastIndex;
    this.tailStart = this.last + 1;
    this.end = Number(log.nextOffset);
  }

  /**
   * Loads the log's most recent entries, newest first in chunks, until `preloadEntries` entries or
   * `preloadBytes` bytes of payload (whichever comes first), so opening costs a bounded read however
   * large the batches are; `visit` then sees them in index order (the dedup index is rebuilt from
   * it, so after a restart it covers at most that budget). The tail keeps what fits `maxTailBytes`.
   */
  static async open(
    log: SegmentLog,
    maxTailBytes: number,
    preloadEntries: number,
    preloadBytes: number,
    visit: (e: LocatedEntry) => void,
  ): Promise<PartitionTail> {
    const t = new PartitionTail(log, maxTailBytes);
    const chunks: LocatedEntry[][] = [];
    let hi = log.lastIndex + 1;
    let entries = 0;
    let bytes = 0;
    while (hi > log.firstIndex && entries < preloadEntries && bytes < preloadBytes) {
      const lo = Math.max(log.firstIndex, hi - Math.min(256, preloadEntries - entries));
      const chunk: LocatedEntry[] = [];
      let next = lo;
      while (next < hi) {
        const stored = await log.readEntries(next, hi, 4 << 20);
        if (stored.length === 0) break;
        for (const st of stored) chunk.push(toLocated(st));
        next = stored[stored.length - 1].index + 1;
      }
      for (const e of chunk) bytes += e.entry.data.byteLength;
      entries += chunk.length;
      chunks.push(chunk);
      hi = lo;
    }
    t.tailStart = hi;
    for (let k = chunks.length - 1; k >= 0; k--) {
      for (const located of chunks[k]) {
        visit(located);
        t.tail.push(located);
        t.tailBytes += located.entry.data.byteLength;
      }
    }
    if (t.tail.length === 0) t.tailStart = t.last + 1;
    t.trim(t.last);
    return t;
  }

  get lastIndex(): number {
    return this.last;
  }

  get endOffset(): number {
    return this.end;
  }

  /** The entry at `i` with its offsets: from memory, or (rarely) read from the log's files. */
  entryAt(i: number): LocatedEntry | undefined {
    if (i > this.last || i < this.log.firstIndex) return undefined;
    if (i >= this.tailStart) return this.tail[i - this.tailStart];
    const stored = this.log.readEntriesSync(i, i + 1, 0)[0];
    return stored ? toLocated(stored) : undefined;
  }

  term(i: number): number | undefined {
    return this.entryAt(i)?.entry.term;
  }

  /**
   * Takes a Ready's entries (the same objects RaftLogStorage writes), replacing the suffix they
   * conflict with (`onTruncate(first)` is called first). Throws if a batch does not start where the
   * log ends: offsets would be wrong, and the log would refuse the append anyway.
   */
  append(entries: Entry[], onTruncate: (from: number) => void): void {
    const first = entries[0].index;
    if (first > this.last + 1) throw new Error(`append at ${first} leaves a gap after ${this.last}`);
    if (first <= this.last) {
      onTruncate(first);
      if (first < this.tailStart) {
        this.end = this.entryAt(first)!.offset;
        this.tail = [];
        this.tailBytes = 0;
        this.tailStart = first;
      } else {
        for (const dropped of this.tail.splice(first - this.tailStart)) this.tailBytes -= dropped.entry.data.byteLength;
        this.end = this.endBefore(first);
      }
      this.last = first - 1;
    }
    for (const e of entries) {
      let located: LocatedEntry;
      if (isDataEntry(e)) {
        const o = entryOffsets(e.data);
        located = { entry: e, offset: o.base, next: o.next };
        if (o.base !== this.end) throw new Error(`entry ${e.index} starts at offset ${o.base}, the log ends at ${this.end}`);
      } else {
        located = { entry: e, offset: this.end, next: this.end };
      }
      if (this.tail.length === 0) this.tailStart = e.index;
      this.tail.push(located);
      this.tailBytes += e.data.byteLength;
      this.end = located.next;
      this.last = e.index;
    }
  }

  /** End offset of the log just before index `i` (i within the tail or right after it). */
  private endBefore(i: number): number {
    if (i - 1 >= this.tailStart) return this.tail[i - 1 - this.tailStart].next;
    if (i - 1 < this.log.firstIndex) return Number(this.log.logStartOffset);
    return this.entryAt(i - 1)!.next;
  }

  /** Drops entries at or below `limit` (applied and durable) from the front while over budget. */
  trim(limit: number): void {
    while (this.tail.length > 1 && this.tailBytes > this.maxTailBytes && this.tailStart <= limit) {
      const e = this.tail.shift()!;
      this.tailBytes -= e.entry.data.byteLength;
      this.tailStart++;
    }
  }

  /**
   * Record batches from `offset` on, served from memory: the batch holding `offset` first, then
   * whole batches starting below `maxOffset` while they fit in `maxBytes`. Undefined when `offset`
   * is below the tail (the caller reads the files).
   */
  readTail(offset: number, maxBytes: number, maxOffset: number): Buffer[] | undefined {
    const firstTailOffset = this.tail.length > 0 ? this.tail[0].offset : this.end;
    if (offset < firstTailOffset) return undefined;
    let lo = 0;
    let hi = this.tail.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.tail[mid].next <= offset) lo = mid + 1;
      else hi = mid;
    }
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
}

/** A stored entry back as the Raft entry it was, with its offsets. */
function toLocated(st: { kind: string; index: number; term: number; entryType: number; offset: bigint; batchId?: Buffer; payload: Buffer }): LocatedEntry {
  if (st.kind === "batch") {
    const data = encodeDataEntry(st.batchId ?? Buffer.alloc(16), st.payload);
    const o = entryOffsets(data);
    return { entry: { index: st.index, term: st.term, type: 0, data }, offset: o.base, next: o.next };
  }
  if (st.kind === "control") {
    return { entry: { index: st.index, term: st.term, type: st.entryType as Entry["type"], data: st.payload }, offset: Number(st.offset), next: Number(st.offset) };
  }
  throw new Error(`entry ${st.index} is compacted; a compacted partition needs a snapshot (not built yet)`);
}
