/**
 * Raft message types: what Raft cores of one group say to each other.
 *
 * These are plain data. The core (`broker/raft/`) produces and consumes them; the transport
 * encodes them with `encodeRaftBatch` / `decodeRaftBatch` (`raft-codec.ts`). Indexes and terms are
 * plain numbers: a Raft index grows by one per entry, so 2^53 is out of reach.
 *
 * An entry's `data` is the payload exactly as proposed (for a partition: a small Flotilla header
 * and one Kafka record batch). Nothing on the Raft path looks inside it or copies it.
 */

/** Kinds of Raft message. Local-only kinds never cross the wire. */
export const MessageType = {
  /** Pre-candidate asks for a pre-vote (term = the term it would campaign in). */
  PreVote: 1,
  PreVoteResp: 2,
  Vote: 3,
  VoteResp: 4,
  /** Leader → follower: entries after (index, logTerm), and the leader's commit. */
  App: 5,
  /** Follower → leader: accept (index = last matching index) or reject (rejectHint, logTerm = hint term). */
  AppResp: 6,
  /** Leader → follower: liveness and commit; context carries a ReadIndex round when set; index is
   * the leader's tick, echoed in HeartbeatResp (the lease-read clock). */
  Heartbeat: 7,
  HeartbeatResp: 8,
  /** Leader → follower: one chunk of a snapshot. */
  Snap: 9,
  /** Follower → leader: chunk received (index = snapshot index, rejectHint = bytes of it held) or reject. */
  SnapResp: 10,
  /** Leader → transfer target: campaign now, skipping pre-vote and leader stickiness. */
  TimeoutNow: 11,
  /** Follower → leader: please run a ReadIndex round for me (context identifies the request). */
  ReadIndex: 12,
  /** Leader → follower: the read index for the follower's request. */
  ReadIndexResp: 13,
  /** Follower → leader: forwarded proposal (entries). */
  Prop: 14,
  /** Any node → leader: please transfer leadership to `from` (the transferee, as in etcd). */
  TransferLeader: 15,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const EntryType = {
  /** Application data. An empty Normal entry is the leader's no-op of its term. */
  Normal: 0,
  /** A configuration change (data = an encoded `ConfChange`). */
  ConfChange: 1,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must be durable before a node may vote or acknowledge. */
export interface HardState {
  term: number;
  /** Who this node voted for in `term`; 0 = nobody. */
  vote: number;
  commit: number;
}

/**
 * The membership of a group. While `votersOutgoing` is non-empty the group is in joint consensus:
 * decisions need a majority of `voters` AND a majority of `votersOutgoing`.
 * `learnersNext` are voters of the outgoing config that become learners on leaving the joint state.
 */
export interface ConfState {
  voters: number[];
  votersOutgoing: number[];
  learners: number[];
  learnersNext: number[];
  /** Leave the joint state automatically once it is committed. */
  autoLeave: boolean;
}

export const ConfChangeType = {
  AddNode: 0,
  RemoveNode: 1,
  AddLearner: 2,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export interface ConfChangeSingle {
  type: ConfChangeType;
  nodeId: number;
}

/**
 * A membership change. One change that only adds or removes a learner, or changes a single voter,
 * may be applied directly ("simple"); anything else goes through joint consensus. An empty `changes`
 * list means "leave the joint state".
 */
export interface ConfChange {
  changes: ConfChangeSingle[];
  /** Force joint consensus even for a single change; with autoLeave=false the leave is explicit. */
  transition: "auto" | "joint-implicit" | "joint-explicit";
  context?: Uint8Array;
}

export interface SnapshotMeta {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

/**
 * One Raft message. Fields not used by a type are left at 0 / empty.
 * `term` 0 on a local message means "no term" (as in etcd).
 */
export interface Message {
  type: MessageType;
  /** Raft group this message belongs to (a partition or the metadata log). */
  group: string;
  to: number;
  from: number;
  term: number;
  /** App: term of the entry at `index`. AppResp reject: term of the hint. Vote: last log term. */
  logTerm: number;
  /** App: index before `entries`. AppResp: match index. Vote: last log index. Snap: snapshot index. */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** AppResp reject: the follower's guess of the highest index that could match. */
  rejectHint: number;
  /** ReadIndex / Heartbeat: opaque request context. Vote: "transfer" marks a leadership transfer. */
  context?: Uint8Array;
  /** Snap only: the snapshot metadata and one chunk of its data. */
  snapshot?: SnapshotChunk;
}

/** One piece of a snapshot sent to a lagging follower. */
export interface SnapshotChunk {
  meta: SnapshotMeta;
  /** Byte offset of `data` in the whole snapshot. */
  offset: number;
  /** Total size of the snapshot's data. */
  total: number;
  data: Uint8Array;
}

/** A message with every optional field empty; spread over it to build one. */
export function emptyMessage(type: MessageType, group: string, from: number, to: number, term: number): Message {
  return { type, group, to, from, term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
}

export function emptyConfState(): ConfState {
  return { voters: [], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
}
