import type { Entry, Snapshot } from "../../protocol/raft.js";
import { Unstable } from "./log-unstable.js";
import type { Storage } from "./types.js";

/** Bytes an entry costs against size limits (its payload; the header is small and fixed). */
export function entrySize(e: Entry): number {
  return e.data.byteLength + 16;
}

/** The longest prefix of `ents` within `maxSize` bytes, but always at least one entry. */
export function limitSize(ents: Entry[], maxSize: number): Entry[] {
  if (ents.length <= 1 || maxSize <= 0) return ents;
  let size = entrySize(ents[0]);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]);
    if (size > maxSize) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

/**
 * A node's view of its log: the durable part (Storage) followed by the unstable tail.
 *
 * Invariants: applied <= applying <= committed <= lastIndex(); entries up to committed are the
 * same on every node that has them. Only entries that are durable here are handed out to apply,
 * unless `applyBeforePersist` (RaftConfig) says committed is enough.
 */
export class RaftLog {
  readonly unstable: Unstable;
  /** Highest index known to be committed by a quorum. */
  committed: number;
  /** Highest index handed to the caller to apply. */
  applying: number;
  /** Highest index the caller has applied. */
  applied: number;

  constructor(
    readonly storage: Storage,
    private readonly applyBeforePersist = false,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** Highest index that is durable on this node. */
  persistedIndex(): number {
    if (this.unstable.snapshot) return Math.min(this.storage.lastIndex(), this.unstable.offset - 1);
    return this.unstable.offset - 1;
  }

  /** Term of entry i, or undefined when i is compacted or past the end. */
  term(i: number): number | undefined {
    const first = this.firstIndex() - 1; // the snapshot's index still has a known term
    if (i < first || i > this.lastIndex()) return undefined;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    const sf = this.storage.firstIndex() - 1;
    if (i < sf || i > this.storage.lastIndex()) return undefined;
    return this.storage.term(i);
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Appends a leader's entries that follow (index, logTerm), if this log has that entry.
   * Returns the last index of the new entries, or undefined when (index, logTerm) does not match.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) throw new Error(`entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    if (ents[0].index - 1 < this.committed) {
      throw new Error(`after ${ents[0].index - 1} is out of range [committed ${this.committed}]`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** Index of the first entry that is missing or has another term here; 0 when none. */
  private findConflict(ents: Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * The highest index ≤ `index` whose term is ≤ `term`, with that term: where a log that has
   * `term` at `index` can first agree with this one (the fast-backtracking hint).
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    for (;;) {
      const t = this.term(index);
      if (t === undefined) return [index, 0];
      if (t <= term) return [index, t];
      index--;
    }
  }

  commitTo(i: number): void {
    if (this.committed < i) {
      if (this.lastIndex() < i) throw new Error(`commit ${i} is out of range [last ${this.lastIndex()}]`);
      this.committed = i;
    }
  }

  /** Commits `maxIndex` if its entry is of `term` (Raft §5.4.2: count replicas only for the current term). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  appliedTo(i: number): void {
    if (i > this.committed) throw new Error(`applied ${i} is past the commit index ${this.committed}`);
    this.applied = Math.max(this.applied, i);
    this.applying = Math.max(this.applying, i);
  }

  hasNextOrInProgressSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /** Committed entries (durable ones only, unless `applyBeforePersist`) not yet handed out to apply. */
  nextCommittedEnts(maxSize: number): Entry[] {
    if (this.hasNextOrInProgressSnapshot()) return [];
    const lo = this.applying + 1;
    const hi = (this.applyBeforePersist ? this.committed : Math.min(this.committed, this.persistedIndex())) + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, maxSize);
  }

  /** Entries from i on, up to maxSize bytes; undefined when i is compacted. */
  entriesFrom(i: number, maxSize: number): Entry[] | undefined {
    if (i > this.lastIndex()) return [];
    if (i < this.firstIndex()) return undefined;
    return this.slice(i, this.lastIndex() + 1, maxSize);
  }

  /** Entries [lo, hi) limited to maxSize bytes (at least one). lo must be ≥ firstIndex(). */
  slice(lo: number, hi: number, maxSize: number): Entry[] {
    if (lo >= hi) return [];
    if (lo < this.firstIndex() || hi > this.lastIndex() + 1) {
      throw new RangeError(`slice [${lo}, ${hi}) out of bounds [${this.firstIndex()}, ${this.lastIndex()}]`);
    }
    const uo = this.unstable.offset;
    let ents: Entry[] = [];
    if (lo < uo) {
      ents = this.storage.entries(lo, Math.min(hi, uo), maxSize);
      // Storage returned fewer than asked (size limit): the unstable part is not reached.
      if (ents.length < Math.min(hi, uo) - lo) return ents;
    }
    if (hi > uo) {
      const u = this.unstable.slice(Math.max(lo, uo), hi);
      ents = ents.length > 0 ? ents.concat(u) : u;
    }
    return limitSize(ents, maxSize);
  }

  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }
}
