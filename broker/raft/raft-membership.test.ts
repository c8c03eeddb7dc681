// Membership: learners (thesis §4.2.1), joint consensus (Raft §6), and when a change may start.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfChangeType, EntryType, MessageType, emptyConfState, type ConfChange } from "../../protocol/raft.js";
import { decodeConfChange } from "../../protocol/conf-change.js";
import { MemoryStorage } from "./memory-storage.js";
import { RawNode } from "./raw-node.js";
import { ProposalDroppedError } from "./types.js";
import { TestNetwork, drainNode, message, testConfig } from "./test-network.js";

const addNode = (nodeId: number) => ({ type: ConfChangeType.AddNode, nodeId });
const removeNode = (nodeId: number) => ({ type: ConfChangeType.RemoveNode, nodeId });
const addLearner = (nodeId: number) => ({ type: ConfChangeType.AddLearner, nodeId });
const conf = (net: TestNetwork, id: number) => net.get(id).node.status().confState;
const role = (net: TestNetwork, id: number) => net.get(id).node.status().softState.role;
const term = (net: TestNetwork, id: number) => net.get(id).node.status().hardState.term;

function change(net: TestNetwork, at: number, cc: ConfChange): void {
  net.get(at).node.proposeConfChange(cc);
  net.stabilize();
}

function tickUntilLeader(net: TestNetwork, among: number[], max = 100): number {
  for (let i = 0; i < max && !among.includes(net.leader()); i++) net.tickAll();
  assert.ok(among.includes(net.leader()), `no leader among ${among}`);
  return net.leader();
}

test("raft - a learner receives and applies the log", () => {
  const net = new TestNetwork([1, 2, 3], {}, [4]);
  net.campaign(1);
  net.propose(1, "a");
  assert.deepEqual(net.appliedData(4), ["a"]);
  assert.deepEqual(conf(net, 4).learners, [4]);
});

test("raft - a learner never campaigns and is never asked to vote", () => {
  const net = new TestNetwork([1, 2, 3], {}, [4]);
  net.campaign(1);
  const t = term(net, 4);
  net.isolate(4);
  for (let i = 0; i < 100; i++) net.tick(4);
  net.get(4).node.campaign();
  net.stabilize();
  assert.equal(role(net, 4), "follower");
  assert.equal(term(net, 4), t);
  net.recover();
  net.isolate(1); // an election among the voters
  tickUntilLeader(net, [2, 3]);
  assert.equal(net.count((m) => (m.type === MessageType.Vote || m.type === MessageType.PreVote) && (m.to === 4 || m.from === 4)), 0);
});

test("raft - a learner's vote does not count", () => {
  const s = new MemoryStorage({ ...emptyConfState(), voters: [1, 2, 3], learners: [4] });
  const node = new RawNode(testConfig(1, { preVote: false }), s);
  node.campaign();
  drainNode(node, s); // its own vote is durable: 1 of 3
  node.step(message(MessageType.VoteResp, 4, 1, 1));
  assert.equal(node.status().softState.role, "candidate", "a learner's grant is not the second vote");
  node.step(message(MessageType.VoteResp, 2, 1, 1));
  assert.equal(node.status().softState.role, "leader");
});

test("raft - a learner's acknowledgement does not count toward commit", () => {
  const net = new TestNetwork([1, 2, 3], {}, [4]);
  net.campaign(1);
  net.cutLink(1, 2);
  net.cutLink(1, 3);
  const before = net.get(1).node.log.committed;
  net.propose(1, "a");
  assert.equal(net.get(4).node.log.lastIndex(), net.get(1).node.log.lastIndex(), "the learner has it");
  assert.equal(net.get(1).node.log.committed, before, "leader + learner is not a majority of 3 voters");
});

