/**
 * RaftDriver: drives one replica's RawNode. Inputs (peer messages through the RaftRouter, ticks
 * from a timer, proposals) go into the RawNode; `drain()` then takes every Ready and, per Ready, in
 * this order:
 * 1. sends `messages` at once (they never depend on this Ready's writes);
 * 2. hands `entries` to the replica (`onEntries`: the PartitionTail records offsets and dedup; a
 *    conflicting suffix is dropped and its waiting produces rejected first) and then, with a
 *    term/vote change, to RaftLogStorage (broker/log: SegmentLog append and LMDB hard state, both
 *    asynchronous, group-fsynced);
 * 3. has the replica apply `committedEntries` (`onCommitted`; durable on a majority, not always here
 *    yet: the replica's Raft config sets applyBeforePersist, see PartitionReplica.writeCheckpoint): a data
 *    entry moves the high watermark to its end offset, a ConfChange goes through `applyConfChange`;
 *    calls `advanceAppend`; answers ReadStates once applied (`afterApply`);
 * 4. when both writes of this Ready are durable, and those of every Ready before it (one promise
 *    chain keeps them in order), sends `persistedMessages` (votes, acks), calls `onPersisted` on the
 *    node and then on the replica — at once when nothing is being written (idle groups' heartbeat
 *    rounds then cost no promise round trip).
 * Nothing waits on the event loop: writes overlap with replication and with the next Readies.
 *
 * Hard state (term, vote, commit) lives in LMDB: a term or vote change is written with its Ready
 * and waited for before any vote or acknowledgement that depends on it; commit-only changes are
 * written lazily (see `scheduleCommitWrite`): the commit index is knowledge a node learns again.
 * Whatever writes it stores `storableHardState`, whose commit index never passes this node's own
 * durable log (see there why).
 */
import type { Entry, HardState, Message } from "../../protocol/raft.js";
import type { RawNode, ReadState, Ready, StateRole } from "../raft/index.js";
import type { PersistWork, RaftLogStorage } from "../log/index.js";
import type { StateStore } from "../state/index.js";

/** What the replica does with each part of a Ready (called in the order of the module comment). */
export interface ReadyHandler {
  /** True once the replica is closed or failed: nothing more is handled. */
  isStopped(): boolean;
  /** A Ready could not be handled or a write failed: the replica stops. */
  failStop(err: Error): void;
  /** Step 2, before the entries are persisted. */
  onEntries(entries: Entry[]): void;
  /** Step 2: the hard state changed (before a role change of the same Ready). */
  onHardState(hs: HardState): void;
  onSoftState(role: StateRole, leader: number): void;
  /** Step 3. */
  onCommitted(entries: Entry[]): void;
  /** Step 3, after every Ready, with its ReadStates (possibly none). */
  afterApply(readStates: ReadState[]): void;
  /** Step 4: the node's log is durable further. */
  onPersisted(): void;
}

export class RaftDriver {
  private hs: HardState;
  private persistChain: Promise<void> = Promise.resolve();
  private drainScheduled = false;
  private draining = false;
  private commitWriteTimer: NodeJS.Timeout | undefined;
  /** Readies in `persistChain` whose durable step has not run yet. */
  private chained = 0;

  constructor(
    readonly node: RawNode,
    private readonly storage: RaftLogStorage,
    private readonly stateStore: StateStore,
    private readonly group: string,
    private readonly send: (m: Message) => void,
    private readonly handler: ReadyHandler,
    hardState: HardState,
  ) {
    this.hs = hardState;
  }

  /**
   * The hard state as it may be written to LMDB: the commit index clamped to this node's durable
   * log. LMDB and the segment files are synced separately, so a commit index stored ahead of the
   * entries it covers could outlive them in a power cut: a leader that applies before its own
   * write is durable (applyBeforePersist) would find a shorter log, and a follower whose
   * truncation of a conflicting suffix was lost would find the old entries there and take them
   * for committed (the core only clamps a stored commit to the log's last index). Entries up to
   * `persisted` are durable and are the ones this node holds; a commit stored lower than known
   * is merely learned again from the leader.
   */
  get storableHardState(): HardState {
    const { term, vote, commit } = this.hs;
    return { term, vote, commit: Math.min(commit, this.node.log.persisted) };
  }

