import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfChangeType, type ConfChange } from "../../protocol/raft.js";
import type { PartitionState } from "./metadata-image.js";
import { CATCH_UP_SLACK, nextReassignmentStep, type GroupView, type MoveDecision } from "./reassignment-step.js";

/** A group's membership as Raft applies changes to it (simple, enter joint, leave joint), led by `self`. */
class Group {
  voters: number[];
  outgoing: number[] = [];
  learners: number[] = [];
  commit = 1000;
  readonly matches = new Map<number, number>();

  constructor(
    public self: number,
    voters: number[],
  ) {
    this.voters = voters;
    for (const id of voters) this.matches.set(id, this.commit);
  }

  view(): GroupView {
    return { self: this.self, voters: this.voters, votersOutgoing: this.outgoing, learners: this.learners, commit: this.commit, match: (id) => this.matches.get(id) ?? 0 };
  }

  apply(cc: ConfChange): void {
    if (cc.changes.length === 0) {
      assert.ok(this.outgoing.length > 0, "leave outside joint");
      this.outgoing = [];
      return;
    }
    const joint = cc.transition !== "auto" || cc.changes.length > 1;
    assert.equal(this.outgoing.length, 0, "a change while joint");
    if (joint) this.outgoing = [...this.voters];
    let changedVoters = 0;
    for (const c of cc.changes) {
      const wasVoter = this.voters.includes(c.nodeId);
      this.voters = this.voters.filter((id) => id !== c.nodeId);
      this.learners = this.learners.filter((id) => id !== c.nodeId);
      if (c.type === ConfChangeType.AddNode) this.voters.push(c.nodeId);
      if (c.type === ConfChangeType.AddLearner) this.learners.push(c.nodeId);
      if (wasVoter !== this.voters.includes(c.nodeId)) changedVoters++;
    }
    if (!joint) assert.ok(changedVoters <= 1, "two voters changed without joint consensus");
  }
}

/** Runs decisions against the group until it is idle; returns the decisions taken. */
function drive(g: Group, partition: () => PartitionState, limit = 50): MoveDecision[] {
  const steps: MoveDecision[] = [];
  for (let i = 0; i < limit; i++) {
    const d = nextReassignmentStep(g.view(), partition());
    steps.push(d);
    const a = d.action;
    if (a.type === "idle") return steps;
    if (a.type === "propose") g.apply(a.change);
    else if (a.type === "transferLeader") g.self = a.to;
    else if (a.type === "wait") for (const id of g.learners) g.matches.set(id, g.commit); // the learners catch up
  }
  assert.fail("no idle state within the limit");
}

const moving = (replicas: number[], target: number[]): PartitionState => ({ replicas, reassignment: { target, phase: "started" } });

test("reassignment step - 1,2,3 to 2,3,4 led by the leaving replica: learner, catch-up, joint, hand-off, leave, done", () => {
  const g = new Group(1, [1, 2, 3]);
  const steps = drive(g, () => moving([1, 2, 3], [2, 3, 4]));
  assert.deepEqual(
    steps.map((s) => [s.action.type, s.reached]),
    [
      ["propose", undefined],
      ["wait", "learnersAdded"],
      ["propose", "caughtUp"],
      ["transferLeader", "votersSwitched"],
      ["propose", "votersSwitched"],
      ["idle", "done"],
    ],
  );
  assert.deepEqual(steps[0].action.type === "propose" && steps[0].action.change.changes, [{ type: ConfChangeType.AddLearner, nodeId: 4 }]);
  assert.equal(steps[3].action.type === "transferLeader" && steps[3].action.to, 2);
  assert.deepEqual([...g.voters].sort(), [2, 3, 4]);
  assert.deepEqual(g.learners, []);
});

test("reassignment step - a learner further behind than the slack holds up the voter switch", () => {
  const g = new Group(2, [1, 2, 3]);
  g.learners = [4];
  g.matches.set(4, g.commit - CATCH_UP_SLACK - 1);
  assert.deepEqual(nextReassignmentStep(g.view(), moving([1, 2, 3], [2, 3, 4])), { action: { type: "wait", why: "learners 4 catching up" }, reached: "learnersAdded" });
  g.matches.set(4, g.commit - CATCH_UP_SLACK);
  assert.equal(nextReassignmentStep(g.view(), moving([1, 2, 3], [2, 3, 4])).action.type, "propose");
});

test("reassignment step - a learner that has acknowledged nothing is not caught up, even on a log shorter than the slack", () => {
  const g = new Group(2, [1, 2, 3]);
  g.commit = CATCH_UP_SLACK;
  g.learners = [4];
  assert.equal(nextReassignmentStep(g.view(), moving([1, 2, 3], [2, 3, 4])).action.type, "wait");
  g.matches.set(4, 1);
  assert.equal(nextReassignmentStep(g.view(), moving([1, 2, 3], [2, 3, 4])).action.type, "propose");
});

test("reassignment step - a whole move (no replica stays) goes through one joint change", () => {
  const g = new Group(1, [1, 2, 3]);
  drive(g, () => moving([1, 2, 3], [4, 5, 6]));
  assert.deepEqual([...g.voters].sort(), [4, 5, 6]);
});

test("reassignment step - cancelled at any point, the group goes back to its replicas without ever switching two voters at once", () => {
  for (let cancelAfter = 0; cancelAfter < 5; cancelAfter++) {
    const g = new Group(1, [1, 2, 3]);
    let n = 0;
    const steps = drive(g, () => (n++ < cancelAfter ? moving([1, 2, 3], [2, 3, 4]) : { replicas: [1, 2, 3] }));
    assert.deepEqual([...g.voters].sort(), [1, 2, 3], `cancel after ${cancelAfter} steps`);
    assert.deepEqual(g.learners, []);
    assert.ok(steps.slice(cancelAfter).every((s) => s.reached === undefined), "nothing is reported for a cancelled reassignment");
  }
});

test("reassignment step - a settled group whose voters match its replicas does nothing", () => {
  const g = new Group(1, [1, 2, 3]);
  assert.deepEqual(nextReassignmentStep(g.view(), { replicas: [3, 1, 2] }), { action: { type: "idle" } });
});
