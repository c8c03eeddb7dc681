// Linearizable reads (thesis §6.4): ReadIndex, follower reads, lease reads.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageType, emptyConfState, type Message } from "../../protocol/raft.js";
import { MemoryStorage } from "./memory-storage.js";
import { RawNode } from "./raw-node.js";
import { ProposalDroppedError } from "./types.js";
import { TestNetwork, drainNode, message, testConfig } from "./test-network.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const reads = (net: TestNetwork, id: number) => net.get(id).readStates.map((r) => [dec(r.context), r.index]);
const heartbeatRound = (m: Message) => m.type === MessageType.Heartbeat && m.context !== undefined && m.context.byteLength > 0;

/** Ticks until a leader stands (lease-read groups ignore forced campaigns right after start). */
function elect(net: TestNetwork): number {
  for (let i = 0; i < 100 && net.leader() === 0; i++) net.tickAll();
  assert.notEqual(net.leader(), 0);
  return net.leader();
}

test("raft - ReadIndex is answered only after a quorum answers a heartbeat round, at the commit index of the request", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.propose(1, "a");
  const at = net.get(1).node.log.committed;
  net.ignore(MessageType.HeartbeatResp);
  net.get(1).node.readIndex(enc("r1"));
  net.stabilize();
  assert.ok(net.count(heartbeatRound) > 0, "a round was started");
  assert.deepEqual(reads(net, 1), [], "no answers yet: leadership not confirmed");
  net.propose(1, "b"); // commits more meanwhile
  assert.deepEqual(reads(net, 1), []);
  net.recover();
  net.tickAll(); // the next heartbeat carries the pending round
  assert.deepEqual(reads(net, 1), [["r1", at]], "served at the commit index when the read arrived");
});

test("raft - a new leader answers no ReadIndex before it commits an entry of its term", () => {
  const net = new TestNetwork([1, 2, 3], { checkQuorum: false });
  net.campaign(1);
  net.propose(1, "a");
  net.filter = (m) => !(m.type === MessageType.App && m.from === 2); // 2's no-op goes nowhere
  net.campaign(2);
  assert.equal(net.leader(), 2);
  const n2 = net.get(2).node;
  const noop = n2.log.lastIndex();
  assert.ok(n2.log.committed < noop);
  n2.readIndex(enc("r"));
  net.stabilize();
  net.tickAll(3); // heartbeats are answered; still no read
  assert.deepEqual(reads(net, 2), [], "its commit index may be behind what the old leader acknowledged");
  net.filter = undefined;
  net.tickAll();
  assert.equal(n2.log.committed, noop);
  const rs = net.get(2).readStates;
  assert.equal(rs.length, 1);
  assert.ok(rs[0].index >= noop, `read at ${rs[0].index}, not before the no-op ${noop}`);
});

test("raft - a follower's read is forwarded to the leader and answered with the leader's read index", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.propose(1, "a");
  net.get(2).node.readIndex(enc("f"));
  net.stabilize();
  assert.equal(net.count((m) => m.type === MessageType.ReadIndex && m.from === 2 && m.to === 1), 1);
  assert.equal(net.count((m) => m.type === MessageType.ReadIndexResp && m.from === 1 && m.to === 2), 1);
  assert.ok(net.count(heartbeatRound) > 0, "the leader confirmed its leadership first");
  assert.deepEqual(reads(net, 2), [["f", net.get(1).node.log.committed]]);
  assert.deepEqual(reads(net, 1), [], "the answer is the follower's, not the leader's");
});

test("raft - a read with no known leader is refused", () => {
  const net = new TestNetwork([1, 2, 3]);
  assert.throws(() => net.get(2).node.readIndex(enc("x")), ProposalDroppedError);
});

test("raft - a single-node group answers ReadIndex at once", () => {
  const net = new TestNetwork([1]);
  net.campaign(1);
  net.get(1).node.readIndex(enc("s"));
  net.stabilize();
  assert.deepEqual(reads(net, 1), [["s", 1]]);
});

test("raft - without lease reads every ReadIndex costs a heartbeat round", () => {
  const net = new TestNetwork([1, 2, 3], { leaseRead: false });
  net.campaign(1);
  net.tickAll(3);
  const mark = net.delivered.length;
  net.get(1).node.readIndex(enc("r"));
  net.stabilize();
  assert.ok(net.delivered.slice(mark).some(heartbeatRound));
  assert.equal(net.get(1).readStates.length, 1);
});

test("raft - a lease read is answered without a round while the lease is valid", () => {
  const net = new TestNetwork([1, 2, 3], { leaseRead: true, checkQuorum: true });
  const lead = elect(net);
  net.propose(lead, "a");
  net.tickAll(2); // heartbeats answered: the lease is fresh
  const mark = net.delivered.length;
  net.get(lead).node.readIndex(enc("l"));
  net.stabilize();
  assert.equal(net.delivered.length, mark, "not a single message");
  assert.deepEqual(reads(net, lead), [["l", net.get(lead).node.log.committed]]);
});

test("raft - a lease read needs a round once the followers' answers are older than the lease", () => {
  const net = new TestNetwork([1, 2, 3], { leaseRead: true, checkQuorum: true });
  const lead = elect(net);
  net.tickAll(2);
  net.ignore(MessageType.HeartbeatResp);
  net.tickAll(8); // electionTick 10 minus a margin: the lease has run out
  const mark = net.delivered.length;
  net.get(lead).node.readIndex(enc("l"));
  net.stabilize();
  assert.deepEqual(reads(net, lead), [], "not served from an expired lease");
  assert.ok(net.delivered.slice(mark).some(heartbeatRound));
  net.recover();
  net.tickAll();
  assert.equal(reads(net, lead).length, 1);
});