  /** Drains in a microtask (once, however many inputs arrive before it). */
  scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    queueMicrotask(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  /** Handles every Ready the node has (synchronous: it only starts I/O). */
  drain(): void {
    if (this.draining || this.handler.isStopped()) return;
    this.draining = true;
    try {
      while (this.node.hasReady()) this.handleReady(this.node.ready());
    } catch (err) {
      this.handler.failStop(err as Error);
    } finally {
      this.draining = false;
    }
  }

  /** Resolves once every write started so far is durable and its messages are sent. */
  writesDone(): Promise<void> {
    return this.persistChain;
  }

  /** Cancels the pending commit-only hard state write (close, failure). */
  stop(): void {
    clearTimeout(this.commitWriteTimer);
    this.commitWriteTimer = undefined;
  }

  private handleReady(rd: Ready): void {
    // 1. Messages that do not depend on this Ready's writes go out now.
    for (const m of rd.messages) this.send(m);

    // 2. Writes: entries to the log (in memory at once, on disk in the background), hard state to LMDB.
    const writes: Array<Promise<unknown>> = [];
    if (rd.snapshot) throw new Error("snapshots are not supported by partition replicas yet");
    const work: PersistWork = { entries: rd.entries };
    if (rd.entries.length > 0) this.handler.onEntries(rd.entries);
    if (rd.hardState) {
      const hs = rd.hardState;
      const voteOrTerm = hs.term !== this.hs.term || hs.vote !== this.hs.vote;
      this.hs = hs;
      this.handler.onHardState(hs);
      const storable = this.storableHardState;
      if (voteOrTerm) work.hardState = storable;
      // A commit-only change, or a commit the durable log held back, is written later.
      if (!voteOrTerm || storable.commit < hs.commit) this.scheduleCommitWrite();
    }
    if (work.entries.length > 0 || work.hardState) writes.push(this.storage.persist(work));
    if (rd.softState) this.handler.onSoftState(rd.softState.role, rd.softState.leader);

    // 3. Apply what is committed (durable on a majority; this node's own write may still be under way).
    if (rd.committedEntries.length > 0) this.handler.onCommitted(rd.committedEntries);
    this.node.advanceAppend(rd);
    this.handler.afterApply(rd.readStates);

    // 4. Once this Ready's writes (and every earlier one's) are durable: acknowledgements and votes.
    const n = rd.number;
    const persisted = rd.persistedMessages;
    if (writes.length === 0 && this.chained === 0) {
      // Nothing of this Ready or before it is still being written (an idle group's heartbeat
      // round): no promise round trip; drain()'s loop takes whatever this makes ready.
      this.persistedUpTo(n, persisted);
      return;
    }
    const done = writes.length === 0 ? undefined : Promise.all(writes);
    done?.catch(() => undefined); // handled in the chain below; avoid an unhandled rejection meanwhile
    this.chained++;
    this.persistChain = this.persistChain
      .then(() => done)
      .then(
        () => {
          this.chained--;
          if (this.persistedUpTo(n, persisted)) this.scheduleDrain();
        },
        (err: unknown) => {
          this.chained--;
          this.handler.failStop(err as Error);
        },
      );
  }

  /** Ready `n`'s writes and every earlier one's are durable: what waited for them goes ahead (false: stopped). */
  private persistedUpTo(n: number, persisted: Message[]): boolean {
    if (this.handler.isStopped()) return false;
    for (const m of persisted) this.send(m);
    this.node.onPersisted(n);
    this.handler.onPersisted();
    return true;
  }

  /**
   * A commit-only hard state change is not waited for and not written at once: the commit index is
   * knowledge a restarted node learns again from its leader, so one LMDB write per second (or with
   * the next vote, term or checkpoint, which all carry the latest hard state) is enough, instead of
   * an LMDB commit and sync for every Ready. A write that the durable log held back is tried again
   * a second later, so an idle group's stored commit catches up with its last batch.
   */
  private scheduleCommitWrite(): void {
    if (this.commitWriteTimer) return;
    this.commitWriteTimer = setTimeout(() => {
      this.commitWriteTimer = undefined;
      if (this.handler.isStopped()) return;
      const hs = this.storableHardState;
      this.stateStore.putHardState(this.group, hs).catch((err: unknown) => this.handler.failStop(err as Error));
      if (hs.commit < this.hs.commit) this.scheduleCommitWrite();
    }, 1000);
    this.commitWriteTimer.unref();
  }
}
