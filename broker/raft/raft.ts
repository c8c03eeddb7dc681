import {
  EntryType,
  MessageType,
  emptyMessage,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type Snapshot,
} from "../../protocol/raft.js";
import { decodeConfChange, encodeConfChange } from "../../protocol/conf-change.js";
import { Changer, ConfChangeError, confChangeMode } from "./confchange.js";
import { ProgressState, type Progress } from "./progress.js";
import { VoteResult, jointVoteResult } from "./quorum.js";
import { RaftLog, entrySize } from "./raft-log.js";
import { ReadOnly } from "./read-only.js";
import { ProgressTracker, configFromConfState, confStateOf, isJoint, voterIds, type TrackerConfig } from "./tracker.js";
import {
  ProposalDroppedError,
  StateRole,
  type BugName,
  type RaftConfig,
  type ReadState,
  type Storage,
} from "./types.js";

/** Marks a Vote that comes from a leadership transfer: it bypasses leader stickiness. */
const CAMPAIGN_TRANSFER = new TextEncoder().encode("transfer");

const isTransfer = (ctx: Uint8Array | undefined): boolean =>
  ctx !== undefined && ctx.byteLength === CAMPAIGN_TRANSFER.byteLength && ctx.every((b, i) => b === CAMPAIGN_TRANSFER[i]);

/** Messages whose sending must wait until this node's writes so far are durable. */
const isResponseAfterPersist = (m: Message, bugs: ReadonlySet<BugName>): boolean => {
  switch (m.type) {
    case MessageType.AppResp:
      return true;
    case MessageType.VoteResp:
    case MessageType.PreVoteResp:
      return !bugs.has("no-persist-vote");
    default:
      return false;
  }
};

type CampaignKind = "pre-election" | "election" | "transfer";

/**
 * The Raft state machine of one node of one group: elections (pre-vote, check-quorum, leader
 * stickiness), replication with fast backtracking and a bounded pipeline, the commit rule,
 * ReadIndex and lease reads, leadership transfer, membership change (learners, joint consensus)
 * and chunked snapshots. Pure: input is `step`/`tick`, output goes to `msgs`, `msgsAfterPersist`
 * and `readStates`, which `RawNode` hands to the caller in a Ready.
 */
export class Raft {
  readonly id: number;
  readonly group: string;
  term = 0;
  /** Who this node voted for in `term` (0: nobody). */
  vote = 0;
  readonly log: RaftLog;
  readonly trk: ProgressTracker;
  role: StateRole = StateRole.Follower;
  /** Current leader as far as this node knows (0: unknown). */
  lead = 0;
  isLearner = false;
  /**
   * A committed change removed this node (it was a voter, and is now not even a learner). It may
   * still campaign, counting only the members' votes: with apply-time configuration, the removed
   * nodes can hold the longest logs while the members still see the joint config and need their
   * votes, which the log check withholds. Leading then means handing off to a member at once.
   */
  private retired = false;
  /** A TimeoutNow arrived while committed conf changes were unapplied: campaign once they are. */
  private timeoutNowPending = false;

  /** Messages that may be sent at once. */
  msgs: Message[] = [];
  /** Messages that may be sent only once everything handed out so far is durable. */
  msgsAfterPersist: Message[] = [];
  readStates: ReadState[] = [];

  /** Target of a leadership transfer in progress (0: none). */
  leadTransferee = 0;
  /** Index of the latest conf change the leader appended; a new one waits until it is applied. */
  pendingConfIndex = 0;
  /** Bytes of entries appended by this leader and not yet committed. */
  private uncommittedSize = 0;
  private readonly readOnly = new ReadOnly();
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  private pendingReadIndex: Message[] = [];

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Ticks since this node started: the clock of lease reads. */
  private ticks = 0;
  /** Tick at which this leader last sent TimeoutNow (its lease is void for an election timeout after). */
  private lastTimeoutNow = -Infinity;
  /** Follower side of InstallSnapshot: chunks received so far of one snapshot. */
  private incomingSnapshot: { meta: Snapshot["meta"]; total: number; chunks: Uint8Array[]; received: number } | undefined;

  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  private readonly cfg: Required<Omit<RaftConfig, "bugs" | "applied">>;
  readonly bugs: ReadonlySet<BugName>;
  get maxCommittedSizePerReady(): number {
    return this.cfg.maxCommittedSizePerReady;
  }