test("raft - no lease read during a leadership transfer", () => {
  const net = new TestNetwork([1, 2, 3], { leaseRead: true, checkQuorum: true });
  const lead = elect(net);
  const [slow, other] = [1, 2, 3].filter((id) => id !== lead);
  net.cutLink(lead, slow);
  net.propose(lead, "a"); // slow falls behind: the transfer waits for it to catch up
  net.tickAll(2);
  net.get(lead).node.transferLeader(slow);
  net.stabilize();
  assert.equal(net.get(lead).node.status().leadTransferee, slow);
  const mark = net.delivered.length;
  net.get(lead).node.readIndex(enc("t"));
  net.stabilize();
  const after = net.delivered.slice(mark);
  assert.ok(after.some((m) => heartbeatRound(m) && m.to === other), "the target may campaign at any moment: a round confirms leadership");
  assert.deepEqual(reads(net, lead).map((r) => r[0]), ["t"], "answered by the round (leader + one follower)");
});

test("raft - a partitioned leader's lease runs out before another leader can be elected", () => {
  const net = new TestNetwork([1, 2, 3], { leaseRead: true, checkQuorum: true });
  const old = elect(net);
  net.propose(old, "a");
  net.tickAll(3);
  net.isolate(old);
  const others = [1, 2, 3].filter((id) => id !== old);
  let lastLeaseRead = -1;
  let elected = -1;
  for (let t = 0; t < 40 && elected < 0; t++) {
    const before = net.get(old).readStates.length;
    try {
      net.get(old).node.readIndex(enc(`r${t}`));
    } catch {
      // deposed by check-quorum: no leader to ask
    }
    net.stabilize();
    if (net.get(old).readStates.length > before) lastLeaseRead = t;
    net.tickAll();
    if (others.some((id) => net.get(id).node.status().softState.role === "leader")) elected = t;
  }
  assert.ok(lastLeaseRead >= 0, "the old leader did serve lease reads after the partition began");
  assert.ok(elected > lastLeaseRead, `lease reads until tick ${lastLeaseRead}, a new leader at tick ${elected}`);
});

test("raft - with lease reads, a (re)started node refuses votes for an election timeout", () => {
  // It cannot know whether it promised a leader not to vote (by answering its heartbeats) just
  // before it went down: a leader's lease counts on that promise.
  const storage = new MemoryStorage({ ...emptyConfState(), voters: [1, 2, 3] });
  const node = new RawNode(testConfig(1, { leaseRead: true, checkQuorum: true }), storage);
  node.step(message(MessageType.Vote, 2, 1, 5, { index: 9, logTerm: 9 }));
  assert.deepEqual(drainNode(node, storage).filter((m) => m.type === MessageType.VoteResp), [], "ignored");
  assert.equal(node.status().hardState.term, 0);
  for (let i = 0; i < 10; i++) node.tick();
  node.step(message(MessageType.Vote, 2, 1, 5, { index: 9, logTerm: 9 }));
  assert.deepEqual(drainNode(node, storage).filter((m) => m.type === MessageType.VoteResp).map((m) => m.reject), [false]);
});

test("raft - a leader outside the voters (a removed node that won an election) answers reads without crashing (regression)", () => {
  // Since 7c0ec69 a removed node may campaign and lead until it hands off; the lease check used to
  // assume the leader has a progress entry of its own (TypeError on the first read).
  const net = new TestNetwork([1, 2, 3], { leaseRead: true, checkQuorum: true });
  const lead = elect(net);
  const removed = [1, 2, 3].find((id) => id !== lead)!;
  const members = [1, 2, 3].filter((id) => id !== removed);
  net.get(lead).node.proposeConfChange({ changes: [{ type: 1, nodeId: removed }], transition: "auto" });
  net.stabilize();
  net.tickAll(2);
  assert.deepEqual(net.get(removed).node.status().confState.voters, members);
  // the members restart (they forget the leader); the removed node asks for their votes
  for (const id of members) net.restart(id, { random: (n) => n - 1 });
  for (let i = 0; i < 10; i++) for (const id of members) net.tick(id);
  net.filter = (m) => !(m.type === MessageType.AppResp && m.to === removed);
  net.get(removed).node.campaign();
  net.stabilize();
  if (net.get(removed).node.status().softState.role !== "leader") return; // (the core no longer lets it lead: nothing to check)
  net.get(removed).node.readIndex(enc("r"));
  net.filter = undefined;
  net.tickAll(); // the no-op commits, the read is released
  assert.deepEqual(reads(net, removed), [["r", net.get(removed).node.log.committed]], "answered once its no-op committed");
});

test("raft - lazy commit propagation: a follower's read answered from the lease comes with the commit index it must apply", () => {
  const net = new TestNetwork([1, 2, 3], { leaseRead: true, checkQuorum: true, lazyCommitPropagation: true });
  const lead = elect(net);
  const follower = [1, 2, 3].find((id) => id !== lead)!;
  net.propose(lead, "a");
  net.tickAll(2); // heartbeats answered: the lease is fresh
  net.propose(lead, "b"); // committed on the leader; no App tells the followers
  const at = net.get(lead).node.log.committed;
  assert.ok(net.get(follower).node.log.committed < at);
  net.get(follower).node.readIndex(enc("f"));
  net.stabilize();
  assert.equal(net.count(heartbeatRound), 0, "answered from the lease");
  assert.deepEqual(reads(net, follower), [["f", at]]);
  assert.equal(net.get(follower).node.log.committed, at, "it can apply the read index without waiting for a heartbeat");
  assert.deepEqual(net.appliedData(follower), ["a", "b"]);
});
