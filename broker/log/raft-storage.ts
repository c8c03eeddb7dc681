/**
 * RaftLogStorage: the Raft core's `Storage` over a SegmentLog (the entries) and a small state
 * store (hard state and the latest snapshot), plus `persist`, the write half of the Ready loop.
 *
 * It matches the core's `Storage` and `Ready` by shape, so broker/log depends on protocol/ only;
 * `StateStore` (broker/state) is the store used in production and satisfies `RaftStateStore`.
 *
 * How a Ready is persisted (see `persist`): the caller sends `rd.messages` first, then calls
 * `persist(rd)`, which starts every write at once — the log append (written by the log's pump,
 * fsynced by the broker's group committer) and the hard state if given (one LMDB transaction per
 * event turn, for every group that wrote in it) — and resolves when all of them are on disk. Then
 * the caller sends `rd.persistedMessages` and calls `onPersisted(rd.number)`. Because appends
 * resolve in order and LMDB flushes in order, the promises of successive Readies resolve in order
 * too. The two are synced separately, so a caller passes a commit index no further than the log is
 * already durable, and need pass a hard state only when the term or vote changed: the partition
 * driver (broker/partition/raft-driver.ts) writes commit-only changes lazily, off this path.
 *
 * Reads (`entries`, `term`) are synchronous, as the core wants. Recent entries, the ones replication
 * asks for, come from an in-memory tail of what was persisted (bounded in bytes); older ones are
 * read from the segment files with blocking reads (page cache in practice; a follower far behind
 * may cost the event loop a few milliseconds per read).
 */
import { EntryType, type ConfState, type Entry, type HardState, type Snapshot } from "../../protocol/raft.js";
import { LogError, LogErrorCode } from "./log-error.js";
import type { AppendEntry, CompactionOptions, CompactionReport, RetentionPolicy, SegmentLog, StoredEntry } from "./segment-log.js";

/** A snapshot as the state store keeps it (broker/state's SnapshotRecord). */
export interface StoredSnapshot {
  index: number;
  term: number;
  confState: ConfState;
  nextOffset: bigint;
  logStartOffset: bigint;
  data: Uint8Array;
}

/** What RaftLogStorage needs from the state store; every write resolves once it is on disk. */
export interface RaftStateStore {
  hardState(group: string): HardState | undefined;
  snapshot(group: string): StoredSnapshot | undefined;
  putHardState(group: string, state: HardState): Promise<void>;
  putSnapshot(group: string, snapshot: StoredSnapshot): Promise<void>;
}

/**
 * How a group's Raft entries map to log entries and back. A partition maps its data entries
 * (header + record batch, offsets stamped) to `kind: "batch"`; anything else is a control entry.
 */
export interface EntryCodec {
  toLog(entry: Entry): AppendEntry;
  fromLog(stored: StoredEntry): Entry;
  /** Where the log continues after a snapshot received from the leader. */
  snapshotPosition(snapshot: Snapshot): { nextOffset: bigint; logStartOffset: bigint };
}

/** Stores every entry as opaque bytes (no offsets): right for any group that is not a partition. */
export const opaqueEntryCodec: EntryCodec = {
  toLog: (e) => ({ kind: "control", index: e.index, term: e.term, entryType: e.type, data: e.data }),
  fromLog: (s) => ({ index: s.index, term: s.term, type: s.entryType === EntryType.ConfChange ? EntryType.ConfChange : EntryType.Normal, data: s.payload }),
  snapshotPosition: () => ({ nextOffset: 0n, logStartOffset: 0n }),
};

/** The parts of a Ready that are written to disk. */
export interface PersistWork {
  snapshot?: Snapshot;
  entries: Entry[];
  hardState?: HardState;
}

export interface RaftLogStorageOptions {
  group: string;
  log: SegmentLog;
  state: RaftStateStore;
  codec?: EntryCodec;
  /** Membership of a brand-new group (no snapshot yet). */
  initialConfState: ConfState;
  /** Bytes of recent entries kept in memory for replication. Default 8 MiB. */
  tailCacheBytes?: number;
}

/** Bytes an entry counts for against `maxSize` (payload plus a small fixed header). */
function entrySize(e: Entry): number {
  return e.data.byteLength + 16;
}

