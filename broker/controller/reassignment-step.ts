import { ConfChangeType, type ConfChange } from "../../protocol/raft.js";
import { sameMembers } from "./lists.js";
import type { PartitionState } from "./metadata-image.js";
import type { ReassignmentPhase } from "./metadata-records.js";

/**
 * The next step a partition's Raft leader takes to bring its group's membership to what the image
 * asks for (`reassignment.target`, or `replicas` when none is in progress — after a cancel, back to
 * them). Pure: the leader's view of its group in, one action out; the caller (the broker's
 * reassignment mover) runs it, and asks again once that action has taken effect. Because it starts
 * from the group's own configuration every time, a new leader, or one restarted mid-way, resumes
 * where the group is, never where a record says it was.
 *
 * The order, each step waiting for the one before it to be applied:
 * 1. new replicas join as learners, one change per learner (they vote in nothing yet);
 * 2. once every one of them has acknowledged entries up to the commit index (give or take CATCH_UP_SLACK),
 *    one joint change makes the target the incoming voters and the current set the outgoing ones
 *    (explicit leave: the group stays joint until told otherwise, so a commit needs a majority of
 *    both sets and no quorum is lost whichever replicas fail meanwhile);
 * 3. while joint, a leader that is not in the target hands leadership to the most caught-up target
 *    voter; a leader in it leaves joint consensus;
 * 4. learners the target does not name (a cancel caught them half-added) are removed, one by one;
 * 5. voters equal to the target and nothing left over: "done", for the controller to record.
 * `reached` is the reassignment phase the group has got to, for the controller to record when its
 * image is behind.
 */

/**
 * A learner this many entries behind the commit index counts as caught up: the joint config's
 * commits then wait for it only briefly. Few, because an entry may be a batch of a megabyte.
 */
export const CATCH_UP_SLACK = 8;

/** The partition's group as its leader sees it. */
export interface GroupView {
  readonly self: number;
  readonly voters: readonly number[];
  /** Non-empty while the group is in joint consensus (the voters it is leaving). */
  readonly votersOutgoing: readonly number[];
  readonly learners: readonly number[];
  readonly commit: number;
  /** The leader's replication progress: the highest index known to be on each member. */
  readonly match: (id: number) => number;
}

export type MoveAction =
  | { readonly type: "idle" }
  | { readonly type: "wait"; readonly why: string }
  | { readonly type: "propose"; readonly change: ConfChange; readonly why: string }
  | { readonly type: "transferLeader"; readonly to: number };

export interface MoveDecision {
  readonly action: MoveAction;
  /** The reassignment phase the group has reached (only while one is in progress). */
  readonly reached?: ReassignmentPhase | "done";
}

const LEAVE_JOINT: ConfChange = { changes: [], transition: "auto" };

export function nextReassignmentStep(group: GroupView, partition: PartitionState): MoveDecision {
  const moving = partition.reassignment !== undefined;
  const target = partition.reassignment?.target ?? partition.replicas;
  const at = (phase: ReassignmentPhase | "done"): ReassignmentPhase | "done" | undefined => (moving ? phase : undefined);
  const decide = (action: MoveAction, phase?: ReassignmentPhase | "done"): MoveDecision => {
    const reached = phase && at(phase);
    return reached ? { action, reached } : { action };
  };

  if (group.votersOutgoing.length > 0) {
    if (group.voters.includes(group.self)) return decide({ type: "propose", change: LEAVE_JOINT, why: "leave joint consensus" }, "votersSwitched");
    const to = mostCaughtUp(group, group.voters);
    return decide({ type: "transferLeader", to }, "votersSwitched");
  }

  const stray = group.learners.filter((id) => !target.includes(id));
  if (stray.length > 0) {
    return decide({ type: "propose", change: single(ConfChangeType.RemoveNode, stray[0]), why: `remove learner ${stray[0]}` });
  }
  if (sameMembers(group.voters, target)) return decide({ type: "idle" }, "done");

  const joining = target.filter((id) => !group.voters.includes(id));
  const notLearner = joining.find((id) => !group.learners.includes(id));
  if (notLearner !== undefined) {
    return decide({ type: "propose", change: single(ConfChangeType.AddLearner, notLearner), why: `add learner ${notLearner}` });
  }
  // A learner that has acknowledged nothing is not caught up, however short the log is.
  const behind = joining.filter((id) => group.match(id) === 0 || group.match(id) + CATCH_UP_SLACK < group.commit);
  if (behind.length > 0) return decide({ type: "wait", why: `learners ${behind.join(",")} catching up` }, "learnersAdded");
  const leaving = group.voters.filter((id) => !target.includes(id));
  const change: ConfChange = {
    changes: [...joining.map((nodeId) => ({ type: ConfChangeType.AddNode, nodeId })), ...leaving.map((nodeId) => ({ type: ConfChangeType.RemoveNode, nodeId }))],
    transition: "joint-explicit",
  };
  return decide({ type: "propose", change, why: `switch voters to ${target.join(",")}` }, "caughtUp");
}

function single(type: ConfChangeType, nodeId: number): ConfChange {
  return { changes: [{ type, nodeId }], transition: "auto" };
}

/** The member of `ids` with the highest match (ties: the first). */
function mostCaughtUp(group: GroupView, ids: readonly number[]): number {
  let best = ids[0];
  for (const id of ids) if (group.match(id) > group.match(best)) best = id;
  return best;
}
