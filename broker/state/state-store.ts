/**
 * StateStore: a broker's small, hot, transactional state in LMDB (the only module that imports
 * `lmdb`): Raft hard state per group, snapshots per group (metadata and small data), and small named records (the
 * metadata image, committed consumer offsets, …). It is not the log.
 *
 * Durability story, precisely:
 * - Writes made in one event-loop turn become one LMDB transaction (lmdb's event-turn batching),
 *   committed on lmdb's writer thread, then synced (overlappingSync, the Linux default): the
 *   transaction is visible ("committed") before it is on disk ("flushed").
 * - Every write method here resolves only when its transaction is **flushed**, i.e. fsynced.
 *   A resolved `putHardState` therefore may precede a vote or an acknowledgement (Raft: persist
 *   before send). Many groups' writes in one turn share one commit and one sync.
 * - Reads (`hardState`, `snapshot`, `get`) are synchronous and see committed writes, which may
 *   not be on disk yet: after a crash, a read can only go back to a flushed state, never forward.
 * - `write(batch)` puts several records in one transaction: all or none survive a crash.
 * - Nothing here uses `noSync`; the bench may, through `unsafeNoSync`, and says so.
 */
import { open, type Database, type RootDatabase } from "lmdb";
import type { ConfState, HardState } from "../../protocol/raft.js";

/**
 * A group's latest snapshot: its Raft position, the log position it maps to, and its (small) data.
 * For a partition the log itself is the state, so the data is only what the log cannot rebuild
 * cheaply (the dedup window, …); whole snapshots of big state machines belong in files.
 */
export interface SnapshotRecord {
  index: number;
  term: number;
  confState: ConfState;
  /** The partition's next offset after the last entry the snapshot covers. */
  nextOffset: bigint;
  logStartOffset: bigint;
  data: Uint8Array;
}

/** A value of a named record: plain data (msgpack), no functions or classes. */
export type StateValue = null | boolean | number | bigint | string | Uint8Array | StateValue[] | { [key: string]: StateValue };

/** Records written together in one transaction. */
export interface StateBatch {
  hardStates?: Array<[group: string, state: HardState]>;
  snapshots?: Array<[group: string, meta: SnapshotRecord]>;
  /** Named records; a value of `undefined` deletes the key. */
  records?: Array<[namespace: string, key: string, value: StateValue | undefined]>;
}

export interface StateStoreOptions {
  /** Directory of the LMDB environment. */
  path: string;
  /** Skip fsync entirely. Only for benchmarks and throwaway runs: nothing is durable. */
  unsafeNoSync?: boolean;
}

export class StateStore {
  private readonly hard: Database<HardState, string>;
  private readonly snaps: Database<SnapshotRecord, string>;
  private readonly records: Database<StateValue, string>;

  private constructor(private readonly root: RootDatabase) {
    this.hard = root.openDB<HardState, string>("hard-state", {});
    this.snaps = root.openDB<SnapshotRecord, string>("snapshot-meta", {});
    this.records = root.openDB<StateValue, string>("records", {});
  }

  static open(options: StateStoreOptions): StateStore {
    return new StateStore(open({ path: options.path, maxDbs: 8, noSync: options.unsafeNoSync === true }));
  }

  hardState(group: string): HardState | undefined {
    return this.hard.get(group);
  }

  snapshot(group: string): SnapshotRecord | undefined {
    return this.snaps.get(group);
  }

  get(namespace: string, key: string): StateValue | undefined {
    return this.records.get(recordKey(namespace, key));
  }

  /** Every record of a namespace, in key order. */
  *entries(namespace: string): Generator<[string, StateValue]> {
    const prefix = recordKey(namespace, "");
    for (const { key, value } of this.records.getRange({ start: prefix, end: prefix + "\uffff" })) {
      yield [key.slice(prefix.length), value];
    }
  }

  putHardState(group: string, state: HardState): Promise<void> {
    return this.write({ hardStates: [[group, state]] });
  }

  putSnapshot(group: string, meta: SnapshotRecord): Promise<void> {
    return this.write({ snapshots: [[group, meta]] });
  }

  put(namespace: string, key: string, value: StateValue | undefined): Promise<void> {
    return this.write({ records: [[namespace, key, value]] });
  }

  /** Writes everything in `batch` in one transaction; resolves once it is on disk. */
  async write(batch: StateBatch): Promise<void> {
    await this.root.transaction(() => {
      for (const [group, state] of batch.hardStates ?? []) {
        void this.hard.put(group, { term: state.term, vote: state.vote, commit: state.commit });
      }
      for (const [group, meta] of batch.snapshots ?? []) void this.snaps.put(group, meta);
      for (const [ns, key, value] of batch.records ?? []) {
        if (value === undefined) void this.records.remove(recordKey(ns, key));
        else void this.records.put(recordKey(ns, key), value);
      }
    });
    await this.root.flushed;
  }

  /** Removes a group's hard state and snapshot (the replica was deleted). */
  async removeGroup(group: string): Promise<void> {
    await this.root.transaction(() => {
      void this.hard.remove(group);
      void this.snaps.remove(group);
    });
    await this.root.flushed;
  }

  /** Waits for every write so far to be flushed, then closes the environment. */
  async close(): Promise<void> {
    await this.root.flushed;
    await this.root.close();
  }
}

/** Namespaces cannot contain NUL, so "ns\0key" keys never collide and sort by namespace. */
function recordKey(namespace: string, key: string): string {
  if (namespace.includes("\0")) throw new RangeError(`namespace ${JSON.stringify(namespace)} contains NUL`);
  return `${namespace}\0${key}`;
}
