import type { ConfState, Entry, HardState, Message, Snapshot } from "../../protocol/raft.js";

export const StateRole = {
  Follower: "follower",
  PreCandidate: "pre-candidate",
  Candidate: "candidate",
  Leader: "leader",
} as const;
export type StateRole = (typeof StateRole)[keyof typeof StateRole];

/**
 * Known mistakes the core can be told to make, so the simulator can prove its checker catches them.
 * Never set outside the simulator and its tests.
 */
export const KNOWN_BUGS = [
  /** Commit an earlier term's entry by counting replicas (Raft §5.4.2, Figure 8). */
  "commit-old-term",
  /** Reply to votes without persisting the vote/term first. */
  "no-persist-vote",
  /** Answer reads with the local commit index, without a ReadIndex round. */
  "stale-read",
  /** Grant pre-votes without checking the candidate's log is up to date. */
  "no-prevote-check",
  /** Switch voter sets in one step, without the joint phase. */
  "single-step-joint",
  /** Serve ReadIndex before the new leader has committed an entry of its own term. */
  "read-before-noop",
  /** Allow a config change before the leader has committed an entry of its own term. */
  "conf-before-noop",
  /** Count the leader's own fsync of entries that a term change has since replaced (the Redpanda #3003 race). */
  "persist-aba",
] as const;
export type BugName = (typeof KNOWN_BUGS)[number];

/**
 * The known bugs the simulator must catch (`npm run sim -- --bug NAME`; its tests check each).
 * The other two are caught by the unit tests (RAFT_TEST_BUGS, see test-network.ts) only:
 * - conf-before-noop: with membership applied at commit time, and a new leader's pendingConfIndex
 *   set to its last index, a change proposed before the no-op commits can only follow a log whose
 *   every entry is committed and applied; the rule is defence in depth, no run can break safety.
 * - persist-aba: needs a node re-elected leader while its own write from an earlier term is still
 *   in flight, a window the simulator's fsync delays (a few ticks) against election timeouts of
 *   ten ticks practically never open.
 */
export const SIMULATED_BUGS = ["commit-old-term", "no-persist-vote", "stale-read", "no-prevote-check", "single-step-joint", "read-before-noop"] as const satisfies readonly BugName[];

/** Why a proposal or request was refused. */
export class ProposalDroppedError extends Error {
  constructor(reason: string) {
    super(`proposal dropped: ${reason}`);
    this.name = "ProposalDroppedError";
  }
}

export interface RaftConfig {
  /** This node's id; never 0. */
  id: number;
  /** The Raft group this node belongs to (copied into every message). */
  group: string;
  /** Ticks without hearing from a leader before campaigning; randomized in [e, 2e). */
  electionTick: number;
  /** Ticks between leader heartbeats; must be < electionTick. */
  heartbeatTick: number;
  /** Random integer in [0, n): the core's only source of randomness. */
  random: (n: number) => number;
  /**
   * Index of the last entry already applied (on restart). Default 0. The membership is rebuilt
   * from `Storage.initialState().confState` plus the conf changes applied after `applied`, so that
   * conf state must be the one in force at `applied` (normally: the snapshot's, with applied = its index).
   */
  applied?: number;
  /** Max bytes of entries in one App message. Default 1 MiB. */
  maxSizePerMsg?: number;
  /** Max App messages in flight per follower in replicate state. Default 256. */
  maxInflightMsgs?: number;
  /** Max bytes in flight per follower (soft limit). Default 0 = unlimited. */
  maxInflightBytes?: number;
  /** Max bytes of uncommitted entries the leader accepts before dropping proposals. Default 0 = unlimited. */
  maxUncommittedEntriesSize?: number;
  /** Max bytes of committed entries handed out in one Ready. Default 0 = unlimited. */
  maxCommittedSizePerReady?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Serve ReadIndex from the leader's lease instead of a heartbeat round (needs checkQuorum). */
  leaseRead?: boolean;
  /** Bytes per InstallSnapshot chunk. Default 512 KiB. */
  snapshotChunkSize?: number;
  /** Drop proposals on followers instead of forwarding them to the leader. */
  disableProposalForwarding?: boolean;
  /** Step down when the leader removes itself from the voters. Default true. */
  stepDownOnRemoval?: boolean;
  /**
   * Hand out committed entries to apply before they are durable on this node. Default false. A
   * committed entry is final whatever this node's disk holds (a majority has it durably), so this
   * is safe for a state machine that never records its applied state past the durable log (after
   * a crash it must restart from no further than the log it finds). It lets a leader whose own
   * write is slower than two followers' answer from the followers' quorum (§10.2.1).
   */
  applyBeforePersist?: boolean;
  /**
   * When the commit index advances, send Apps only to followers with entries to send; the others
   * learn the new commit index from their next App or heartbeat. Default false (etcd's way: an
   * App to every follower, empty if need be). Each such empty App costs a message round (send,
   * the follower's step and persist, its AppResp) to tell a follower what it needs only to apply,
   * so this suits groups whose followers serve nothing from their applied state without a
   * ReadIndex (whose answer comes with an App carrying the commit). Commits that cover a conf change
   * still go out at once.
   */
  lazyCommitPropagation?: boolean;
  /** Simulator only: mistakes to inject (see KNOWN_BUGS). */
  bugs?: ReadonlySet<BugName>;
}

/**
 * Read-only access to what the node has persisted. The caller writes it (from Ready) and the core
 * reads it. `entries` returns [lo, hi) limited to about `maxSize` bytes but always at least one
 * entry when lo < hi. Indexes below `firstIndex()` have been compacted into the snapshot.
 */
export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  entries(lo: number, hi: number, maxSize: number): Entry[];
  /** Term of entry i, valid for firstIndex()-1 ..= lastIndex(). */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

/** A linearizable read point: once `index` is applied, serve the read identified by `context`. */
export interface ReadState {
  index: number;
  context: Uint8Array;
}

export interface SoftState {
  leader: number;
  role: StateRole;
}

/**
 * What the caller must do, in this order:
 * 1. Send `messages` (may go before anything is persisted: they never depend on this Ready's writes).
 * 2. Persist `snapshot`, then `entries` (discarding stored entries at index >= the first new one),
 *    then `hardState`; fsync if `mustSync`.
 * 3. Only then send `persistedMessages` (votes and acknowledgements that promise durability).
 * 4. Apply `snapshot` and `committedEntries`, answer `readStates` once applied ≥ their index.
 * 5. Call `advance(ready)` (or `advanceAppend` + `onPersisted(number)` for asynchronous fsync).
 */
export interface Ready {
  /** Sequence number of this Ready, for `onPersisted`. */
  number: number;
  softState?: SoftState;
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  committedEntries: Entry[];
  messages: Message[];
  persistedMessages: Message[];
  readStates: ReadState[];
  mustSync: boolean;
}

export interface ProgressStatus {
  match: number;
  next: number;
  state: "probe" | "replicate" | "snapshot";
  isLearner: boolean;
  recentActive: boolean;
}

export interface Status {
  id: number;
  hardState: HardState;
  softState: SoftState;
  applied: number;
  lastIndex: number;
  confState: ConfState;
  /** Leader only: progress of every member, by id. */
  progress?: Map<number, ProgressStatus>;
  leadTransferee: number;
}
