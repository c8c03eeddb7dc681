import type { ConfState } from "../../protocol/raft.js";
import { Progress } from "./progress.js";
import { jointCommitted, jointVoteResult, type VoteResult } from "./quorum.js";

/**
 * A group's membership as the quorum math sees it. `outgoing` is non-empty only in joint
 * consensus. Learners never vote; `learnersNext` are outgoing voters that turn into learners when
 * the joint state is left (they must keep voting in the outgoing half until then).
 *
 * Invariants: learners ∩ (incoming ∪ outgoing) = ∅; learnersNext ⊆ outgoing.
 */
export interface TrackerConfig {
  incoming: Set<number>;
  outgoing: Set<number>;
  learners: Set<number>;
  learnersNext: Set<number>;
  autoLeave: boolean;
}

export function configFromConfState(cs: ConfState): TrackerConfig {
  return {
    incoming: new Set(cs.voters),
    outgoing: new Set(cs.votersOutgoing),
    learners: new Set(cs.learners),
    learnersNext: new Set(cs.learnersNext),
    autoLeave: cs.autoLeave,
  };
}

const sorted = (s: Set<number>): number[] => [...s].sort((a, b) => a - b);

export function confStateOf(c: TrackerConfig): ConfState {
  return {
    voters: sorted(c.incoming),
    votersOutgoing: sorted(c.outgoing),
    learners: sorted(c.learners),
    learnersNext: sorted(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

export function cloneConfig(c: TrackerConfig): TrackerConfig {
  return {
    incoming: new Set(c.incoming),
    outgoing: new Set(c.outgoing),
    learners: new Set(c.learners),
    learnersNext: new Set(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

export function isJoint(c: TrackerConfig): boolean {
  return c.outgoing.size > 0;
}

/** Every voter of either half, sorted (a deterministic order for sending). */
export function voterIds(c: TrackerConfig): number[] {
  const all = new Set(c.incoming);
  for (const id of c.outgoing) all.add(id);
  return sorted(all);
}

/** The leader's view of the group: the config, each member's progress, and the votes of an election. */
export class ProgressTracker {
  config: TrackerConfig;
  /** One entry per voter (either half) and learner. */
  progress: Map<number, Progress>;
  readonly votes = new Map<number, boolean>();

  constructor(
    readonly maxInflightMsgs: number,
    readonly maxInflightBytes: number,
  ) {
    this.config = configFromConfState({ voters: [], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false });
    this.progress = new Map();
  }

  newProgress(next: number, isLearner: boolean): Progress {
    return new Progress(next, this.maxInflightMsgs, this.maxInflightBytes, isLearner);
  }

  /** Members in id order, so that every run sends in the same order. */
  ids(): number[] {
    return [...this.progress.keys()].sort((a, b) => a - b);
  }

  isSingleton(): boolean {
    return this.config.incoming.size === 1 && this.config.outgoing.size === 0;
  }

  /** Highest index durably held by a quorum (by `match`). */
  committed(): number {
    const acked = (id: number) => this.progress.get(id)?.match;
    return jointCommitted(this.config.incoming, this.config.outgoing, acked);
  }

  /** Oldest heartbeat tick answered by a quorum (lease reads). */
  quorumBeat(): number {
    const acked = (id: number) => this.progress.get(id)?.lastAckedBeat;
    return jointCommitted(this.config.incoming, this.config.outgoing, acked);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: number, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, v] of this.votes) {
      if (!this.progress.has(id) || this.progress.get(id)!.isLearner) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: jointVoteResult(this.config.incoming, this.config.outgoing, this.votes) };
  }

  /** Whether a quorum has been recently active (check-quorum). */
  quorumActive(selfId: number): boolean {
    const active = new Map<number, boolean>();
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      active.set(id, id === selfId || pr.recentActive);
    }
    return jointVoteResult(this.config.incoming, this.config.outgoing, active) === 2;
  }
}
