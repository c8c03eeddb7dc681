// Leader election (Raft §5.2, §5.4.1, thesis §9.6 pre-vote, §6.2 check-quorum), one rule per test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfChangeType, EntryType, MessageType, emptyConfState, type Message } from "../../protocol/raft.js";
import { decodeConfChange, encodeConfChange } from "../../protocol/conf-change.js";
import { MemoryStorage } from "./memory-storage.js";
import { RawNode } from "./raw-node.js";
import { TestNetwork, drainNode, message, storageWithLog, testConfig } from "./test-network.js";
import type { RaftConfig } from "./types.js";

function lone(id: number, voters: number[], overrides: Partial<RaftConfig> = {}, storage?: MemoryStorage) {
  const s = storage ?? new MemoryStorage({ ...emptyConfState(), voters });
  return { node: new RawNode(testConfig(id, overrides), s), storage: s };
}
const role = (n: RawNode) => n.status().softState.role;
const term = (n: RawNode) => n.status().hardState.term;
const of = (msgs: Message[], type: MessageType) => msgs.filter((m) => m.type === type);

test("raft - a follower campaigns after a randomized election timeout in [electionTick, 2·electionTick)", () => {
  for (const [r, fires] of [
    [0, 10],
    [9, 19],
    [4, 14],
  ]) {
    const { node } = lone(1, [1, 2, 3], { preVote: false, random: () => r });
    for (let i = 1; i < fires; i++) node.tick();
    assert.equal(role(node), "follower", `random ${r}: not yet at tick ${fires - 1}`);
    node.tick();
    assert.equal(role(node), "candidate", `random ${r}: campaigns at tick ${fires}`);
    assert.equal(term(node), 1);
  }
});

test("raft - a candidate votes for itself and asks every voter, with its last log index and term", () => {
  const { node } = lone(1, [1, 2, 3], { preVote: false }, storageWithLog([1, 2, 3], [1, 1, 2]));
  node.campaign();
  const rd = node.ready();
  assert.deepEqual(rd.hardState, { term: 3, vote: 1, commit: 0 });
  assert.equal(rd.mustSync, true, "term and vote must be durable");
  const votes = of(rd.messages, MessageType.Vote);
  assert.deepEqual(votes.map((m) => m.to), [2, 3]);
  for (const v of votes) {
    assert.equal(v.term, 3);
    assert.equal(v.index, 3);
    assert.equal(v.logTerm, 2);
  }
});

test("raft - a candidate counts its own vote only once it is durable", () => {
  const { node, storage } = lone(1, [1, 2, 3], { preVote: false });
  node.campaign();
  const rd = node.ready();
  node.step(message(MessageType.VoteResp, 2, 1, 1));
  assert.equal(role(node), "candidate", "one vote of three: its own is not durable yet");
  storage.setHardState(rd.hardState!);
  node.advance(rd); // the write of term and vote completed
  assert.equal(role(node), "leader");
});

test("raft - a candidate wins with a majority of votes and loses with a majority of rejections", () => {
  const win = lone(1, [1, 2, 3, 4, 5], { preVote: false });
  win.node.campaign();
  drainNode(win.node, win.storage);
  win.node.step(message(MessageType.VoteResp, 2, 1, 1));
  assert.equal(role(win.node), "candidate", "2 of 5");
  win.node.step(message(MessageType.VoteResp, 3, 1, 1, { reject: true }));
  win.node.step(message(MessageType.VoteResp, 4, 1, 1));
  assert.equal(role(win.node), "leader", "3 of 5");

  const lose = lone(1, [1, 2, 3, 4, 5], { preVote: false });
  lose.node.campaign();
  drainNode(lose.node, lose.storage);
  for (const from of [2, 3]) lose.node.step(message(MessageType.VoteResp, from, 1, 1, { reject: true }));
  assert.equal(role(lose.node), "candidate");
  lose.node.step(message(MessageType.VoteResp, 4, 1, 1, { reject: true }));
  assert.equal(role(lose.node), "follower", "3 rejections of 5: it cannot win");
  assert.equal(term(lose.node), 1);
});