  constructor(config: RaftConfig, storage: Storage) {
    validateConfig(config);
    this.id = config.id;
    this.group = config.group;
    this.cfg = {
      id: config.id,
      group: config.group,
      electionTick: config.electionTick,
      heartbeatTick: config.heartbeatTick,
      random: config.random,
      maxSizePerMsg: config.maxSizePerMsg ?? 1 << 20,
      maxInflightMsgs: config.maxInflightMsgs ?? 256,
      maxInflightBytes: config.maxInflightBytes ?? 0,
      maxUncommittedEntriesSize: config.maxUncommittedEntriesSize ?? 0,
      maxCommittedSizePerReady: config.maxCommittedSizePerReady ?? 0,
      preVote: config.preVote ?? true,
      checkQuorum: config.checkQuorum ?? true,
      leaseRead: config.leaseRead ?? false,
      snapshotChunkSize: config.snapshotChunkSize ?? 512 * 1024,
      disableProposalForwarding: config.disableProposalForwarding ?? false,
      stepDownOnRemoval: config.stepDownOnRemoval ?? true,
      applyBeforePersist: config.applyBeforePersist ?? false,
      lazyCommitPropagation: config.lazyCommitPropagation ?? false,
    };
    this.bugs = config.bugs ?? new Set();
    this.electionTimeout = config.electionTick;
    this.heartbeatTimeout = config.heartbeatTick;
    this.log = new RaftLog(storage, this.cfg.applyBeforePersist);
    this.trk = new ProgressTracker(this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes);

    const { hardState, confState } = storage.initialState();
    this.switchToConfig(configFromConfState(confState), this.progressFor(configFromConfState(confState)));
    if (hardState.term > 0 || hardState.vote > 0 || hardState.commit > 0) this.loadHardState(hardState);
    if (config.applied && config.applied > 0) this.log.appliedTo(config.applied);
    this.becomeFollower(this.term, 0);
  }

  // ---------------------------------------------------------------- state

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  confState(): ConfState {
    return confStateOf(this.trk.config);
  }

