import { decodeConfChange } from "../../protocol/conf-change.js";
import { EntryType, MessageType, type ConfState, type Entry, type Message } from "../../protocol/raft.js";
import type { MemoryStorage } from "../raft/memory-storage.js";
import { RawNode } from "../raft/raw-node.js";
import { ProposalDroppedError, StateRole, type RaftConfig, type Ready } from "../raft/types.js";
import type { Checker, VoteRequest } from "./checker.js";
import { FakeDisk } from "./disk.js";
import type { Rng } from "./rng.js";
import { StateMachine } from "./state-machine.js";

/** What a simulated node needs from the cluster around it. */
export interface NodeHost {
  readonly now: number;
  readonly checker: Checker;
  send(m: Message): void;
  /** Called for every entry a node applies (after the checker has seen it). */
  applied(node: SimNode, e: Entry): void;
  /** A node applied a ConfChange entry at `index`, giving `confState`. */
  confApplied(node: SimNode, index: number, confState: ConfState): void;
  /** A node installed a snapshot sent by the leader. */
  snapshotInstalled(node: SimNode): void;
  /** A read was answered. */
  readServed(node: SimNode): void;
  /** The node became leader of `term`. */
  leaderElected(node: SimNode, term: number): void;
  /** The node, leader, advanced its commit index for the first time in its term. */
  leaderCommitted(node: SimNode): void;
  /** The node granted its vote (not a pre-vote). */
  voted(node: SimNode): void;
}

/** A pending read: its ReadState arrived, waiting for the state machine to reach `index`. */
interface PendingRead {
  readId: number;
  index: number;
}

/**
 * One simulated broker hosting one replica: the real RawNode, a fake disk whose MemoryStorage is
 * the durable state, and a state machine. It drives the core exactly as the broker will (the
 * asynchronous-storage contract of types.ts) and reports everything the checker needs.
 */
export class SimNode {
  raw: RawNode | undefined;
  readonly disk: FakeDisk;
  sm = new StateMachine();
  confState: ConfState;
  /** Every membership this node applied since its snapshot, oldest first, with its index. */
  private confHistory: { index: number; confState: ConfState }[];
  /** Its role, from the last SoftState. */
  role: StateRole = StateRole.Follower;
  /** The term this node last became leader in. */
  term = 0;
  /** Commit index when it became leader, until its first commit as leader (then -1). */
  private commitAtElection = -1;
  /** Reads issued here whose ReadState has not come back yet, by read id. */
  readonly waitingReads = new Set<number>();
  private pendingReads: PendingRead[] = [];
  /** The last Vote/PreVote request stepped from each candidate, to judge the response we send. */
  private readonly voteRequests = new Map<number, VoteRequest>();

  constructor(
    readonly id: number,
    storage: MemoryStorage,
    diskRng: Rng,
    maxFsyncDelay: number,
    private readonly host: NodeHost,
    private readonly makeConfig: (id: number, applied: number) => RaftConfig,
  ) {
    this.disk = new FakeDisk(storage, diskRng, maxFsyncDelay);
    this.confState = storage.initialState().confState;
    this.confHistory = [{ index: 0, confState: this.confState }];
  }

  get up(): boolean {
    return this.raw !== undefined;
  }

  /** Boots (or reboots) the core over whatever is durable, rebuilding the state machine from the snapshot. */
  start(): void {
    const storage = this.disk.storage;
    const snap = storage.snapshot();
    this.sm = StateMachine.fromSnapshot(snap.data, snap.meta.index, snap.meta.term);
    this.confState = storage.initialState().confState;
    this.confHistory = [{ index: snap.meta.index, confState: this.confState }];
    this.role = StateRole.Follower;
    const first = storage.firstIndex();
    const terms: number[] = [];
    for (let i = first; i <= storage.lastIndex(); i++) terms.push(storage.term(i));
    this.host.checker.nodeStarted(this.id, first - 1, storage.term(first - 1), terms, snap.meta.index);
    this.raw = new RawNode(this.makeConfig(this.id, snap.meta.index), storage);
  }

  /** Power loss: the core, every unsynced write and every read in progress are gone. */
  crash(): void {
    this.raw = undefined;
    this.role = StateRole.Follower;
    this.disk.crash();
    for (const id of this.waitingReads) this.host.checker.readAbandoned(id);
    for (const r of this.pendingReads) this.host.checker.readAbandoned(r.readId);
    this.waitingReads.clear();
    this.pendingReads = [];
    this.voteRequests.clear();
  }