test("raft - a node grants at most one vote per term (§5.2)", () => {
  const { node, storage } = lone(1, [1, 2, 3]);
  node.step(message(MessageType.Vote, 2, 1, 1));
  let out = drainNode(node, storage);
  assert.deepEqual(of(out, MessageType.VoteResp).map((m) => [m.to, m.reject]), [[2, false]]);
  node.step(message(MessageType.Vote, 3, 1, 1));
  out = drainNode(node, storage);
  assert.deepEqual(of(out, MessageType.VoteResp).map((m) => [m.to, m.reject]), [[3, true]], "already voted for 2 in term 1");
  node.step(message(MessageType.Vote, 2, 1, 1));
  out = drainNode(node, storage);
  assert.deepEqual(of(out, MessageType.VoteResp).map((m) => [m.to, m.reject]), [[2, false]], "a retry by the same candidate");
  // a new term, a new vote
  node.step(message(MessageType.Vote, 3, 1, 2));
  out = drainNode(node, storage);
  assert.deepEqual(of(out, MessageType.VoteResp).map((m) => [m.to, m.reject]), [[3, false]]);
});

test("raft - a restarted node remembers its vote and does not vote twice in a term", () => {
  const storage = new MemoryStorage({ ...emptyConfState(), voters: [1, 2, 3] });
  let node = new RawNode(testConfig(1), storage);
  node.step(message(MessageType.Vote, 2, 1, 4));
  const rd = node.ready();
  assert.equal(of(rd.messages, MessageType.VoteResp).length, 0, "the grant waits for the vote to be durable");
  assert.deepEqual(of(rd.persistedMessages, MessageType.VoteResp).map((m) => [m.to, m.reject]), [[2, false]]);
  assert.deepEqual(rd.hardState, { term: 4, vote: 2, commit: 0 });
  drainNode(node, storage); // nothing more
  storage.setHardState(rd.hardState!);
  node.advance(rd);

  // crash and restart from the disk
  node = new RawNode(testConfig(1), storage);
  assert.deepEqual(node.status().hardState, { term: 4, vote: 2, commit: 0 });
  node.step(message(MessageType.Vote, 3, 1, 4));
  const out = drainNode(node, storage);
  assert.deepEqual(of(out, MessageType.VoteResp).map((m) => [m.to, m.reject]), [[3, true]]);
  node.step(message(MessageType.Vote, 2, 1, 4));
  assert.deepEqual(of(drainNode(node, storage), MessageType.VoteResp).map((m) => [m.to, m.reject]), [[2, false]]);
});

test("raft - a vote is granted only to a candidate whose log is at least as up to date (§5.4.1)", () => {
  // the voter's log: terms 1 1 2, so last = (3, 2)
  const cases: Array<[number, number, boolean, string]> = [
    [3, 2, true, "same last term and index"],
    [4, 2, true, "same last term, longer"],
    [2, 2, false, "same last term, shorter"],
    [1, 3, true, "higher last term, though shorter"],
    [9, 1, false, "lower last term, though longer"],
    [0, 0, false, "empty log"],
  ];
  for (const type of [MessageType.Vote, MessageType.PreVote]) {
    for (const [index, logTerm, granted, why] of cases) {
      const { node, storage } = lone(1, [1, 2, 3], {}, storageWithLog([1, 2, 3], [1, 1, 2]));
      node.step(message(type, 2, 1, 5, { index, logTerm }));
      const resp = drainNode(node, storage).filter((m) => m.type === type + 1);
      assert.equal(resp.length, 1);
      assert.equal(resp[0].reject, !granted, `${type === MessageType.Vote ? "vote" : "pre-vote"}: ${why}`);
    }
  }
});

test("raft - any message with a higher term turns the node into a follower of that term (§5.1)", () => {
  for (const type of [MessageType.App, MessageType.Heartbeat, MessageType.AppResp, MessageType.Vote, MessageType.HeartbeatResp]) {
    const net = new TestNetwork([1, 2, 3], { checkQuorum: false, preVote: false });
    net.campaign(1);
    const leader = net.get(1).node;
    assert.equal(role(leader), "leader");
    leader.step(message(type, 2, 1, 7));
    assert.equal(role(leader), "follower", `message type ${type}`);
    assert.equal(term(leader), 7);
    const lead = leader.status().softState.leader;
    assert.equal(lead, type === MessageType.App || type === MessageType.Heartbeat ? 2 : 0, "a leader's message names the leader");
  }
});

