import { emptyConfState, type ConfState, type Entry, type HardState, type Snapshot } from "../../protocol/raft.js";
import { bootstrapState } from "./bootstrap.js";
import { limitSize } from "./raft-log.js";
import type { Storage } from "./types.js";

/**
 * Storage kept in memory: what the simulator uses as a node's durable disk, and a reference for
 * real storage. `entries[0]` is a dummy holding the index and term of the last compacted entry.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot;
  /** entries[i] has index entries[0].index + i. */
  private ents: Entry[];

  constructor(confState: ConfState = emptyConfState()) {
    this.snap = { meta: { index: 0, term: 0, confState }, data: new Uint8Array(0) };
    this.ents = [{ index: 0, term: 0, type: 0, data: new Uint8Array(0) }];
  }

  /** Storage of an initial member of a new group (see `bootstrapState`). */
  static bootstrap(members: ConfState): MemoryStorage {
    const s = new MemoryStorage();
    const { entries, hardState } = bootstrapState(members);
    s.append(entries);
    s.setHardState(hardState);
    return s;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: this.snap.meta.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  private offset(): number {
    return this.ents[0].index;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  term(i: number): number {
    const off = this.offset();
    if (i < off || i > this.lastIndex()) throw new RangeError(`term(${i}) outside [${off}, ${this.lastIndex()}]`);
    return this.ents[i - off].term;
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const off = this.offset();
    if (lo <= off || hi > this.lastIndex() + 1) throw new RangeError(`entries [${lo}, ${hi}) outside storage`);
    return limitSize(this.ents.slice(lo - off, hi - off), maxSize);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces everything with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.snap.meta.index) return;
    this.snap = snap;
    this.ents = [{ index: snap.meta.index, term: snap.meta.term, type: 0, data: new Uint8Array(0) }];
  }

  /** Records a snapshot of the state machine at `index` (≤ applied); compaction is separate. */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.meta.index) return this.snap;
    if (index > this.lastIndex()) throw new RangeError(`snapshot ${index} is past the last index ${this.lastIndex()}`);
    this.snap = { meta: { index, term: this.term(index), confState }, data };
    return this.snap;
  }

  /** Drops entries up to `index`, keeping its term as the dummy. */
  compact(index: number): void {
    const off = this.offset();
    if (index <= off) return;
    if (index > this.lastIndex()) throw new RangeError(`compact ${index} is past the last index ${this.lastIndex()}`);
    const dummy = this.ents[index - off];
    this.ents = [{ index: dummy.index, term: dummy.term, type: 0, data: new Uint8Array(0) }, ...this.ents.slice(index - off + 1)];
  }

  /** Appends, replacing any stored entries at or after the first new index. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[entries.length - 1].index;
    if (last < first) return; // all compacted already
    const ents = first > entries[0].index ? entries.slice(first - entries[0].index) : entries;
    const at = ents[0].index - this.offset();
    if (at > this.ents.length) throw new RangeError(`missing log entry: last ${this.lastIndex()}, appending at ${ents[0].index}`);
    this.ents = this.ents.slice(0, at).concat(ents);
  }
}
