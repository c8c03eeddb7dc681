// Membership arithmetic: what each ConfChange does to the config, and what it refuses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfChangeType, emptyConfState, type ConfChangeSingle, type ConfState } from "../../protocol/raft.js";
import { Changer, ConfChangeError, confChangeMode } from "./confchange.js";
import { ProgressTracker, configFromConfState, confStateOf, type TrackerConfig } from "./tracker.js";
import type { Progress } from "./progress.js";

const add = (nodeId: number): ConfChangeSingle => ({ type: ConfChangeType.AddNode, nodeId });
const remove = (nodeId: number): ConfChangeSingle => ({ type: ConfChangeType.RemoveNode, nodeId });
const learner = (nodeId: number): ConfChangeSingle => ({ type: ConfChangeType.AddLearner, nodeId });

function tracker(cs: Partial<ConfState>): ProgressTracker {
  const trk = new ProgressTracker(10, 0);
  const full = { ...emptyConfState(), ...cs };
  trk.config = configFromConfState(full);
  for (const id of [...full.voters, ...full.votersOutgoing]) if (!trk.progress.has(id)) trk.progress.set(id, trk.newProgress(1, false));
  for (const id of full.learners) trk.progress.set(id, trk.newProgress(1, true));
  return trk;
}

/** Swaps a Changer's result into the tracker, as the core does. */
function commit(trk: ProgressTracker, [cfg, prs]: [TrackerConfig, Map<number, Progress>]): ConfState {
  trk.config = cfg;
  trk.progress = prs;
  return confStateOf(cfg);
}

const cs = (c: Partial<ConfState>): ConfState => ({ ...emptyConfState(), ...c });

/** Every member has a progress and nobody else has one; learners' progress says so. */
function assertProgressMatches(trk: ProgressTracker): void {
  const c = trk.config;
  const members = new Set([...c.incoming, ...c.outgoing, ...c.learners]);
  assert.deepEqual([...trk.progress.keys()].sort(), [...members].sort());
  for (const id of c.learners) assert.equal(trk.progress.get(id)!.isLearner, true, `learner ${id}`);
  for (const id of [...c.incoming, ...c.outgoing]) assert.equal(trk.progress.get(id)!.isLearner, false, `voter ${id}`);
}

test("raft - confchange: which changes are simple and which go through joint consensus", () => {
  assert.deepEqual(confChangeMode({ changes: [add(4)], transition: "auto" }), { kind: "simple" });
  assert.deepEqual(confChangeMode({ changes: [add(4), remove(1)], transition: "auto" }), { kind: "enter", autoLeave: true });
  assert.deepEqual(confChangeMode({ changes: [add(4)], transition: "joint-implicit" }), { kind: "enter", autoLeave: true });
  assert.deepEqual(confChangeMode({ changes: [add(4)], transition: "joint-explicit" }), { kind: "enter", autoLeave: false });
  assert.deepEqual(confChangeMode({ changes: [], transition: "auto" }), { kind: "leave" });
});

test("raft - confchange simple: add a voter, add a learner, remove a node", () => {
  const trk = tracker({ voters: [1, 2, 3] });
  assert.deepEqual(commit(trk, new Changer(trk, 10).simple([add(4)])), cs({ voters: [1, 2, 3, 4] }));
  assert.equal(trk.progress.get(4)!.next, 10, "a new member is probed from the leader's last index");
  assertProgressMatches(trk);
  assert.deepEqual(commit(trk, new Changer(trk, 10).simple([learner(5)])), cs({ voters: [1, 2, 3, 4], learners: [5] }));
  assertProgressMatches(trk);
  assert.deepEqual(commit(trk, new Changer(trk, 10).simple([remove(2)])), cs({ voters: [1, 3, 4], learners: [5] }));
  assertProgressMatches(trk);
  // promoting a learner keeps its progress
  const pr5 = trk.progress.get(5)!;
  pr5.match = 7;
  assert.deepEqual(commit(trk, new Changer(trk, 10).simple([add(5)])), cs({ voters: [1, 3, 4, 5] }));
  assert.equal(trk.progress.get(5)!.match, 7);
  assertProgressMatches(trk);
  // demoting a voter to learner (one voter changes)
  assert.deepEqual(commit(trk, new Changer(trk, 10).simple([learner(3)])), cs({ voters: [1, 4, 5], learners: [3] }));
  assertProgressMatches(trk);
  // removing a node that is not there is a no-op
  assert.deepEqual(commit(trk, new Changer(trk, 10).simple([remove(9)])), cs({ voters: [1, 4, 5], learners: [3] }));
});

test("raft - confchange simple: more than one voter changed without joint consensus is refused", () => {
  const trk = tracker({ voters: [1, 2, 3] });
  assert.throws(() => new Changer(trk, 10).simple([add(4), add(5)]), ConfChangeError);
  assert.throws(() => new Changer(trk, 10).simple([add(4), remove(1)]), ConfChangeError);
  assert.throws(() => new Changer(trk, 10).simple([learner(1), learner(2)]), ConfChangeError);
  // learners do not count: any number of learner changes plus one voter change is fine
  assert.deepEqual(
    commit(trk, new Changer(trk, 10).simple([learner(6), learner(7), add(4)])),
    cs({ voters: [1, 2, 3, 4], learners: [6, 7] }),
  );
  // the tracker was not touched by the refused changes
  assertProgressMatches(trk);
});

