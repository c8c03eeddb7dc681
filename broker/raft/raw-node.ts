import { EntryType, type ConfChange, type ConfState, type Entry, type HardState, type Message } from "../../protocol/raft.js";
import { encodeConfChange } from "../../protocol/conf-change.js";
import { Raft } from "./raft.js";
import type { ProgressStatus, RaftConfig, Ready, SoftState, Status, Storage } from "./types.js";
import { ProgressState } from "./progress.js";

/** What one handed-out Ready wrote, so that its durability can be applied to the log later. */
interface InProgressWrite {
  number: number;
  /** Last entry written by that Ready (index 0: none). */
  lastIndex: number;
  lastTerm: number;
  snapshotIndex: number;
  /** Messages this node sent itself (its own vote, its own append acknowledgement). */
  selfMsgs: Message[];
}

/** A read-only view of a node's log, for the simulator's checker and status pages. */
export interface RaftLogView {
  firstIndex(): number;
  lastIndex(): number;
  lastTerm(): number;
  term(i: number): number | undefined;
  slice(lo: number, hi: number): Entry[];
  readonly committed: number;
  readonly applied: number;
  readonly persisted: number;
}

/**
 * The driver API of one Raft node: the caller feeds ticks, messages and proposals, takes a
 * `Ready`, does the I/O and reports back. Single-threaded and synchronous; the caller decides
 * when to batch and when to fsync. See `Ready` (types.ts) for the order of the caller's duties.
 *
 * Two ways to finish a Ready:
 * - `advance(rd)`: everything in it is durable and applied (simple callers, tests);
 * - `advanceAppend(rd)` now (committed entries applied, writes queued), then `onPersisted(n)` when
 *   the writes of Ready n and all before it are durable. Readies may be taken in between, so disk
 *   writes overlap with replication and with the next batch of proposals.
 */
export class RawNode {
  private readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private readyNumber = 0;
  private inProgress: InProgressWrite[] = [];
  readonly log: RaftLogView;

  constructor(config: RaftConfig, storage: Storage) {
    this.raft = new Raft(config, storage);
    this.prevSoft = this.softState();
    this.prevHard = this.raft.hardState();
    const log = this.raft.log;
    this.log = {
      firstIndex: () => log.firstIndex(),
      lastIndex: () => log.lastIndex(),
      lastTerm: () => log.lastTerm(),
      term: (i) => log.term(i),
      slice: (lo, hi) => log.slice(Math.max(lo, log.firstIndex()), Math.min(hi, log.lastIndex() + 1), 0),
      get committed() {
        return log.committed;
      },
      get applied() {
        return log.applied;
      },
      get persisted() {
        return log.persistedIndex();
      },
    };
  }

  tick(): void {
    this.raft.tick();
  }

  /** Campaigns now (with pre-vote if configured). */
  campaign(): void {
    this.raft.hup("campaign");
  }

  /** Proposes data; throws ProposalDroppedError if it cannot be taken (no leader, transfer, limits). */
  propose(data: Uint8Array): void {
    this.raft.propose([{ term: 0, index: 0, type: EntryType.Normal, data }]);
  }

  proposeConfChange(cc: ConfChange): void {
    this.raft.propose([{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }]);
  }

  /** The caller applies a committed ConfChange entry through this; returns the new membership. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** Feeds a message from a peer. Messages for another node or group are ignored. */
  step(m: Message): void {
    if (m.to !== this.raft.id || m.group !== this.raft.group) return;
    this.raft.step(m);
  }

  /** Asks for a linearizable read point; a ReadState with `context` appears in a later Ready. */
  readIndex(context: Uint8Array): void {
    this.raft.readIndex(context);
  }

  transferLeader(to: number): void {
    this.raft.transferLeader(to);
  }

  /** The transport could not reach `id`: stop streaming to it until it answers a probe. */
  reportUnreachable(id: number): void {
    const pr = this.raft.trk.progress.get(id);
    if (this.raft.role === "leader" && pr && pr.state === ProgressState.Replicate) pr.becomeProbe();
  }

  private softState(): SoftState {
    return { leader: this.raft.lead, role: this.raft.role };
  }