export class RaftLogStorage {
  private readonly group: string;
  private readonly log: SegmentLog;
  private readonly state: RaftStateStore;
  private readonly codec: EntryCodec;
  private readonly tailCacheBytes: number;
  private snap: Snapshot;
  private snapPosition: { nextOffset: bigint; logStartOffset: bigint };
  private hard: HardState;
  /** Index of the last entry persisted (or being persisted). */
  private last: number;
  /** Recent entries; Invariant: when non-empty, `tail[i].index === tailStart + i` and the last is `last`. */
  private tail: Entry[] = [];
  private tailBytes = 0;

  private constructor(options: RaftLogStorageOptions) {
    this.group = options.group;
    this.log = options.log;
    this.state = options.state;
    this.codec = options.codec ?? opaqueEntryCodec;
    this.tailCacheBytes = options.tailCacheBytes ?? 8 * 1024 * 1024;
    const stored = options.state.snapshot(options.group);
    this.snap = stored
      ? { meta: { index: stored.index, term: stored.term, confState: stored.confState }, data: stored.data }
      : { meta: { index: 0, term: 0, confState: options.initialConfState }, data: new Uint8Array(0) };
    this.snapPosition = stored ? { nextOffset: stored.nextOffset, logStartOffset: stored.logStartOffset } : { nextOffset: 0n, logStartOffset: 0n };
    this.hard = options.state.hardState(options.group) ?? { term: 0, vote: 0, commit: 0 };
    this.last = this.snap.meta.index;
  }

  /**
   * Opens the storage of a group and reconciles its log with its snapshot: a crash between
   * recording a received snapshot and resetting the log leaves a log that does not continue the
   * snapshot, and that log is then reset.
   */
  static async open(options: RaftLogStorageOptions): Promise<RaftLogStorage> {
    const s = new RaftLogStorage(options);
    const { index, term } = s.snap.meta;
    const log = s.log;
    const continues = log.firstIndex <= index + 1 && log.lastIndex >= index && (index === 0 || index < log.firstIndex || log.termAt(index) === term);
    if (!continues) await log.reset(index + 1, s.snapPosition.nextOffset);
    s.last = Math.max(log.lastIndex, index);
    return s;
  }