  private loadHardState(hs: HardState): void {
    // The commit index is knowledge, not a promise: when the hard state reached the disk before
    // the entries it covers (separate files), the rest is learned again from the leader.
    this.log.committed = Math.max(this.log.committed, Math.min(hs.commit, this.log.lastIndex()));
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /** Whether this node may campaign: a voter, not in the middle of installing a snapshot. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    const voter = pr !== undefined ? !pr.isLearner : this.retired && this.trk.config.incoming.size > 0;
    return voter && !this.log.hasNextOrInProgressSnapshot();
  }

  private isVoter(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner;
  }

  private send(m: Message): void {
    if (m.to === 0) return;
    if (isResponseAfterPersist(m, this.bugs) || m.to === this.id) this.msgsAfterPersist.push(m);
    else this.msgs.push(m);
  }

  private msg(type: Message["type"], to: number, term = this.term): Message {
    return emptyMessage(type, this.group, this.id, to, term);
  }

  // ---------------------------------------------------------------- roles

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = 0;
    }
    this.lead = 0;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + this.cfg.random(this.electionTimeout);
    this.leadTransferee = 0;
    this.trk.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      const fresh = this.trk.newProgress(last + 1, pr.isLearner);
      // The leader counts itself only for what it has durably written.
      if (id === this.id) fresh.match = this.log.persistedIndex();
      this.trk.progress.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.timeoutNowPending = false;
    this.uncommittedSize = 0;
    this.readOnly.reset();
    this.pendingReadIndex = [];
  }

  becomeFollower(term: number, lead: number): void {
    this.reset(term);
    this.lead = lead;
    this.role = StateRole.Follower;
  }

  private becomePreCandidate(): void {
    if (this.role === StateRole.Leader) throw new Error("invalid transition leader → pre-candidate");
    // A pre-candidate changes neither term nor vote: it only asks whether it could win.
    this.trk.resetVotes();
    this.lead = 0;
    this.role = StateRole.PreCandidate;
  }

  private becomeCandidate(): void {
    if (this.role === StateRole.Leader) throw new Error("invalid transition leader → candidate");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = StateRole.Candidate;
  }

  private becomeLeader(): void {
    if (this.role === StateRole.Follower) throw new Error("invalid transition follower → leader");
    this.reset(this.term);
    this.lead = this.id;
    this.role = StateRole.Leader;
    const self = this.trk.progress.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Conf changes in the log before this term count as pending until applied.
    this.pendingConfIndex = this.log.lastIndex();
    // The no-op of the new term: committing it commits everything before it (§5.4.2) and lets
    // ReadIndex and conf changes start.
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]);
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    this.ticks++;
    if (this.role === StateRole.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup("election-timeout");
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        if (!this.trk.quorumActive(this.id)) {
          this.becomeFollower(this.term, 0);
          return;
        }
        for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.leadTransferee !== 0) this.leadTransferee = 0;
      this.maybeHandOff();
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  // ---------------------------------------------------------------- elections

  /** Starts an election if this node may: `reason` only documents why. */
  hup(reason: "election-timeout" | "campaign" | "transfer"): void {
    if (this.role === StateRole.Leader) return;
    if (!this.promotable()) return;
    // A node must apply every committed conf change before campaigning: one may remove it.
    if (this.hasUnappliedConfChanges()) return;
    if (reason === "transfer") this.campaign("transfer");
    else this.campaign(this.cfg.preVote ? "pre-election" : "election");
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    const ents = this.log.slice(lo, this.log.committed + 1, 0);
    return ents.some((e) => e.type === EntryType.ConfChange);
  }

  private campaign(kind: CampaignKind): void {
    let voteType: Message["type"];
    let term: number;
    if (kind === "pre-election") {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      term = this.term + 1; // the term it would campaign in
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      term = this.term;
    }
    const respType = voteType === MessageType.PreVote ? MessageType.PreVoteResp : MessageType.VoteResp;
    for (const id of voterIds(this.trk.config)) {
      if (id === this.id) {
        // Our own vote counts once it is durable, like anyone else's.
        this.send(this.msg(respType, id, term));
        continue;
      }
      const m = this.msg(voteType, id, term);
      m.index = this.log.lastIndex();
      m.logTerm = this.log.lastTerm();
      if (kind === "transfer") m.context = CAMPAIGN_TRANSFER;
      this.send(m);
    }
  }

  private poll(id: number, granted: boolean): VoteResult {
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes().result;
  }

  private handleVoteRequest(m: Message): void {
    const respType = m.type === MessageType.PreVote ? MessageType.PreVoteResp : MessageType.VoteResp;
    // We may vote for `from` if we already did in this term, if we have voted for nobody and know
    // no leader, or (pre-vote) for a future term.
    const canVote =
      this.vote === m.from ||
      (this.vote === 0 && this.lead === 0) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    const skipLogCheck = m.type === MessageType.PreVote && this.bugs.has("no-prevote-check");
    if (canVote && (skipLogCheck || this.log.isUpToDate(m.index, m.logTerm))) {
      // A granted vote carries the candidate's term so it counts toward that term's election.
      this.send(this.msg(respType, m.from, m.term));
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      const r = this.msg(respType, m.from);
      r.reject = true;
      this.send(r);
    }
  }

  // ---------------------------------------------------------------- step

  /** Feeds one message from a peer (or a local one with term 0). Never throws on peer input. */
  step(m: Message): void {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = isTransfer(m.context);
        // Leader stickiness: while we hear from a leader, ignore candidates (they may be
        // partitioned nodes that would disrupt a healthy group).
        const inLease = this.cfg.checkQuorum && this.lead !== 0 && this.electionElapsed < this.electionTimeout;
        const quietAfterStart = this.cfg.leaseRead && this.ticks < this.electionTimeout;
        if (!force && (inLease || quietAfterStart)) return;
      }
      if (m.type === MessageType.PreVote) {
        // never change term in response to a pre-vote
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // a granted pre-vote carries the term we would move to; the election does that
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, 0);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader (e.g. one partitioned away) learns our term from this and steps down;
        // without it, pre-vote would keep it from ever hearing a higher term.
        this.send(this.msg(MessageType.AppResp, m.from));
      } else if (m.type === MessageType.PreVote) {
        const r = this.msg(MessageType.PreVoteResp, m.from);
        r.reject = true;
        this.send(r);
      }
      return;
    }

    switch (m.type) {
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return;
    }
    switch (this.role) {
      case StateRole.Leader:
        this.stepLeader(m);
        break;
      case StateRole.Candidate:
      case StateRole.PreCandidate:
        this.stepCandidate(m);
        break;
      case StateRole.Follower:
        this.stepFollower(m);
        break;
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === StateRole.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshotChunk(m);
        return;
      case myResp: {
        const res = this.poll(m.from, !m.reject);
        if (res === VoteResult.Won) {
          if (this.role === StateRole.PreCandidate) this.campaign("election");
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === VoteResult.Lost) {
          this.becomeFollower(this.term, 0);
        }
        return;
      }
      default:
        return; // proposals are dropped by RawNode before reaching here; the rest is stale
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === 0 || this.cfg.disableProposalForwarding) return;
        this.send({ ...m, to: this.lead, from: this.id, term: 0 });
        return;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshotChunk(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead === 0) return;
        this.send({ ...m, to: this.lead, term: 0 });
        return;
      case MessageType.TimeoutNow:
        // Campaign at once, skipping pre-vote: the leader asked for it. A commit that arrived
        // with it may carry a conf change we must apply first; then campaign right after.
        if (this.hasUnappliedConfChanges()) this.timeoutNowPending = true;
        else this.hup("transfer");
        return;
      case MessageType.ReadIndex:
        if (this.lead === 0) return;
        this.send({ ...m, to: this.lead, term: 0 });
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, context: m.context ?? new Uint8Array(0) });
        return;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
        this.handleProposal(m);
        return;
      case MessageType.ReadIndex:
        this.handleReadIndex(m);
        return;
      case MessageType.TransferLeader:
        this.handleTransferLeader(m.from);
        return;
    }
    const pr = this.trk.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.AppResp:
        pr.recentActive = true;
        if (m.reject) this.handleAppReject(m, pr);
        else this.handleAppAccept(m, pr);
        return;
      case MessageType.HeartbeatResp:
        this.handleHeartbeatResp(m, pr);
        return;
      case MessageType.SnapResp:
        this.handleSnapResp(m, pr);
        return;
    }
  }

  // ---------------------------------------------------------------- proposals

  /** Appends a leader's proposal; throws ProposalDroppedError when it cannot be taken. */
  propose(entries: Entry[]): void {
    const m = this.msg(MessageType.Prop, 0, 0);
    m.entries = entries;
    if (this.role === StateRole.Leader) {
      this.handleProposal(m, true);
      return;
    }
    if (this.role !== StateRole.Follower) throw new ProposalDroppedError("no leader (election in progress)");
    if (this.lead === 0) throw new ProposalDroppedError("no leader");
    if (this.cfg.disableProposalForwarding) throw new ProposalDroppedError("not the leader, and forwarding is off");
    this.stepFollower(m);
  }

  private handleProposal(m: Message, local = false): void {
    const drop = (reason: string) => {
      if (local) throw new ProposalDroppedError(reason);
    };
    if (m.entries.length === 0) return drop("empty proposal");
    if (!this.trk.progress.has(this.id)) return drop("this node was removed from the group");
    if (this.leadTransferee !== 0) return drop(`leadership transfer to ${this.leadTransferee} in progress`);
    let confIndex = 0;
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i];
      if (e.type !== EntryType.ConfChange) continue;
      if (confIndex !== 0) return drop("only one conf change per proposal");
      let cc: ConfChange;
      try {
        cc = decodeConfChange(e.data);
      } catch (err) {
        return drop(`bad conf change: ${(err as Error).message}`);
      }
      const refused = this.refuseConfChange(cc);
      if (refused) return drop(refused);
      confIndex = this.log.lastIndex() + i + 1;
    }
    if (!this.appendEntries(m.entries)) return drop("too many uncommitted bytes");
    if (confIndex !== 0) this.pendingConfIndex = confIndex;
    this.bcastAppend();
  }

  /** Why a conf change cannot be proposed now, or undefined if it can. */
  private refuseConfChange(cc: ConfChange): string | undefined {
    // Until the leader commits an entry of its term it may not know the latest config
    // (Ongaro's single-server bug): no change may start before that.
    if (!this.committedEntryInCurrentTerm() && !this.bugs.has("conf-before-noop")) {
      return "the leader has not committed an entry of its term yet";
    }
    if (this.pendingConfIndex > this.log.applied) {
      return `conf change at ${this.pendingConfIndex} is not applied yet (applied ${this.log.applied})`;
    }
    const joint = isJoint(this.trk.config);
    const mode = confChangeMode(cc);
    if (joint && mode.kind !== "leave") return "the group is in joint consensus: leave it first";
    if (!joint && mode.kind === "leave") return "the group is not in joint consensus";
    return undefined;
  }

  /** Appends entries to the leader's log, stamping term and index. False when over the uncommitted limit. */
  private appendEntries(es: Entry[]): boolean {
    const last = this.log.lastIndex();
    let size = 0;
    for (const e of es) size += e.data.byteLength;
    const max = this.cfg.maxUncommittedEntriesSize;
    // Always accept one proposal into an empty pipeline, so a big entry cannot block forever.
    if (max > 0 && size > 0 && this.uncommittedSize > 0 && this.uncommittedSize + size > max) return false;
    this.uncommittedSize += size;
    const stamped = es.map((e, i) => ({ term: this.term, index: last + 1 + i, type: e.type, data: e.data }));
    const li = this.log.append(stamped);
    // The leader acknowledges its own entries only once they are durable (the self-addressed
    // AppResp is delivered after the write of this Ready completes). Replication goes out in
    // parallel with that write.
    const ack = this.msg(MessageType.AppResp, this.id);
    ack.index = li;
    this.send(ack);
    return true;
  }

  /** Entries of this leader are committed; their bytes leave the uncommitted budget. */
  reduceUncommittedSize(ents: Entry[]): void {
    if (this.role !== StateRole.Leader) return;
    let size = 0;
    for (const e of ents) size += e.data.byteLength;
    this.uncommittedSize = Math.max(0, this.uncommittedSize - size);
  }

  // ---------------------------------------------------------------- replication (leader)

  private bcastAppend(): void {
    for (const id of this.trk.ids()) if (id !== this.id) this.sendAppend(id);
  }

  /** Apps to every follower that has entries to send, and to no other. */
  private sendPendingAppends(): void {
    for (const id of this.trk.ids()) if (id !== this.id) this.maybeSendAppend(id, false);
  }

  /**
   * The commit index advanced from `before`: tell the followers. Eagerly (etcd), every follower
   * gets an App, an empty one if need be. Lazily (lazyCommitPropagation), only the followers with
   * entries to send get one; the rest learn the commit index from their next App or heartbeat,
   * within a heartbeat interval. A commit that covers a conf change still goes out at once: the
   * members must apply it before the group can move on (a joint config to its leave, a transfer
   * target to its campaign, a removed voter to knowing it). `pendingConfIndex` is the latest conf
   * change this leader appended or, until it appends one, its last index at election: a commit
   * that covers entries left uncommitted by earlier terms (which may hold one) goes out at once too.
   */
  private bcastCommit(before: number): void {
    const coversConfChange = before < this.pendingConfIndex && this.pendingConfIndex <= this.log.committed;
    if (this.cfg.lazyCommitPropagation && !coversConfChange) this.sendPendingAppends();
    else this.bcastAppend();
  }

  private sendAppend(to: number): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends an App (or a snapshot chunk) to `to` if its progress allows. With `sendIfEmpty` an App
   * without entries goes out too (to probe, or to carry the commit index). Returns whether
   * something was sent.
   */
  private maybeSendAppend(to: number, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    let ents: Entry[] | undefined = [];
    if (pr.state !== ProgressState.Replicate || !pr.inflights.full()) {
      ents = this.log.entriesFrom(pr.next, this.cfg.maxSizePerMsg);
    }
    if (ents !== undefined && ents.length === 0 && !sendIfEmpty) return false;
    if (prevTerm === undefined || ents === undefined) {
      // What the follower needs is compacted: send the snapshot instead.
      if (!pr.recentActive) return false;
      pr.becomeSnapshot(this.log.storage.snapshot());
      this.sendSnapshotChunk(to, pr);
      return true;
    }
    const m = this.msg(MessageType.App, to);
    m.index = prevIndex;
    m.logTerm = prevTerm;
    m.entries = ents;
    m.commit = this.log.committed;
    this.send(m);
    let bytes = 0;
    for (const e of ents) bytes += entrySize(e);
    pr.sentEntries(ents.length, bytes);
    return true;
  }

  private sendSnapshotChunk(to: number, pr: Progress): void {
    const snap = pr.snapshot!;
    const total = snap.data.byteLength;
    const offset = pr.snapshotAcked;
    const end = Math.min(total, offset + this.cfg.snapshotChunkSize);
    const m = this.msg(MessageType.Snap, to);
    m.index = snap.meta.index;
    m.logTerm = snap.meta.term;
    m.snapshot = { meta: snap.meta, offset, total, data: snap.data.subarray(offset, end) };
    pr.snapshotSent = offset;
    this.send(m);
  }

  private handleSnapResp(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (pr.state !== ProgressState.Snapshot || !pr.snapshot || m.index !== pr.snapshot.meta.index) return;
    if (m.reject) {
      pr.becomeProbe();
      return;
    }
    // rejectHint: how many bytes of the snapshot the follower holds. The follower is the authority
    // (it may have lost a partial snapshot); a chunk goes out only when the answer asks for one
    // that is not already on its way, so duplicated answers cannot multiply chunks.
    const total = pr.snapshot.data.byteLength;
    pr.snapshotAcked = Math.min(m.rejectHint, total);
    if (pr.snapshotAcked >= total) pr.snapshotSent = -1; // complete: the AppResp after installing follows
    else if (pr.snapshotSent !== pr.snapshotAcked) this.sendSnapshotChunk(m.from, pr);
  }

  private handleAppReject(m: Message, pr: Progress): void {
    // Fast backtracking: the follower says where its log could match (rejectHint) and the term
    // there (logTerm); skip every entry of ours above the last one of a term ≤ that term.
    let nextProbe = m.rejectHint;
    if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm)[0];
    if (pr.maybeDecrTo(m.index, nextProbe)) {
      if (pr.state === ProgressState.Replicate) pr.becomeProbe();
      this.sendAppend(m.from);
    }
  }

  private handleAppAccept(m: Message, pr: Progress): void {
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === ProgressState.Probe)) {
      if (pr.state === ProgressState.Snapshot && pr.snapshot && pr.snapshotAcked >= pr.snapshot.data.byteLength) {
        // The follower finished (or refused) the snapshot without moving forward: probe again.
        pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    if (pr.state === ProgressState.Probe) pr.becomeReplicate();
    else if (pr.state === ProgressState.Snapshot) {
      pr.becomeProbe();
      if (pr.match + 1 >= this.log.firstIndex()) pr.becomeReplicate();
    } else pr.inflights.freeLE(m.index);

    const committedBefore = this.log.committed;
    if (this.maybeCommit()) {
      this.releasePendingReadIndex();
      this.bcastCommit(committedBefore);
    } else if (wasPaused && m.from !== this.id && !this.cfg.lazyCommitPropagation) {
      // While paused the follower may have missed the latest commit index (etcd's oldPaused).
      this.sendAppend(m.from);
    }
    // Fill the window while there are entries to send.
    if (m.from !== this.id) while (this.maybeSendAppend(m.from, false));
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  /** Advances the commit index to what a quorum holds, if that entry is of this term (§5.4.2). */
  private maybeCommit(): boolean {
    const mci = this.trk.committed();
    if (this.bugs.has("commit-old-term")) {
      if (mci > this.log.committed && mci <= this.log.lastIndex()) {
        this.log.commitTo(mci);
        return true;
      }
      return false;
    }
    return this.log.maybeCommit(mci, this.term);
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private bcastHeartbeat(): void {
    const ctx = this.readOnly.lastPendingContext();
    for (const id of this.trk.ids()) {
      if (id === this.id) continue;
      const pr = this.trk.progress.get(id)!;
      const m = this.msg(MessageType.Heartbeat, id);
      // Only what the follower is known to hold may be committed on it.
      m.commit = Math.min(pr.match, this.log.committed);
      m.index = this.ticks; // echoed back: the lease clock
      if (ctx) m.context = ctx;
      this.send(m);
      // An unanswered snapshot chunk is resent once per heartbeat interval.
      if (pr.state === ProgressState.Snapshot && pr.snapshot && pr.snapshotAcked < pr.snapshot.data.byteLength) {
        this.sendSnapshotChunk(id, pr);
      }
    }
  }

  private handleHeartbeatResp(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    pr.lastAckedBeat = Math.max(pr.lastAckedBeat, m.index);
    if (pr.match < this.log.lastIndex() || pr.state === ProgressState.Probe) this.sendAppend(m.from);
    if (!m.context || m.context.byteLength === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (!acks) return;
    if (this.voteResultOf(acks) !== VoteResult.Won) return;
    for (const rs of this.readOnly.advance(m.context)) this.answerRead(rs.req, rs.index);
  }

  private voteResultOf(acks: Map<number, boolean>): VoteResult {
    acks.set(this.id, true);
    return jointVoteResult(this.trk.config.incoming, this.trk.config.outgoing, acks);
  }

  // ---------------------------------------------------------------- replication (follower)

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      const r = this.msg(MessageType.AppResp, m.from);
      r.index = this.log.committed;
      this.send(r);
      return;
    }
    let last: number | undefined;
    try {
      last = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    } catch {
      return; // an App that would rewrite a committed entry can only be a corrupt or forged message
    }
    if (last !== undefined) {
      const r = this.msg(MessageType.AppResp, m.from);
      r.index = last;
      this.send(r);
      return;
    }
    // Reject, with a hint: the highest index ≤ m.index whose term ≤ m.logTerm. The leader can
    // skip all its entries above that in one round trip instead of one per entry.
    const hintIndex = Math.min(m.index, this.log.lastIndex());
    const [hi, ht] = this.log.findConflictByTerm(hintIndex, m.logTerm);
    const r = this.msg(MessageType.AppResp, m.from);
    r.index = m.index;
    r.reject = true;
    r.rejectHint = hi;
    r.logTerm = ht;
    this.send(r);
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    const r = this.msg(MessageType.HeartbeatResp, m.from);
    r.index = m.index;
    if (m.context) r.context = m.context;
    this.send(r);
  }

  private handleSnapshotChunk(m: Message): void {
    const chunk = m.snapshot;
    if (!chunk) return;
    const meta = chunk.meta;
    const resp = (held: number, reject = false) => {
      const r = this.msg(MessageType.SnapResp, m.from);
      r.index = meta.index;
      r.logTerm = meta.term;
      r.rejectHint = held;
      r.reject = reject;
      this.send(r);
    };
    if (meta.index <= this.log.committed) {
      // We already have everything in it: say where we are instead.
      this.incomingSnapshot = undefined;
      const r = this.msg(MessageType.AppResp, m.from);
      r.index = this.log.committed;
      this.send(r);
      return;
    }
    let inc = this.incomingSnapshot;
    if (!inc || inc.meta.index !== meta.index || inc.meta.term !== meta.term || inc.total !== chunk.total) {
      if (chunk.offset !== 0) return resp(0); // ask for the start
      inc = this.incomingSnapshot = { meta, total: chunk.total, chunks: [], received: 0 };
    }
    if (chunk.offset !== inc.received) return resp(inc.received); // duplicate or gap: say what we hold
    if (chunk.data.byteLength > 0) {
      // The chunk may be a view into a transport buffer: keep a copy.
      inc.chunks.push(Uint8Array.prototype.slice.call(chunk.data));
      inc.received += chunk.data.byteLength;
    }
    if (inc.received < inc.total) return resp(inc.received);
    this.incomingSnapshot = undefined;
    const data = inc.chunks.length === 1 ? inc.chunks[0] : Buffer.concat(inc.chunks);
    const snap: Snapshot = { meta, data };
    const r = this.msg(MessageType.AppResp, m.from);
    r.index = this.restore(snap) ? this.log.lastIndex() : this.log.committed;
    this.send(r);
  }

  /** Installs a snapshot from the leader; false if it is stale or not for us. */
  private restore(s: Snapshot): boolean {
    if (s.meta.index <= this.log.committed) return false;
    if (this.role !== StateRole.Follower) {
      this.becomeFollower(this.term + 1, 0);
      return false;
    }
    // A snapshot taken before this node joined does not list it. It is installed anyway: a node
    // that joins with an empty log does not know itself as a member either until it applies the
    // change that added it, and refusing would leave it asking for the same snapshot forever.
    const cs = s.meta.confState;
    if (this.log.matchTerm(s.meta.index, s.meta.term)) {
      // We have the entry already: fast-forward the commit instead of wiping the log.
      this.log.commitTo(s.meta.index);
      return false;
    }
    this.log.restore(s);
    const cfg = configFromConfState(cs);
    this.trk.progress = new Map();
    this.switchToConfig(cfg, this.progressFor(cfg));
    return true;
  }

  // ---------------------------------------------------------------- reads

  /** Starts a linearizable read; its ReadState appears once leadership is confirmed. */
  readIndex(context: Uint8Array): void {
    const m = this.msg(MessageType.ReadIndex, 0, 0);
    m.context = context;
    if (this.role === StateRole.Leader) this.handleReadIndex(m);
    else if (this.role === StateRole.Follower && this.lead !== 0) this.stepFollower(m);
    else throw new ProposalDroppedError("no leader to serve the read");
  }

  private handleReadIndex(m: Message): void {
    if (this.trk.isSingleton() || this.bugs.has("stale-read")) {
      this.answerRead(m, this.log.committed);
      return;
    }
    // Until the leader has committed an entry of its term, its commit index may be behind what
    // an earlier leader acknowledged: the read waits for the no-op.
    if (!this.committedEntryInCurrentTerm() && !this.bugs.has("read-before-noop")) {
      this.pendingReadIndex.push(m);
      return;
    }
    this.startRead(m);
  }

  private startRead(m: Message): void {
    if (this.leaseValid()) {
      this.answerRead(m, this.log.committed);
      return;
    }
    this.readOnly.add(this.log.committed, m);
    this.bcastHeartbeatWithContext();
  }

  private bcastHeartbeatWithContext(): void {
    this.heartbeatElapsed = 0;
    this.bcastHeartbeat();
  }

  /**
   * A lease read is safe while no other leader can exist: every voter that answered a heartbeat
   * sent at tick s refuses votes until s + electionTimeout (leader stickiness), so the newest tick
   * answered by a quorum plus a margin below the election timeout bounds our leadership. Void
   * during a transfer (the target campaigns with stickiness bypassed).
   */
  private leaseValid(): boolean {
    if (!this.cfg.leaseRead || !this.cfg.checkQuorum) return false;
    if (this.leadTransferee !== 0 || this.ticks - this.lastTimeoutNow <= this.electionTimeout) return false;
    // (a leader outside the voters, handing off after its removal, has no progress of its own)
    const self = this.trk.progress.get(this.id);
    if (self) self.lastAckedBeat = this.ticks;
    const leaseTicks = this.electionTimeout - Math.max(2, this.heartbeatTimeout);
    return this.trk.quorumBeat() + leaseTicks > this.ticks;
  }

  private releasePendingReadIndex(): void {
    if (!this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndex;
    this.pendingReadIndex = [];
    for (const m of pending) this.startRead(m);
  }

  private answerRead(req: Message, index: number): void {
    if (req.from === 0 || req.from === this.id) {
      this.readStates.push({ index, context: req.context ?? new Uint8Array(0) });
      return;
    }
    const r = this.msg(MessageType.ReadIndexResp, req.from);
    r.index = index;
    if (req.context) r.context = req.context;
    this.send(r);
    // The follower serves its read once it has applied `index`: with lazy commit propagation it
    // might otherwise learn that commit only from the next heartbeat.
    if (this.cfg.lazyCommitPropagation) this.sendAppend(req.from);
  }

  // ---------------------------------------------------------------- leadership transfer

  transferLeader(to: number): void {
    const m = this.msg(MessageType.TransferLeader, this.lead, 0);
    m.from = to; // the transferee, as in etcd
    if (this.role === StateRole.Leader) this.handleTransferLeader(to);
    else if (this.lead !== 0) this.send({ ...m, to: this.lead });
    else throw new ProposalDroppedError("no leader to transfer from");
  }

  private handleTransferLeader(to: number): void {
    const pr = this.trk.progress.get(to);
    if (!pr || pr.isLearner) return;
    if (this.leadTransferee !== 0) {
      if (this.leadTransferee === to) return;
      this.leadTransferee = 0;
    }
    if (to === this.id) return;
    // The transfer must finish within an election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = to;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to);
  }

  private sendTimeoutNow(to: number): void {
    this.lastTimeoutNow = this.ticks;
    this.send(this.msg(MessageType.TimeoutNow, to));
  }

  // ---------------------------------------------------------------- membership

  /** Applies a committed conf change (the caller calls this when it applies the entry). */
  applyConfChange(cc: ConfChange): ConfState {
    const changer = new Changer(this.trk, this.log.lastIndex());
    const mode = confChangeMode(cc);
    // The first entry of a bootstrapped group names all its initial members at once (see
    // bootstrapState); from no voters at all there is no old majority to keep, so it applies directly.
    const bootstrapping = this.trk.config.incoming.size === 0 && this.trk.config.outgoing.size === 0;
    let result;
    try {
      if (bootstrapping && mode.kind !== "leave") result = changer.simple(cc.changes, true);
      else if (mode.kind === "leave") result = changer.leaveJoint();
      else if (mode.kind === "enter" && !(this.bugs.has("single-step-joint") && cc.transition === "auto")) {
        result = changer.enterJoint(mode.autoLeave, cc.changes);
      } else result = changer.simple(cc.changes, this.bugs.has("single-step-joint"));
    } catch (e) {
      // A committed change that cannot apply is a bug somewhere: refuse loudly rather than diverge.
      if (e instanceof ConfChangeError) throw new Error(`cannot apply committed conf change: ${e.message}`);
      throw e;
    }
    this.switchToConfig(result[0], result[1]);
    return this.confState();
  }

  private progressFor(cfg: TrackerConfig): Map<number, Progress> {
    const prs = new Map<number, Progress>();
    const next = this.log.lastIndex() + 1;
    const add = (id: number, learner: boolean) => {
      if (prs.has(id)) return;
      const pr = this.trk.progress.get(id) ?? this.trk.newProgress(next, learner);
      pr.isLearner = learner;
      prs.set(id, pr);
    };
    for (const id of cfg.incoming) add(id, false);
    for (const id of cfg.outgoing) add(id, false);
    for (const id of cfg.learners) add(id, true);
    for (const id of cfg.learnersNext) add(id, false);
    return prs;
  }

  private switchToConfig(cfg: TrackerConfig, prs: Map<number, Progress>): void {
    const wasVoter = this.isVoter();
    this.trk.config = cfg;
    this.trk.progress = prs;
    const self = prs.get(this.id);
    this.isLearner = self?.isLearner ?? false;
    if (self) this.retired = false;
    else if (wasVoter) this.retired = true;
    if (this.role !== StateRole.Leader || cfg.incoming.size === 0) return;
    // The quorum changed: something may now be committed, and new members need Apps.
    const committedBefore = this.log.committed;
    if (this.maybeCommit()) this.bcastCommit(committedBefore);
    else this.sendPendingAppends();
    if (this.leadTransferee !== 0 && !voterIds(cfg).includes(this.leadTransferee)) this.leadTransferee = 0;
    this.maybeHandOff();
  }

  /**
   * A leader that is no longer a voter (removed, or demoted to learner) keeps the group running
   * only until it hands leadership to the most caught-up voter; stepping down at once could leave
   * the members unable to elect anyone (see `retired`). A transfer that times out is retried.
   */
  private maybeHandOff(): void {
    if (this.role !== StateRole.Leader || !this.cfg.stepDownOnRemoval || this.isVoter() || this.leadTransferee !== 0) return;
    let best = 0;
    let bestMatch = -1;
    for (const id of voterIds(this.trk.config)) {
      const pr = this.trk.progress.get(id);
      if (pr && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best !== 0) this.handleTransferLeader(best);
  }

  /** After applying up to `applied`: a leader leaves an auto-leave joint state once it is applied. */
  onApplied(applied: number): void {
    this.log.appliedTo(applied);
    if (this.timeoutNowPending && this.role === StateRole.Follower && !this.hasUnappliedConfChanges()) {
      this.timeoutNowPending = false;
      this.hup("transfer");
    }
    if (this.role === StateRole.Leader && this.trk.config.autoLeave && applied >= this.pendingConfIndex && isJoint(this.trk.config)) {
      const leave: Entry = { term: 0, index: 0, type: EntryType.ConfChange, data: LEAVE_JOINT };
      try {
        const m = this.msg(MessageType.Prop, 0, 0);
        m.entries = [leave];
        this.handleProposal(m, true);
      } catch {
        // Retried on the next apply (e.g. a transfer in progress).
      }
    }
  }

  // ---------------------------------------------------------------- self acknowledgements

  /** Steps a message this node addressed to itself, now that the writes it depends on are durable. */
  stepSelf(m: Message): void {
    if (this.bugs.has("persist-aba") && m.type === MessageType.AppResp) m = { ...m, term: this.term };
    // A self pre-vote carries the term the pre-candidate would move to.
    const expected = m.type === MessageType.PreVoteResp ? this.term + 1 : this.term;
    if (m.term !== expected) return; // from an earlier term or role: it no longer means anything
    if (m.type === MessageType.PreVoteResp && this.role !== StateRole.PreCandidate) return;
    this.step(m);
  }
}

const LEAVE_JOINT = encodeConfChange({ changes: [], transition: "auto" });

function validateConfig(c: RaftConfig): void {
  const problems: string[] = [];
  if (!Number.isSafeInteger(c.id) || c.id <= 0) problems.push("id must be a positive integer");
  if (c.heartbeatTick <= 0) problems.push("heartbeat tick must be greater than 0");
  if (c.electionTick <= c.heartbeatTick) problems.push("election tick must be greater than heartbeat tick");
  if ((c.maxInflightMsgs ?? 256) <= 0) problems.push("max inflight messages must be greater than 0");
  if (c.leaseRead && c.checkQuorum === false) problems.push("lease reads need check-quorum");
  if ((c.snapshotChunkSize ?? 1) <= 0) problems.push("snapshot chunk size must be greater than 0");
  if (problems.length > 0) throw new Error(`invalid raft config: ${problems.join("; ")}`);
}