test("raft - a candidate falls back to follower when a leader of its term appears (§5.2)", () => {
  for (const type of [MessageType.App, MessageType.Heartbeat]) {
    const { node, storage } = lone(1, [1, 2, 3], { preVote: false });
    node.campaign();
    drainNode(node, storage);
    assert.equal(role(node), "candidate");
    node.step(message(type, 2, 1, 1));
    assert.equal(role(node), "follower");
    assert.equal(node.status().softState.leader, 2);
    assert.equal(term(node), 1);
  }
  // a pre-candidate too
  const { node, storage } = lone(1, [1, 2, 3]);
  node.campaign();
  drainNode(node, storage);
  assert.equal(role(node), "pre-candidate");
  node.step(message(MessageType.App, 2, 1, 0 + 1));
  assert.equal(role(node), "follower");
  assert.equal(node.status().softState.leader, 2);
});

test("raft - messages of an older term are ignored; a stale leader is told the newer term", () => {
  const { node, storage } = lone(1, [1, 2, 3], {}, storageWithLog([1, 2, 3], [1, 1], { term: 3 }));
  node.step(message(MessageType.App, 2, 1, 2, { index: 2, logTerm: 1, entries: [{ term: 2, index: 3, type: 0, data: new Uint8Array(1) }], commit: 3 }));
  const out = drainNode(node, storage);
  assert.equal(node.log.lastIndex(), 2, "nothing appended");
  assert.equal(node.log.committed, 0, "nothing committed");
  assert.equal(term(node), 3);
  const resp = of(out, MessageType.AppResp);
  assert.equal(resp.length, 1);
  assert.equal(resp[0].term, 3, "the old leader learns the new term from this and steps down");
  // an old vote request is not answered with a grant
  node.step(message(MessageType.Vote, 2, 1, 2, { index: 9, logTerm: 9 }));
  assert.equal(of(drainNode(node, storage), MessageType.VoteResp).filter((m) => !m.reject).length, 0);
});

test("raft - a leader keeps followers from campaigning with heartbeats", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  const t = term(net.get(1).node);
  net.tickAll(100);
  assert.equal(net.leader(), 1);
  for (const id of [1, 2, 3]) assert.equal(term(net.get(id).node), t);
});

test("raft - split votes: with equal timeouts the split repeats forever; randomized timeouts resolve it", () => {
  const split = (random: RaftConfig["random"] | undefined) => {
    const net = new TestNetwork([1, 2, 3, 4], random ? { preVote: false, checkQuorum: false, random } : { preVote: false, checkQuorum: false });
    // 1 and 2 campaign at once; 3 hears only 1 and 4 hears only 2: two votes each, 3 needed
    net.cutLink(1, 4);
    net.cutLink(2, 3);
    net.get(1).node.campaign();
    net.get(2).node.campaign();
    net.stabilize();
    assert.equal(net.leader(), 0);
    assert.equal(role(net.get(1).node), "candidate");
    assert.equal(role(net.get(2).node), "candidate");
    net.recover();
    return net;
  };
  const stuck = split(() => 0);
  for (let i = 0; i < 100 && stuck.leader() === 0; i++) stuck.tickAll();
  assert.equal(stuck.leader(), 0, "everyone times out together, votes for itself, and nobody wins");
  assert.ok(term(stuck.get(1).node) > 5, "terms keep going up");

  const net = split(undefined); // the test network's per-node random sequences
  let ticks = 0;
  for (; ticks < 100 && net.leader() === 0; ticks++) net.tickAll();
  assert.notEqual(net.leader(), 0, "one node times out first and wins");
  const t = term(net.get(net.leader()).node);
  assert.ok(t >= 2);
  for (const id of [1, 2, 3, 4]) assert.equal(term(net.get(id).node), t);
});

/** Ticks every node until one leader stands (at most `max` ticks); returns the ticks used. */
function tickUntilLeader(net: TestNetwork, among: number[], max = 100): number {
  for (let i = 0; i < max; i++) {
    if (among.includes(net.leader())) return i;
    net.tickAll();
  }
  assert.fail(`no leader among ${among} after ${max} ticks`);
}

/** Ticks every node until all of `ids` follow one leader in one term (at most `max` ticks). */
function tickUntilSettled(net: TestNetwork, ids: number[], max = 100): number {
  for (let i = 0; i < max; i++) {
    const lead = net.leader();
    if (lead !== 0) {
      const t = term(net.get(lead).node);
      if (ids.every((id) => term(net.get(id).node) === t && net.get(id).node.status().softState.leader === lead)) return i;
    }
    net.tickAll();
  }
  assert.fail(`${ids} did not settle on one leader after ${max} ticks`);
}