test("raft - confchange: removing every voter is refused", () => {
  const trk = tracker({ voters: [1] });
  assert.throws(() => new Changer(trk, 10).simple([remove(1)]), ConfChangeError);
  assert.throws(() => new Changer(trk, 10).simple([learner(1)]), ConfChangeError);
  const trk3 = tracker({ voters: [1, 2, 3] });
  assert.throws(() => new Changer(trk3, 10).enterJoint(true, [remove(1), remove(2), remove(3)]), ConfChangeError);
  assert.deepEqual(confStateOf(trk3.config), cs({ voters: [1, 2, 3] }));
});

test("raft - confchange: enter joint consensus, then leave it", () => {
  const trk = tracker({ voters: [1, 2, 3] });
  const joint = commit(trk, new Changer(trk, 10).enterJoint(true, [add(4), remove(3)]));
  assert.deepEqual(joint, cs({ voters: [1, 2, 4], votersOutgoing: [1, 2, 3], autoLeave: true }));
  assert.equal(trk.progress.has(3), true, "an outgoing voter keeps voting until the joint state is left");
  assertProgressMatches(trk);
  const left = commit(trk, new Changer(trk, 10).leaveJoint());
  assert.deepEqual(left, cs({ voters: [1, 2, 4] }));
  assert.equal(trk.progress.has(3), false);
  assertProgressMatches(trk);
});

test("raft - confchange: joint states are not nested, not left twice, and refuse simple changes", () => {
  const trk = tracker({ voters: [1, 2, 3] });
  assert.throws(() => new Changer(trk, 10).leaveJoint(), ConfChangeError, "not joint");
  commit(trk, new Changer(trk, 10).enterJoint(false, [add(4)]));
  assert.throws(() => new Changer(trk, 10).enterJoint(false, [add(5)]), ConfChangeError);
  assert.throws(() => new Changer(trk, 10).simple([add(5)]), ConfChangeError);
  assert.deepEqual(confStateOf(trk.config), cs({ voters: [1, 2, 3, 4], votersOutgoing: [1, 2, 3] }));
});

test("raft - confchange: a voter demoted in a joint change votes in the outgoing half until the leave, then is a learner", () => {
  const trk = tracker({ voters: [1, 2, 3] });
  const joint = commit(trk, new Changer(trk, 10).enterJoint(true, [learner(3), add(4)]));
  assert.deepEqual(joint, cs({ voters: [1, 2, 4], votersOutgoing: [1, 2, 3], learnersNext: [3], autoLeave: true }));
  assert.equal(trk.progress.get(3)!.isLearner, false, "still a voter of the outgoing config");
  const left = commit(trk, new Changer(trk, 10).leaveJoint());
  assert.deepEqual(left, cs({ voters: [1, 2, 4], learners: [3] }));
  assert.equal(trk.progress.get(3)!.isLearner, true);
  assertProgressMatches(trk);
});

test("raft - confchange: re-adding a demoted voter during the joint state cancels the demotion", () => {
  const trk = tracker({ voters: [1, 2, 3] });
  commit(trk, new Changer(trk, 10).enterJoint(true, [learner(3), add(3)]));
  assert.deepEqual(confStateOf(trk.config), cs({ voters: [1, 2, 3], votersOutgoing: [1, 2, 3], autoLeave: true }));
  assert.deepEqual(commit(trk, new Changer(trk, 10).leaveJoint()), cs({ voters: [1, 2, 3] }));
});

test("raft - confchange: the Changer computes a new config without touching the tracker", () => {
  const trk = tracker({ voters: [1, 2, 3] });
  const before = confStateOf(trk.config);
  const prsBefore = new Map(trk.progress);
  new Changer(trk, 10).enterJoint(true, [add(4), remove(1)]);
  assert.deepEqual(confStateOf(trk.config), before);
  assert.deepEqual([...trk.progress.keys()], [...prsBefore.keys()]);
});

test("raft - confchange: a refused change leaves every member's progress as it was (regression)", () => {
  // Before the fix the Changer flipped isLearner on the tracker's own Progress objects and then
  // threw, leaving voters marked as learners (and the reverse) in a config that did not change.
  const trk = tracker({ voters: [1, 2, 3], learners: [4, 5] });
  const before = new Map([...trk.progress].map(([id, pr]) => [id, pr.isLearner]));
  assert.throws(() => new Changer(trk, 10).simple([learner(1), learner(2)]), ConfChangeError);
  assert.throws(() => new Changer(trk, 10).simple([add(4), add(5)]), ConfChangeError);
  assert.throws(() => new Changer(trk, 10).enterJoint(true, [learner(1), learner(2), learner(3)]), ConfChangeError);
  assert.deepEqual(new Map([...trk.progress].map(([id, pr]) => [id, pr.isLearner])), before);
  assertProgressMatches(trk);
});