test("raft - a learner promoted to voter votes and can lead", () => {
  const net = new TestNetwork([1, 2, 3], {}, [4]);
  net.campaign(1);
  change(net, 1, { changes: [addNode(4)], transition: "auto" });
  for (const id of [1, 2, 3, 4]) assert.deepEqual(conf(net, id).voters, [1, 2, 3, 4], `node ${id}`);
  assert.deepEqual(conf(net, 1).learners, []);
  // with 4 voters, 1 + 4 are not a majority, 1 + 2 + 4 are
  net.cutLink(1, 2);
  net.cutLink(1, 3);
  const before = net.get(1).node.log.committed;
  net.propose(1, "a");
  assert.equal(net.get(1).node.log.committed, before);
  net.recover();
  net.tickAll();
  assert.deepEqual(net.appliedData(4), ["a"]);
  net.get(1).node.transferLeader(4);
  net.stabilize();
  assert.equal(net.leader(), 4);
});

test("raft - a node is added as a learner, caught up, then promoted", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.join(4); // a new, empty node
  net.campaign(1);
  net.propose(1, "a");
  change(net, 1, { changes: [addLearner(4)], transition: "auto" });
  net.tickAll();
  assert.deepEqual(net.appliedData(4), ["a"]);
  assert.deepEqual(conf(net, 4).learners, [4]);
  change(net, 1, { changes: [addNode(4)], transition: "auto" });
  assert.deepEqual(conf(net, 4).voters, [1, 2, 3, 4]);
});

test("raft - joint consensus: replace a voter in one change, leaving the joint state automatically", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.join(4);
  net.campaign(1);
  change(net, 1, { changes: [addNode(4), removeNode(3)], transition: "auto" });
  net.tickAll();
  const history = net.get(1).confStates;
  assert.deepEqual(history[0], { voters: [1, 2, 4], votersOutgoing: [1, 2, 3], learners: [], learnersNext: [], autoLeave: true });
  assert.deepEqual(history[history.length - 1], { voters: [1, 2, 4], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false });
  for (const id of [1, 2, 4]) assert.deepEqual(conf(net, id).votersOutgoing, [], `node ${id} left the joint state`);
  for (const id of [1, 2, 4]) assert.deepEqual(conf(net, id).voters, [1, 2, 4]);
  net.isolate(3); // 3 is out: the group goes on without it
  net.propose(1, "after");
  for (const id of [1, 2, 4]) assert.deepEqual(net.appliedData(id), ["after"]);
});

test("raft - in joint consensus a decision needs a majority of both configurations", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.join(4);
  net.join(5);
  net.campaign(1);
  // {1,2,3} -> {1,4,5}, staying joint until told to leave
  change(net, 1, { changes: [addNode(4), addNode(5), removeNode(2), removeNode(3)], transition: "joint-explicit" });
  net.tickAll();
  assert.deepEqual(conf(net, 1).voters, [1, 4, 5]);
  assert.deepEqual(conf(net, 1).votersOutgoing, [1, 2, 3]);
  net.cutLink(1, 2);
  net.cutLink(1, 3);
  const before = net.get(1).node.log.committed;
  net.propose(1, "a");
  assert.equal(net.get(4).node.log.lastIndex(), net.get(1).node.log.lastIndex());
  assert.equal(net.get(1).node.log.committed, before, "all of the new config, none of the old but the leader: not committed");
  net.recover();
  net.tickAll();
  assert.deepEqual(net.appliedData(4), ["a"]);
  assert.throws(() => net.get(1).node.proposeConfChange({ changes: [addNode(6)], transition: "auto" }), ProposalDroppedError, "only a leave while joint");
  change(net, 1, { changes: [], transition: "auto" });
  net.tickAll();
  assert.deepEqual(conf(net, 1), { voters: [1, 4, 5], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false });
  net.isolate(2);
  net.isolate(3);
  net.propose(1, "b");
  assert.deepEqual(net.appliedData(5), ["a", "b"]);
});

