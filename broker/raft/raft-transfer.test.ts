// Leadership transfer (thesis §3.10): TimeoutNow to an up-to-date target, catch-up first,
// proposals refused meanwhile, abandoned after an election timeout, never to a learner.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageType } from "../../protocol/raft.js";
import { ProposalDroppedError } from "./types.js";
import { TestNetwork } from "./test-network.js";

const enc = (s: string) => new TextEncoder().encode(s);
const term = (net: TestNetwork, id: number) => net.get(id).node.status().hardState.term;

test("raft - transfer to an up-to-date follower: TimeoutNow, and it wins the next term", () => {
  const net = new TestNetwork([1, 2, 3]); // pre-vote and check-quorum on: the transfer bypasses both
  net.campaign(1);
  net.propose(1, "a");
  const t = term(net, 1);
  net.get(1).node.transferLeader(2);
  net.stabilize();
  assert.equal(net.count((m) => m.type === MessageType.TimeoutNow && m.from === 1 && m.to === 2), 1);
  assert.equal(net.leader(), 2);
  assert.equal(term(net, 2), t + 1);
  net.propose(2, "b");
  for (const id of [1, 2, 3]) assert.deepEqual(net.appliedData(id), ["a", "b"]);
});

test("raft - a transfer asked of a follower is forwarded to the leader", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.get(3).node.transferLeader(2);
  net.stabilize();
  // (as in etcd, the forwarded request names the transferee in `from`)
  assert.equal(net.count((m) => m.type === MessageType.TransferLeader && m.to === 1), 1);
  assert.equal(net.leader(), 2);
});

test("raft - transfer to a slow follower: the leader first brings it up to date, then sends TimeoutNow", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.cutLink(1, 3);
  for (const d of ["a", "b", "c"]) net.propose(1, d);
  net.recover();
  const mark = net.delivered.length;
  net.get(1).node.transferLeader(3);
  net.stabilize();
  const after = net.delivered.slice(mark);
  const timeoutNow = after.findIndex((m) => m.type === MessageType.TimeoutNow);
  const caughtUp = after.findIndex((m) => m.type === MessageType.AppResp && m.from === 3 && !m.reject && m.index === 4);
  assert.ok(caughtUp >= 0 && timeoutNow > caughtUp, "TimeoutNow only once 3 holds the whole log");
  assert.equal(net.leader(), 3);
  assert.deepEqual(net.appliedData(3), ["a", "b", "c"]);
});

test("raft - proposals are refused while a transfer is in progress", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.cutLink(1, 3);
  net.propose(1, "a");
  net.get(1).node.transferLeader(3); // 3 cannot catch up: the transfer stays pending
  net.stabilize();
  assert.equal(net.get(1).node.status().leadTransferee, 3);
  assert.throws(() => net.get(1).node.propose(enc("b")), ProposalDroppedError);
  const last = net.get(1).node.log.lastIndex();
  net.propose(2, "forwarded"); // dropped at the leader
  assert.equal(net.get(1).node.log.lastIndex(), last);
});

test("raft - a transfer that does not finish within an election timeout is abandoned", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.cutLink(1, 3);
  net.propose(1, "a");
  net.get(1).node.transferLeader(3);
  net.stabilize();
  net.tickAll(9);
  assert.equal(net.get(1).node.status().leadTransferee, 3, "still trying");
  net.tickAll(1);
  assert.equal(net.get(1).node.status().leadTransferee, 0);
  assert.equal(net.leader(), 1);
  net.propose(1, "b");
  assert.deepEqual(net.appliedData(2), ["a", "b"]);
});

test("raft - transfer to a learner, to itself or to a stranger is refused", () => {
  const net = new TestNetwork([1, 2, 3], {}, [4]);
  net.campaign(1);
  for (const to of [4, 1, 9]) {
    net.get(1).node.transferLeader(to);
    net.stabilize();
    assert.equal(net.get(1).node.status().leadTransferee, 0, `to ${to}`);
    assert.equal(net.leader(), 1);
  }
  assert.equal(net.count((m) => m.type === MessageType.TimeoutNow), 0);
  net.propose(1, "still accepting");
  assert.deepEqual(net.appliedData(4), ["still accepting"]);
});

test("raft - a TimeoutNow received by a learner does not make it campaign", () => {
  const net = new TestNetwork([1, 2, 3], {}, [4]);
  net.campaign(1);
  const t = term(net, 1);
  net.send({ ...net.delivered.find((m) => m.to === 4)!, type: MessageType.TimeoutNow, entries: [], term: t });
  assert.equal(net.leader(), 1);
  assert.equal(term(net, 4), t);
});