  // ---- Storage (synchronous, read-only for the core) ----

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hard }, confState: this.snap.meta.confState };
  }

  firstIndex(): number {
    return this.snap.meta.index + 1;
  }

  lastIndex(): number {
    return this.last;
  }

  term(i: number): number {
    if (i === this.snap.meta.index) return this.snap.meta.term;
    if (i < this.snap.meta.index || i > this.last) throw new RangeError(`term(${i}) outside [${this.snap.meta.index}, ${this.last}]`);
    const tailStart = this.tailStart();
    if (tailStart !== undefined && i >= tailStart) return this.tail[i - tailStart].term;
    const t = this.log.termAt(i);
    if (t === undefined) throw new RangeError(`term(${i}): not in the log [${this.log.firstIndex}, ${this.log.lastIndex}]`);
    return t;
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    if (lo <= this.snap.meta.index || hi > this.last + 1) {
      throw new RangeError(`entries [${lo}, ${hi}) outside storage [${this.snap.meta.index + 1}, ${this.last + 1})`);
    }
    const out: Entry[] = [];
    let size = 0;
    const full = (e: Entry): boolean => out.length > 0 && maxSize > 0 && size + entrySize(e) > maxSize;
    const tailStart = this.tailStart() ?? hi;
    if (lo < tailStart) {
      for (const stored of this.log.readEntriesSync(lo, Math.min(hi, tailStart), maxSize > 0 ? maxSize : Infinity)) {
        const e = this.codec.fromLog(stored);
        if (full(e)) return out;
        out.push(e);
        size += entrySize(e);
      }
      if (out.length < Math.min(hi, tailStart) - lo) return out; // the byte limit stopped the read
    }
    for (let i = Math.max(lo, tailStart); i < hi; i++) {
      const e = this.tail[i - tailStart];
      if (full(e)) break;
      out.push(e);
      size += entrySize(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  private tailStart(): number | undefined {
    return this.tail.length > 0 ? this.tail[0].index : undefined;
  }

  // ---- writes ----

  /**
   * Persists a Ready's snapshot, entries and hard state; resolves when all are on disk. Entries
   * at or after the first new index are replaced (Raft's conflicting suffix).
   */
  async persist(rd: PersistWork): Promise<void> {
    if (rd.snapshot && rd.snapshot.meta.index > this.snap.meta.index) await this.installSnapshot(rd.snapshot);
    const writes: Array<Promise<void>> = [];
    if (rd.entries.length > 0) writes.push(this.appendEntries(rd.entries));
    if (rd.hardState) {
      this.hard = { ...rd.hardState };
      writes.push(this.state.putHardState(this.group, this.hard));
    }
    await Promise.all(writes);
  }

  private appendEntries(entries: Entry[]): Promise<void> {
    const first = entries[0].index;
    const writes: Array<Promise<void>> = [];
    if (first <= this.last) {
      // Queued in the log's pump before the append, so the order on disk is the order here.
      writes.push(this.log.truncateFromIndex(first));
      this.dropTailFrom(first);
    }
    writes.push(
      this.log.append(entries.map((e) => this.codec.toLog(e))).catch((err: unknown) => {
        // A later Ready replaced these entries before they were durable: the core will find the
        // term changed when told they are persisted, and ignore them (etcd's stableTo check).
        if (err instanceof LogError && err.code === LogErrorCode.Truncated) return;
        throw err;
      }),
    );
    for (const e of entries) this.pushTail(e);
    this.last = entries[entries.length - 1].index;
    return Promise.all(writes).then(() => undefined);
  }

  /**
   * A snapshot from the leader replaces the whole log. The snapshot is recorded first, then the
   * log reset; `open` repairs a crash in between. Entries of the same Ready follow the reset.
   */
  private async installSnapshot(snapshot: Snapshot): Promise<void> {
    const position = this.codec.snapshotPosition(snapshot);
    await this.state.putSnapshot(this.group, { ...snapshot.meta, ...position, data: snapshot.data });
    this.snap = snapshot;
    this.snapPosition = position;
    this.dropTailFrom(0);
    this.last = snapshot.meta.index;
    await this.log.reset(snapshot.meta.index + 1, position.nextOffset);
  }

  /**
   * Records a snapshot of this node's own applied state at `index` (≤ the applied index), so the
   * log below it may be deleted by retention and lagging followers get it instead of entries.
   */
  async createSnapshot(index: number, confState: ConfState, data: Uint8Array, position: { nextOffset: bigint; logStartOffset: bigint }): Promise<Snapshot> {
    if (index <= this.snap.meta.index) return this.snap;
    const snapshot: Snapshot = { meta: { index, term: this.term(index), confState }, data };
    await this.state.putSnapshot(this.group, { ...snapshot.meta, ...position, data });
    this.snap = snapshot;
    this.snapPosition = position;
    return snapshot;
  }

  /** Retention on this group's log, never past the snapshot: Raft may still send those entries. */
  enforceRetention(policy: Omit<RetentionPolicy, "maxIndex">): Promise<number> {
    return this.log.enforceRetention({ ...policy, maxIndex: this.snap.meta.index });
  }

  /** Compaction of this group's log, only below the snapshot: Raft never reads those entries again. */
  compact(options: Omit<CompactionOptions, "maxIndex">): Promise<CompactionReport> {
    return this.log.compact({ ...options, maxIndex: this.snap.meta.index });
  }

  private pushTail(e: Entry): void {
    this.tail.push(e);
    this.tailBytes += entrySize(e);
    let drop = 0;
    while (this.tailBytes > this.tailCacheBytes && drop < this.tail.length - 1) this.tailBytes -= entrySize(this.tail[drop++]);
    if (drop > 0) this.tail.splice(0, drop);
  }

  private dropTailFrom(index: number): void {
    const start = this.tailStart();
    if (start === undefined || index > this.last) return;
    const keep = Math.max(0, index - start);
    for (const e of this.tail.slice(keep)) this.tailBytes -= entrySize(e);
    this.tail.length = keep;
  }
}