/** A 3-node group with leader 1 whose node 3 is partitioned away while the others go on. */
function partitionThree(overrides: Partial<RaftConfig>, proposeWhileAway: boolean): TestNetwork {
  const net = new TestNetwork([1, 2, 3], overrides);
  net.campaign(1);
  net.isolate(3);
  if (proposeWhileAway) net.propose(1, "while 3 was away");
  for (let i = 0; i < 50; i++) net.tick(3);
  net.stabilize();
  return net;
}

test("raft - without pre-vote a rejoining partitioned node disrupts the leader (the problem pre-vote solves)", () => {
  const net = partitionThree({ preVote: false, checkQuorum: false }, true);
  const t1 = term(net.get(1).node);
  assert.ok(term(net.get(3).node) > t1 + 2, "its term ran up while it campaigned alone");
  net.recover();
  net.tickAll(); // the first heartbeat after the partition heals
  tickUntilSettled(net, [1, 2, 3]);
  assert.ok(term(net.get(1).node) > t1, "the healthy leader was deposed");
  assert.ok([1, 2].includes(net.leader()), "(3's log is behind: it cannot win)");
});

test("raft - with pre-vote a rejoining partitioned node does not disrupt the leader", () => {
  const net = partitionThree({ preVote: true, checkQuorum: false }, true);
  const t1 = term(net.get(1).node);
  assert.equal(term(net.get(3).node), t1, "pre-votes do not raise its term");
  net.recover();
  net.campaign(3); // it times out at once after rejoining: its pre-vote is refused (its log is behind)
  assert.equal(net.leader(), 1);
  assert.equal(term(net.get(1).node), t1);
  net.tickAll(30);
  assert.equal(net.leader(), 1);
  for (const id of [1, 2, 3]) assert.equal(term(net.get(id).node), t1);
  assert.deepEqual(net.appliedData(3), ["while 3 was away"]);
});

test("raft - with check-quorum, leader stickiness ignores a rejoining node's votes", () => {
  const net = partitionThree({ preVote: false, checkQuorum: true }, true);
  const t1 = term(net.get(1).node);
  const t3 = term(net.get(3).node);
  assert.ok(t3 > t1 + 2);
  net.recover();
  const mark = net.delivered.length;
  net.get(3).node.campaign();
  net.stabilize();
  // 1 and 2 heard from their leader within the election timeout: the vote requests are ignored
  assert.equal(net.leader(), 1);
  assert.equal(term(net.get(1).node), t1);
  assert.equal(term(net.get(2).node), t1);
  assert.equal(net.delivered.slice(mark).filter((m) => m.type === MessageType.VoteResp).length, 0, "not even answered");
  // liveness: the group then settles on one leader and one term, and 3 rejoins it
  tickUntilSettled(net, [1, 2, 3]);
  const lead = net.leader();
  assert.notEqual(lead, 0);
  net.propose(lead, "after");
  for (const id of [1, 2, 3]) assert.deepEqual(net.appliedData(id), ["while 3 was away", "after"]);
});

test("raft - pre-vote and check-quorum together still elect a leader when the leader is really gone", () => {
  for (const size of [3, 5]) {
    const ids = Array.from({ length: size }, (_, i) => i + 1);
    const net = new TestNetwork(ids, { preVote: true, checkQuorum: true });
    net.campaign(1);
    net.propose(1, "x");
    // one survivor is behind: it cannot win, but must not keep the others from winning
    net.cutLink(1, size);
    net.propose(1, "y");
    net.isolate(1);
    const used = tickUntilLeader(net, ids.slice(1), 100);
    assert.ok(used <= 4 * 10, `elected within a few election timeouts (${used} ticks)`);
    const lead = net.leader();
    assert.notEqual(lead, size, "the node that missed y cannot be elected");
    net.propose(lead, "z");
    for (const id of ids.slice(1)) assert.deepEqual(net.appliedData(id), ["x", "y", "z"]);
  }
});