test("raft - joint consensus: replacing the leader, it leads through the joint state and steps down after leaving", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.join(4);
  net.campaign(1);
  net.propose(1, "a");
  change(net, 1, { changes: [removeNode(1), addNode(4)], transition: "auto" });
  const history = net.get(1).confStates;
  assert.deepEqual(history[0].votersOutgoing, [1, 2, 3], "1 led the joint state from the outgoing half");
  assert.deepEqual(conf(net, 1).voters, [2, 3, 4]);
  // a leader outside the voters does not keep leading: a member takes over
  const lead = tickUntilLeader(net, [2, 3, 4], 30);
  assert.notEqual(role(net, 1), "leader");
  net.propose(lead, "b");
  for (const id of [2, 3, 4]) assert.deepEqual(net.appliedData(id), ["a", "b"]);
  for (const id of [2, 3, 4]) assert.deepEqual(conf(net, id).voters, [2, 3, 4]);
  net.tickAll(30);
  assert.ok([2, 3, 4].includes(net.leader()), "and it stays with the members");
});

test("raft - a conf change is refused until the leader has committed an entry of its term", () => {
  const net = new TestNetwork([1, 2, 3], { checkQuorum: false });
  net.campaign(1);
  net.filter = (m) => !(m.type === MessageType.App && m.from === 2); // 2's no-op goes nowhere
  net.campaign(2);
  assert.equal(net.leader(), 2);
  const cc: ConfChange = { changes: [addLearner(4)], transition: "auto" };
  assert.throws(() => net.get(2).node.proposeConfChange(cc), ProposalDroppedError);
  net.filter = undefined;
  net.tickAll();
  assert.equal(net.get(2).node.log.term(net.get(2).node.log.committed), term(net, 2));
  change(net, 2, cc);
  assert.deepEqual(conf(net, 2).learners, [4]);
});

test("raft - a second conf change is refused while one is pending", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.get(1).node.proposeConfChange({ changes: [addLearner(4)], transition: "auto" });
  assert.throws(() => net.get(1).node.proposeConfChange({ changes: [addLearner(5)], transition: "auto" }), ProposalDroppedError);
  net.stabilize(); // the first is committed and applied
  change(net, 1, { changes: [addLearner(5)], transition: "auto" });
  assert.deepEqual(conf(net, 1).learners, [4, 5]);
});

test("raft - a voter demoted to learner through a joint change keeps voting until the joint state is left", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.join(4);
  net.campaign(1);
  change(net, 1, { changes: [addLearner(3), addNode(4)], transition: "auto" });
  net.tickAll();
  const history = net.get(1).confStates;
  assert.deepEqual(history[0].learnersNext, [3]);
  assert.deepEqual(history[0].votersOutgoing, [1, 2, 3]);
  assert.deepEqual(conf(net, 1), { voters: [1, 2, 4], votersOutgoing: [], learners: [3], learnersNext: [], autoLeave: false });
  net.propose(1, "a");
  assert.deepEqual(net.appliedData(3), ["a"], "3 still replicates, as a learner");
});

test("raft - a new leader finishes the automatic leave of a joint state its predecessor entered", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.join(4);
  net.campaign(1);
  // the old leader's leave entry never gets out (it is stripped from its Apps, with what follows it)
  net.filter = (m) => {
    if (m.type !== MessageType.App || m.from !== 1) return true;
    const at = m.entries.findIndex((e) => e.type === EntryType.ConfChange && decodeConfChange(e.data).changes.length === 0);
    return at < 0 ? true : { ...m, entries: m.entries.slice(0, at) };
  };
  change(net, 1, { changes: [addNode(4), removeNode(3)], transition: "auto" });
  net.tickAll(2); // heartbeats carry the commit index
  for (const id of [2, 3, 4]) assert.deepEqual(conf(net, id).votersOutgoing, [1, 2, 3], `node ${id} is joint`);
  net.filter = undefined;
  net.isolate(1);
  const lead = tickUntilLeader(net, [2, 3, 4]);
  net.tickAll(3);
  for (const id of [2, 4]) assert.deepEqual(conf(net, id), { voters: [1, 2, 4], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false }, `node ${id}`);
  const now = tickUntilLeader(net, [2, 4]);
  net.propose(now, "after");
  for (const id of [2, 4]) assert.deepEqual(net.appliedData(id), ["after"]);
  assert.ok(lead !== 0);
});