  step(m: Message): void {
    const raw = this.raw;
    if (raw === undefined) return;
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.voteRequests.set(voteKey(m.from, m.type === MessageType.PreVote), { term: m.term, logTerm: m.logTerm, index: m.index });
    }
    raw.step(m);
    this.handleReady();
  }

  tick(): void {
    if (this.raw === undefined) return;
    this.raw.tick();
    this.handleReady();
  }

  /** Runs `f` against the core, turning a refusal into `false`; any other exception is the core's bug. */
  try(f: (raw: RawNode) => void): boolean {
    if (this.raw === undefined) return false;
    try {
      f(this.raw);
    } catch (e) {
      if (e instanceof ProposalDroppedError) return false;
      throw e;
    }
    this.handleReady();
    return true;
  }

  /** Completes due fsyncs: the writes are durable now, so their promises may go out. */
  flushDisk(): void {
    const raw = this.raw;
    if (raw === undefined) return;
    for (const w of this.disk.flush(this.host.now)) {
      for (const m of w.persistedMessages) this.host.send(m);
      raw.onPersisted(w.readyNumber);
    }
    this.handleReady();
  }

  /**
   * Snapshots the state machine and compacts the log below the snapshot, keeping `keep` entries.
   * The snapshot is taken at the applied index, or a little behind it: never past what this
   * node's disk holds, nor past its durable commit index (a node restarting with a snapshot past
   * its hard state's commit is refused by the core).
   */
  compact(keep: number): boolean {
    const storage = this.disk.storage;
    if (this.raw === undefined) return false;
    const index = Math.min(this.sm.index, storage.lastIndex(), storage.initialState().hardState.commit);
    if (index <= storage.snapshot().meta.index) return false;
    const state = this.sm.at(index);
    // The disk may still hold an older entry at that index than the one applied.
    if (state === undefined || storage.term(index) !== state.term) return false;
    storage.createSnapshot(index, this.confAt(index), state.data);
    const to = index - keep;
    if (to >= storage.firstIndex()) storage.compact(to);
    return true;
  }

  /** The membership in force once `index` is applied. */
  private confAt(index: number): ConfState {
    let conf = this.confHistory[0].confState;
    for (const c of this.confHistory) if (c.index <= index) conf = c.confState;
    return conf;
  }

  private handleReady(): void {
    const raw = this.raw;
    if (raw === undefined) return;
    const checker = this.host.checker;
    while (raw.hasReady()) {
      const rd = raw.ready();
      if (rd.softState !== undefined) {
        this.role = rd.softState.role;
        if (rd.softState.role === StateRole.Leader) {
          const hs = raw.status().hardState;
          this.term = hs.term;
          this.commitAtElection = hs.commit;
          checker.leaderElected(this.id, this.term);
          this.host.leaderElected(this, this.term);
        }
      }
      this.checkVotes(rd.messages);
      this.checkVotes(rd.persistedMessages);
      for (const m of rd.messages) this.host.send(m);
      if (rd.snapshot !== undefined) {
        const meta = rd.snapshot.meta;
        this.sm = StateMachine.fromSnapshot(rd.snapshot.data, meta.index, meta.term);
        this.confState = meta.confState;
        this.confHistory = [{ index: meta.index, confState: meta.confState }];
        checker.snapshotInstalled(this.id, meta.index, meta.term, this.sm.hash);
        this.host.snapshotInstalled(this);
      }
      checker.appended(this.id, rd.entries);
      if (rd.hardState !== undefined) {
        checker.commitAdvanced(this.id, rd.hardState.commit);
        if (this.role === StateRole.Leader && this.commitAtElection >= 0 && rd.hardState.commit > this.commitAtElection) {
          this.commitAtElection = -1;
          this.host.leaderCommitted(this);
        }
      }
      this.queueWrites(rd);
      for (const e of rd.committedEntries) this.apply(raw, e);
      for (const rs of rd.readStates) {
        const readId = decodeId(rs.context);
        if (this.waitingReads.delete(readId)) this.pendingReads.push({ readId, index: rs.index });
      }
      raw.advanceAppend(rd);
    }
    this.serveReads();
  }

  private queueWrites(rd: Ready): void {
    if (rd.snapshot === undefined && rd.entries.length === 0 && rd.hardState === undefined && rd.persistedMessages.length === 0) return;
    this.disk.write(
      { readyNumber: rd.number, snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState, persistedMessages: rd.persistedMessages },
      this.host.now,
    );
  }

  private apply(raw: RawNode, e: Entry): void {
    const hash = this.sm.apply(e);
    this.host.checker.applied(this.id, e, hash);
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      this.confState = raw.applyConfChange(cc);
      this.confHistory.push({ index: e.index, confState: this.confState });
      this.host.confApplied(this, e.index, this.confState);
    }
    this.host.applied(this, e);
  }

  private serveReads(): void {
    if (this.pendingReads.length === 0) return;
    const applied = this.sm.index;
    const still: PendingRead[] = [];
    for (const r of this.pendingReads) {
      if (r.index > applied) still.push(r);
      else {
        this.host.checker.readServed(r.readId, this.id, r.index);
        this.host.readServed(this);
      }
    }
    this.pendingReads = still;
  }

  private checkVotes(messages: readonly Message[]): void {
    for (const m of messages) {
      if (m.reject || (m.type !== MessageType.VoteResp && m.type !== MessageType.PreVoteResp)) continue;
      const pre = m.type === MessageType.PreVoteResp;
      const req = this.voteRequests.get(voteKey(m.to, pre));
      if (req !== undefined) this.host.checker.voteGranted(this.id, m.to, pre ? "pre-vote" : "vote", req);
      if (!pre) this.host.voted(this);
    }
  }
}

function voteKey(candidate: number, pre: boolean): number {
  return candidate * 2 + (pre ? 1 : 0);
}

/** Read contexts and proposal payloads are a unique id in 4 big-endian bytes. */
export function encodeId(id: number): Uint8Array {
  return new Uint8Array([id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]);
}

export function decodeId(b: Uint8Array): number {
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}