test("raft - a partitioned old leader steps down once a whole election timeout passes without a quorum (check-quorum)", () => {
  const net = new TestNetwork([1, 2, 3, 4, 5], { checkQuorum: true });
  net.campaign(1);
  net.isolate(1);
  const committed = net.get(1).node.log.committed;
  net.get(1).node.propose(new TextEncoder().encode("lost"));
  // Activity is judged per election timeout: the followers answered during the first interval
  // (before the partition), so the check at its end passes and the one after fails.
  for (let i = 0; i < 10; i++) net.tick(1);
  net.stabilize();
  assert.equal(role(net.get(1).node), "leader", "the followers were active in this interval");
  for (let i = 0; i < 10; i++) net.tick(1);
  net.stabilize();
  assert.equal(role(net.get(1).node), "follower");
  assert.equal(net.get(1).node.log.committed, committed, "it committed nothing while alone");
});

test("raft - a partitioned old leader cannot commit; its entries are overwritten when the partition heals", () => {
  const net = new TestNetwork([1, 2, 3, 4, 5]);
  net.campaign(1);
  net.propose(1, "a");
  net.isolate(1);
  net.cutLink(2, 1); // (already cut) a minority {1, 2} and a majority {3, 4, 5}
  net.get(1).node.propose(new TextEncoder().encode("lost"));
  net.stabilize();
  tickUntilLeader(net, [2, 3, 4, 5]);
  const lead = net.leader();
  assert.notEqual(lead, 1);
  assert.equal(role(net.get(1).node), "follower", "check-quorum deposed the old leader");
  net.propose(lead, "b");
  assert.deepEqual(net.appliedData(1), ["a"], "the old leader never applied 'lost'");
  net.recover();
  net.tickAll(3);
  for (const id of [1, 2, 3, 4, 5]) assert.deepEqual(net.appliedData(id), ["a", "b"]);
  const old = net.get(1).node;
  const data = old.log.slice(1, old.log.lastIndex() + 1).map((e) => new TextDecoder().decode(e.data));
  assert.ok(!data.includes("lost"), "'lost' is gone from the old leader's log");
});

test("raft - granting a pre-vote does not reset the election timer (only a real vote does)", () => {
  const { node, storage } = lone(1, [1, 2, 3], { random: () => 0 }); // timeout: exactly 10 ticks
  for (let i = 0; i < 5; i++) node.tick();
  node.step(message(MessageType.PreVote, 2, 1, 1, { index: 0, logTerm: 0 }));
  const out = drainNode(node, storage);
  assert.deepEqual(of(out, MessageType.PreVoteResp).map((m) => m.reject), [false]);
  for (let i = 0; i < 5; i++) node.tick();
  assert.equal(role(node), "pre-candidate", "it still times out 10 ticks after it last heard anything real");

  const real = lone(1, [1, 2, 3], { random: () => 0 });
  for (let i = 0; i < 5; i++) real.node.tick();
  real.node.step(message(MessageType.Vote, 2, 1, 1, { index: 0, logTerm: 0 }));
  drainNode(real.node, real.storage);
  for (let i = 0; i < 5; i++) real.node.tick();
  assert.equal(role(real.node), "follower", "a granted vote restarts the timer");
});

test("raft - a node does not campaign while it has committed conf changes it has not applied", () => {
  // (one of them could remove it; it must know its membership before asking for votes)
  const storage = new MemoryStorage({ ...emptyConfState(), voters: [1, 2, 3] });
  const cc = encodeConfChange({ changes: [{ type: ConfChangeType.AddLearner, nodeId: 4 }], transition: "auto" });
  storage.append([{ term: 1, index: 1, type: EntryType.ConfChange, data: cc }]);
  storage.setHardState({ term: 1, vote: 0, commit: 1 });
  const node = new RawNode(testConfig(1, { preVote: false }), storage);
  node.campaign();
  assert.equal(role(node), "follower");
  const rd = node.ready();
  assert.equal(rd.committedEntries.length, 1);
  node.applyConfChange(decodeConfChange(rd.committedEntries[0].data));
  node.advance(rd);
  node.campaign();
  assert.equal(role(node), "candidate", "once applied, it may");
});

test("raft - a follower cut off from the leader alone does not disrupt the group (pre-vote + check-quorum)", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  const t = term(net.get(1).node);
  net.cutLink(1, 3); // 3 still reaches 2, 2 reaches 1
  net.tickAll(60);
  assert.equal(net.leader(), 1);
  assert.equal(term(net.get(1).node), t);
  assert.equal(term(net.get(2).node), t);
  net.propose(1, "a");
  assert.deepEqual(net.appliedData(2), ["a"]);
});