  hasReady(): boolean {
    const r = this.raft;
    const soft = this.softState();
    const hard = r.hardState();
    return (
      soft.leader !== this.prevSoft.leader ||
      soft.role !== this.prevSoft.role ||
      hard.term !== this.prevHard.term ||
      hard.vote !== this.prevHard.vote ||
      hard.commit !== this.prevHard.commit ||
      r.msgs.length > 0 ||
      r.msgsAfterPersist.length > 0 ||
      r.readStates.length > 0 ||
      r.log.unstable.nextEntries().length > 0 ||
      r.log.unstable.nextSnapshot() !== undefined ||
      r.log.nextCommittedEnts(1).length > 0
    );
  }

  ready(): Ready {
    const r = this.raft;
    const entries = r.log.unstable.nextEntries();
    const snapshot = r.log.unstable.nextSnapshot();
    const committedEntries = r.log.nextCommittedEnts(r.maxCommittedSizePerReady);
    const soft = this.softState();
    const hard = r.hardState();
    const rd: Ready = {
      number: ++this.readyNumber,
      entries,
      committedEntries,
      messages: r.msgs,
      persistedMessages: [],
      readStates: r.readStates,
      mustSync: entries.length > 0 || snapshot !== undefined || hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote,
    };
    if (snapshot) rd.snapshot = snapshot;
    if (soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role) rd.softState = soft;
    if (hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote || hard.commit !== this.prevHard.commit) {
      rd.hardState = hard;
    }
    const selfMsgs: Message[] = [];
    for (const m of r.msgsAfterPersist) (m.to === r.id ? selfMsgs : rd.persistedMessages).push(m);
    const last = entries.length > 0 ? entries[entries.length - 1] : undefined;
    this.inProgress.push({
      number: rd.number,
      lastIndex: last?.index ?? 0,
      lastTerm: last?.term ?? 0,
      snapshotIndex: snapshot?.meta.index ?? 0,
      selfMsgs,
    });

    // Everything in this Ready now belongs to the caller.
    r.msgs = [];
    r.msgsAfterPersist = [];
    r.readStates = [];
    r.log.unstable.acceptInProgress();
    if (committedEntries.length > 0) {
      r.log.applying = committedEntries[committedEntries.length - 1].index;
      r.reduceUncommittedSize(committedEntries);
    }
    this.prevSoft = soft;
    this.prevHard = hard;
    return rd;
  }

  /** Everything in `rd` is durable and applied. */
  advance(rd: Ready): void {
    this.advanceAppend(rd);
    this.onPersisted(rd.number);
  }

  /**
   * `rd`'s committed entries are applied; its writes are queued (see `onPersisted`). A snapshot
   * received from the leader counts as applied only once it is durable: until then the disk still
   * holds the log it replaces, and a snapshot of our own taken at "applied" would read that log.
   */
  advanceAppend(rd: Ready): void {
    if (rd.committedEntries.length > 0) this.raft.onApplied(rd.committedEntries[rd.committedEntries.length - 1].index);
  }

  /** The writes of Ready `number` and of every Ready before it are durable. */
  onPersisted(number: number): void {
    const aba = this.raft.bugs.has("persist-aba");
    while (this.inProgress.length > 0 && this.inProgress[0].number <= number) {
      const w = this.inProgress.shift()!;
      if (w.snapshotIndex > 0) {
        this.raft.log.unstable.stableSnapTo(w.snapshotIndex);
        this.raft.onApplied(w.snapshotIndex);
      }
      if (w.lastIndex > 0) this.raft.log.unstable.stableTo(w.lastIndex, w.lastTerm, aba);
      for (const m of w.selfMsgs) this.raft.stepSelf(m);
    }
  }

  status(): Status {
    const r = this.raft;
    const s: Status = {
      id: r.id,
      hardState: r.hardState(),
      softState: this.softState(),
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      confState: r.confState(),
      leadTransferee: r.leadTransferee,
    };
    if (r.role === "leader") {
      const progress = new Map<number, ProgressStatus>();
      for (const [id, pr] of r.trk.progress) {
        progress.set(id, { match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner, recentActive: pr.recentActive });
      }
      s.progress = progress;
    }
    return s;
  }
}
