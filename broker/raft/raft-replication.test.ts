// Log replication and the commit rule (Raft §5.3, §5.4.2, Figures 7 and 8; thesis §10.2.1), flow
// control, and durability before acknowledgement.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfChangeType, MessageType, type HardState, type Message } from "../../protocol/raft.js";
import { TestNetwork, drainNode, logTerms, message, storageWithLog } from "./test-network.js";
import type { RawNode } from "./raw-node.js";
import { ProposalDroppedError, type RaftConfig } from "./types.js";

const enc = (s: string) => new TextEncoder().encode(s);
const term = (n: RawNode) => n.status().hardState.term;
const isApp = (from: number, to: number) => (m: Message) => m.type === MessageType.App && m.from === from && m.to === to;
/** Apps that carry entries (not just the commit index). */
const isAppWithEntries = (from: number, to: number) => (m: Message) => isApp(from, to)(m) && m.entries.length > 0;
const isLeader = (net: TestNetwork, id: number) => net.get(id).node.status().softState.role === "leader";

// Figure 7: the leader's log (term 8) and six possible follower logs, by term of each entry.
const FIG7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
const FIG7_FOLLOWERS: Record<string, number[]> = {
  a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
  b: [1, 1, 1, 4],
  c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
  d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
  e: [1, 1, 1, 4, 4, 4, 4],
  f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
};

for (const [name, followerLog] of Object.entries(FIG7_FOLLOWERS)) {
  test(`raft - Figure 7 (${name}): the leader brings the follower's log into agreement with its own`, () => {
    const net = new TestNetwork([1, 2, 3]);
    net.add(1, undefined, storageWithLog([1, 2, 3], FIG7_LEADER, { term: 8 }));
    net.add(2, undefined, storageWithLog([1, 2, 3], followerLog, { term: 8 }));
    net.add(3, undefined, storageWithLog([1, 2, 3], FIG7_LEADER, { term: 8 })); // votes for 1
    net.campaign(1);
    assert.equal(net.leader(), 1);
    const leader = net.get(1).node;
    const follower = net.get(2).node;
    assert.equal(leader.log.lastIndex(), 11, "the leader's log plus the no-op of its term");
    assert.deepEqual(logTerms(follower), logTerms(leader));
    assert.equal(follower.log.committed, 11);
    assert.deepEqual(
      net.get(2).applied.map((e) => [e.index, e.term]),
      logTerms(leader),
      "the follower applies exactly the leader's entries",
    );
  });
}

/**
 * Figure 8, steps (a)–(c), in a 5-node group (pre-vote and check-quorum off, to follow the paper).
 * Each App carries one entry. With `blockNewTerm`, the entries of S1's term 3 never get through.
 */
function figure8(blockNewTerm: boolean): TestNetwork {
  const net = new TestNetwork([1, 2, 3, 4, 5], { preVote: false, checkQuorum: false, maxSizePerMsg: 1 });
  net.campaign(1); // term 1; the no-op (1,1) is committed everywhere
  // (a) S1 is leader and replicates x = (2,1) to S2 only
  net.cutLink(1, 3);
  net.cutLink(1, 4);
  net.cutLink(1, 5);
  net.propose(1, "x");
  assert.equal(net.get(2).node.log.term(2), 1);
  assert.equal(net.get(1).node.log.committed, 1);
  // (b) S1 crashes; S5 is elected in term 2 by S3, S4 and itself (S2's log is longer: it refuses);
  //     S5's no-op (2,2) reaches nobody
  net.recover();
  net.isolate(1);
  net.filter = (m) => !(m.type === MessageType.App && m.from === 5);
  net.campaign(5);
  assert.ok(isLeader(net, 5), "S5 leads term 2 (S1, cut off, still thinks it leads term 1)");
  assert.equal(term(net.get(5).node), 2);
  assert.equal(net.get(5).node.log.term(2), 2);
  // (c) S5 crashes; S1 comes back and is elected in term 3 (S2, S3, S4 vote) and replicates x
  net.recover();
  net.isolate(5);
  net.restart(1);
  // (with blockNewTerm, Apps arrive without their term-3 entries: they carry x, the commit index
  // and the log-matching check, but never an entry of S1's new term)
  net.filter = blockNewTerm
    ? (m) => (m.type === MessageType.App ? { ...m, entries: m.entries.filter((e) => e.term !== 3) } : true)
    : undefined;
  net.campaign(1); // term 2: S3 and S4 already voted for S5 in term 2
  if (!isLeader(net, 1)) net.campaign(1); // term 3
  assert.ok(isLeader(net, 1));
  assert.equal(term(net.get(1).node), 3);
  return net;
}

test("raft - Figure 8: a leader does not commit an earlier term's entry by counting replicas (§5.4.2)", () => {
  const net = figure8(true);
  const s1 = net.get(1).node;
  const progress = s1.status().progress!;
  // x = (2,1) is now on S1, S2, S3, S4 — and the leader knows of S1, S3, S4: a majority
  assert.equal(progress.get(3)!.match, 2);
  assert.equal(progress.get(4)!.match, 2);
  for (const id of [1, 2, 3, 4]) assert.equal(net.get(id).node.log.term(2), 1, `S${id} holds x`);
  assert.equal(s1.log.committed, 1, "x is on a majority but is of term 1: not committed");
  // (d) S1 crashes again; S5 comes back and wins term 4 (its last term 2 beats their term 1)
  // and overwrites x everywhere. Had S1 committed x, a committed entry would now be lost.
  net.filter = undefined;
  net.recover();
  net.isolate(1);
  net.restart(5);
  net.campaign(5); // term 3: S2, S3, S4 voted for S1 in term 3
  if (!isLeader(net, 5)) net.campaign(5);
  assert.ok(isLeader(net, 5));
  for (const id of [2, 3, 4, 5]) assert.equal(net.get(id).node.log.term(2), 2, `S${id}: x overwritten by (2,2)`);
  for (const id of [1, 2, 3, 4, 5]) assert.ok(!net.appliedData(id).includes("x"), `S${id} never applied x`);
});

test("raft - Figure 8 (e): an earlier term's entry is committed by committing an entry of the leader's term", () => {
  const net = figure8(false);
  const s1 = net.get(1).node;
  assert.equal(s1.log.committed, 3, "the term-3 no-op reached a majority: it and x before it are committed");
  for (const id of [1, 2, 3, 4]) assert.deepEqual(net.appliedData(id), ["x"]);
  // and S5, whose log lacks the committed entries, can no longer be elected
  net.recover();
  net.isolate(1);
  net.restart(5);
  net.campaign(5);
  net.campaign(5);
  assert.ok(!isLeader(net, 5));
  assert.equal(net.get(2).node.log.term(2), 1);
});

test("raft - fast backtracking: a long divergent tail of a lower term is skipped in one round trip", () => {
  const common = Array<number>(10).fill(1);
  const net = new TestNetwork([1, 2, 3]);
  net.add(1, undefined, storageWithLog([1, 2, 3], [...common, ...Array<number>(10).fill(3)], { term: 3 }));
  net.add(2, undefined, storageWithLog([1, 2, 3], [...common, ...Array<number>(50).fill(2)], { term: 3 }));
  net.add(3, undefined, storageWithLog([1, 2, 3], [...common, ...Array<number>(10).fill(3)], { term: 3 }));
  net.campaign(1);
  assert.equal(net.leader(), 1);
  assert.deepEqual(logTerms(net.get(2).node), logTerms(net.get(1).node));
  const rejections = net.count((m) => m.type === MessageType.AppResp && m.from === 2 && m.reject);
  assert.ok(rejections <= 1, `${rejections} rejections (one per entry would be 50)`);
  assert.ok(net.count(isApp(1, 2)) <= 3, `${net.count(isApp(1, 2))} Apps`);
});

test("raft - fast backtracking: a long divergent tail of a higher term is skipped term by term", () => {
  const common = Array<number>(10).fill(1);
  const net = new TestNetwork([1, 2, 3]);
  net.add(1, undefined, storageWithLog([1, 2, 3], [...common, ...Array<number>(5).fill(2)], { term: 3 }));
  net.add(2, undefined, storageWithLog([1, 2, 3], [...common, ...Array<number>(50).fill(3)], { term: 3 }));
  net.add(3, undefined, storageWithLog([1, 2, 3], [...common, ...Array<number>(5).fill(2)], { term: 3 }));
  net.campaign(1);
  assert.equal(net.leader(), 1);
  assert.deepEqual(logTerms(net.get(2).node), logTerms(net.get(1).node));
  const rejections = net.count((m) => m.type === MessageType.AppResp && m.from === 2 && m.reject);
  assert.ok(rejections <= 2, `${rejections} rejections (one per entry would be 50)`);
});

test("raft - the leader stops sending at maxInflightMsgs and resumes as acknowledgements arrive", () => {
  const net = new TestNetwork([1, 2, 3], { maxInflightMsgs: 3 });
  net.campaign(1);
  const held: Message[] = [];
  net.filter = (m) => {
    if (m.type === MessageType.AppResp && m.from === 2) {
      held.push(m);
      return false;
    }
    return true;
  };
  const mark = net.delivered.length;
  for (let i = 0; i < 10; i++) net.propose(1, `p${i}`);
  const sent = () => net.delivered.slice(mark).filter(isAppWithEntries(1, 2)).length;
  assert.equal(sent(), 3, "three Apps in flight, then the leader waits");
  assert.equal(net.get(2).node.log.lastIndex(), 4);
  assert.deepEqual(net.appliedData(1).length, 10, "1 and 3 commit without 2");
  net.filter = undefined;
  net.send(held.shift()!); // one acknowledgement frees the window
  assert.ok(sent() > 3, "sending resumed");
  for (const m of held) net.send(m);
  net.tickAll(2);
  assert.deepEqual(logTerms(net.get(2).node), logTerms(net.get(1).node));
  assert.equal(net.appliedData(2).length, 10);
});

test("raft - the leader stops sending at maxInflightBytes", () => {
  const net = new TestNetwork([1, 2, 3], { maxInflightBytes: 200 });
  net.campaign(1);
  net.filter = (m) => !(m.type === MessageType.AppResp && m.from === 2);
  const mark = net.delivered.length;
  for (let i = 0; i < 5; i++) net.propose(1, "x".repeat(100));
  assert.equal(net.delivered.slice(mark).filter(isAppWithEntries(1, 2)).length, 2, "the second App crosses 200 bytes");
});

test("raft - maxSizePerMsg splits a catch-up into several Apps", () => {
  const net = new TestNetwork([1, 2, 3], { maxSizePerMsg: 250 });
  net.campaign(1);
  net.isolate(2);
  for (let i = 0; i < 10; i++) net.propose(1, `${i}`.padEnd(100, "."));
  net.recover();
  const mark = net.delivered.length;
  net.tickAll(3);
  const apps = net.delivered.slice(mark).filter((m) => isApp(1, 2)(m) && m.entries.length > 0);
  assert.ok(apps.length >= 5, `${apps.length} Apps for 10 entries of ~116 bytes`);
  for (const m of apps) assert.ok(m.entries.length <= 2, `an App of ${m.entries.length} entries`);
  assert.equal(net.appliedData(2).length, 10);
});

/** A 3-node group with leader 1, driven by hand from here on. */
function handDriven(overrides: Partial<RaftConfig> = {}) {
  const net = new TestNetwork([1, 2, 3], overrides);
  net.campaign(1);
  const leader = net.get(1);
  leader.node.propose(enc("p"));
  const rd = leader.node.ready();
  const index = leader.node.log.lastIndex();
  return { net, leader, rd, index };
}

/** Delivers `m` to its follower and returns the follower's answers (it persists synchronously). */
function followerAnswers(net: TestNetwork, m: Message): Message[] {
  const f = net.get(m.to);
  f.node.step(m);
  return drainNode(f.node, f.storage);
}

test("raft - parallel leader append: Apps leave before the leader's own write is durable", () => {
  const { leader, rd, index } = handDriven();
  assert.deepEqual(rd.entries.map((e) => e.index), [index], "the entry is still to be written");
  const apps = rd.messages.filter((m) => m.type === MessageType.App && m.entries.some((e) => e.index === index));
  assert.deepEqual(apps.map((m) => m.to).sort(), [2, 3], "replication does not wait for the leader's disk");
  assert.equal(rd.persistedMessages.length, 0, "the leader's own acknowledgement is not a message to send");
  assert.equal(leader.node.log.persisted, index - 1);
});

test("raft - parallel leader append: with one follower's ack, a 3-node group commits only once the leader's write is durable", () => {
  const { net, leader, rd, index } = handDriven();
  leader.node.advanceAppend(rd); // nothing to apply; the write is under way
  const toTwo = rd.messages.find((m) => isApp(1, 2)(m))!;
  for (const r of followerAnswers(net, toTwo)) leader.node.step(r);
  assert.equal(leader.node.log.committed, index - 1, "1 durable copy of 3 (the leader's is not durable yet)");
  persistWrites(leader.storage, rd);
  leader.node.onPersisted(rd.number);
  assert.equal(leader.node.log.committed, index, "leader + one follower: a majority");
});

test("raft - parallel leader append: two followers' acks commit without the leader's write, but the leader applies only what it holds", () => {
  const { net, leader, rd, index } = handDriven();
  leader.node.advanceAppend(rd);
  for (const m of rd.messages.filter((m) => m.type === MessageType.App)) {
    for (const r of followerAnswers(net, m)) leader.node.step(r);
  }
  assert.equal(leader.node.log.committed, index, "a majority of the voters hold it durably: committed (§10.2.1)");
  const rd2 = leader.node.ready();
  assert.ok(!rd2.committedEntries.some((e) => e.index === index), "not applied from a log that is not durable here");
  leader.node.advanceAppend(rd2);
  persistWrites(leader.storage, rd);
  leader.node.onPersisted(rd.number);
  const rd3 = leader.node.ready();
  assert.deepEqual(rd3.committedEntries.map((e) => e.index), [index]);
});

test("raft - parallel leader append with applyBeforePersist: two followers' acks commit and the leader applies before its own write is durable", () => {
  const { net, leader, rd, index } = handDriven({ applyBeforePersist: true });
  leader.node.advanceAppend(rd);
  const toTwo = rd.messages.find((m) => isApp(1, 2)(m))!;
  for (const r of followerAnswers(net, toTwo)) leader.node.step(r);
  assert.ok(!leader.node.ready().committedEntries.some((e) => e.index === index), "one follower's copy alone is no majority: not applied");
  for (const r of followerAnswers(net, rd.messages.find((m) => isApp(1, 3)(m))!)) leader.node.step(r);
  assert.equal(leader.node.log.persisted, index - 1, "the leader's write is still under way");
  const rd2 = leader.node.ready();
  assert.deepEqual(rd2.committedEntries.map((e) => e.index), [index], "committed by the followers' majority: applied at once");
  leader.node.advanceAppend(rd2);
  persistWrites(leader.storage, rd);
  leader.node.onPersisted(rd.number);
  assert.ok(!leader.node.hasReady() || leader.node.ready().committedEntries.length === 0, "not handed out twice");
});

function persistWrites(storage: { append(e: Message["entries"]): void; setHardState(h: HardState): void }, rd: { entries: Message["entries"]; hardState?: HardState }) {
  storage.append(rd.entries);
  if (rd.hardState) storage.setHardState(rd.hardState);
}

test("raft - a write that completes after its entries were replaced (term change) is not counted (ABA)", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  const n1 = net.get(1);
  const t = term(n1.node);
  n1.node.propose(enc("p")); // (k, t), written by rd1
  const k = n1.node.log.lastIndex();
  const rd1 = n1.node.ready();
  n1.node.advanceAppend(rd1);
  // before rd1's write completes, a leader of term t+1 replaces entry k
  n1.node.step(message(MessageType.App, 2, 1, t + 1, { index: k - 1, logTerm: t, entries: [{ term: t + 1, index: k, type: 0, data: enc("q") }], commit: 0 }));
  assert.equal(n1.node.log.term(k), t + 1);
  const rd2 = n1.node.ready();
  assert.ok(rd2.persistedMessages.some((m) => m.type === MessageType.AppResp && m.index === k && !m.reject), "the ack of (k, t+1) waits for rd2");
  persistWrites(n1.storage, rd1);
  n1.node.onPersisted(rd1.number);
  assert.equal(n1.node.log.persisted, k - 1, "(k, t) was written, but (k, t+1) is what the log holds: not durable yet");
  persistWrites(n1.storage, rd2);
  n1.node.onPersisted(rd2.number);
  assert.equal(n1.node.log.persisted, k);
});

test("raft - votes and append acknowledgements are sent only after the hard state and entries are durable", () => {
  const net = new TestNetwork([1, 2, 3, 4, 5]);
  const hard = new Map<number, HardState>();
  const violations: string[] = [];
  net.onReady = (id, rd) => {
    for (const m of rd.messages) {
      if (m.type === MessageType.VoteResp || m.type === MessageType.PreVoteResp || m.type === MessageType.AppResp) {
        violations.push(`node ${id} sends type ${m.type} before persisting`);
      }
    }
    const hs = rd.hardState ?? hard.get(id) ?? net.get(id).storage.initialState().hardState;
    hard.set(id, hs);
    for (const m of rd.persistedMessages) {
      if (m.type === MessageType.VoteResp && !m.reject && (hs.vote !== m.to || hs.term !== m.term)) {
        violations.push(`node ${id} grants ${m.to} in term ${m.term} but persists vote ${hs.vote} term ${hs.term}`);
      }
      if (m.type === MessageType.AppResp && !m.reject && m.index > net.get(id).storage.lastIndex() && rd.entries.length === 0) {
        violations.push(`node ${id} acknowledges ${m.index} beyond its stored log`);
      }
    }
  };
  // elections, replication, a partition with rejections and a new leader, a restart
  net.campaign(1);
  net.propose(1, "a");
  net.isolate(1);
  net.propose(1, "lost");
  for (let i = 0; i < 60 && ![2, 3, 4, 5].includes(net.leader()); i++) net.tickAll();
  const lead = net.leader();
  net.propose(lead, "b");
  const f = [2, 3, 4, 5].find((id) => id !== lead)!;
  net.isolate(f); // the Apps streamed to f are lost: it rejects the next one
  net.propose(lead, "b2");
  net.recover();
  net.restart(3);
  net.tickAll(30);
  net.propose(net.leader(), "c");
  assert.deepEqual(violations, []);
  assert.ok(net.count((m) => m.type === MessageType.VoteResp) > 0);
  assert.ok(net.count((m) => m.type === MessageType.AppResp && m.reject) > 0, "the scenario had rejections");
  for (const id of [1, 2, 3, 4, 5]) assert.deepEqual(net.appliedData(id).slice(-4), ["a", "b", "b2", "c"]);
});

test("raft - a follower refuses an App whose previous entry it does not hold, and hints where to look (§5.3)", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.add(2, undefined, storageWithLog([1, 2, 3], [1, 1, 2, 2], { term: 3 }));
  const f = net.get(2);
  const cases: Array<[number, number, number, number, string]> = [
    // prev index, prev term -> hint index, hint term
    [6, 3, 4, 2, "past its end: its last entry of a term ≤ 3"],
    [4, 3, 4, 2, "same index, other term"],
    [4, 1, 2, 1, "the term-2 run cannot match a term-1 leader: skip it"],
  ];
  for (const [index, logTerm, hint, hintTerm, why] of cases) {
    f.node.step(message(MessageType.App, 1, 2, 3, { index, logTerm, entries: [] }));
    const resp = drainNode(f.node, f.storage).filter((m) => m.type === MessageType.AppResp);
    assert.deepEqual(resp.map((m) => [m.reject, m.index, m.rejectHint, m.logTerm]), [[true, index, hint, hintTerm]], why);
  }
  assert.equal(f.node.log.lastIndex(), 4, "nothing appended, nothing truncated");
});

test("raft - a single-node group commits an entry once its own write is durable", () => {
  const net = new TestNetwork([1]);
  net.campaign(1);
  const n = net.get(1).node;
  n.propose(enc("solo"));
  const rd = n.ready();
  const index = n.log.lastIndex();
  assert.equal(n.log.committed, index - 1);
  persistWrites(net.get(1).storage, rd);
  n.advance(rd);
  assert.equal(n.log.committed, index);
});

test("raft - followers forward proposals to the leader, unless forwarding is off", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.propose(3, "via 3");
  assert.equal(net.count((m) => m.type === MessageType.Prop && m.from === 3 && m.to === 1), 1);
  assert.deepEqual(net.appliedData(1), ["via 3"]);
  const off = new TestNetwork([1, 2, 3], { disableProposalForwarding: true });
  off.campaign(1);
  assert.throws(() => off.get(3).node.propose(enc("x")), ProposalDroppedError);
});

test("raft - the leader drops proposals beyond maxUncommittedEntriesSize until entries commit", () => {
  const net = new TestNetwork([1, 2, 3], { maxUncommittedEntriesSize: 250 });
  net.campaign(1);
  net.isolate(2);
  net.isolate(3);
  const n = net.get(1).node;
  n.propose(enc("x".repeat(100)));
  n.propose(enc("x".repeat(100)));
  assert.throws(() => n.propose(enc("x".repeat(100))), ProposalDroppedError, "300 uncommitted bytes > 250");
  net.recover();
  net.tickAll(2); // the two commit
  n.propose(enc("x".repeat(100)));
  net.stabilize();
  assert.equal(net.appliedData(2).length, 3);
});

test("raft - reordered Apps: the leader recovers from a rejection of an App that overtook an earlier one", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.propose(1, "a"); // 2 is in replicate state now
  let held: Message | undefined;
  net.filter = (m) => {
    if (held === undefined && isAppWithEntries(1, 2)(m)) {
      held = m; // the App of "b" is delayed
      return false;
    }
    return true;
  };
  net.propose(1, "b");
  net.propose(1, "c"); // overtakes "b": 2 rejects it (no entry before it)
  assert.ok(net.count((m) => m.type === MessageType.AppResp && m.from === 2 && m.reject) >= 1);
  net.filter = undefined;
  net.send(held!); // the delayed App arrives at last, after the leader already resent
  net.tickAll(2);
  assert.deepEqual(logTerms(net.get(2).node), logTerms(net.get(1).node));
  assert.deepEqual(net.appliedData(2), ["a", "b", "c"]);
});

test("raft - duplicated Apps and acknowledgements change nothing", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  const dup: Message[] = [];
  net.filter = (m) => {
    if (m.type === MessageType.App || m.type === MessageType.AppResp) dup.push(m);
    return true;
  };
  net.propose(1, "a");
  net.propose(1, "b");
  net.filter = undefined;
  for (const m of dup) net.send(m);
  net.tickAll(2);
  for (const id of [1, 2, 3]) assert.deepEqual(net.appliedData(id), ["a", "b"]);
  assert.deepEqual(logTerms(net.get(2).node), logTerms(net.get(1).node));
});

test("raft - committed entries are handed out in pages of maxCommittedSizePerReady, in order", () => {
  const net = new TestNetwork([1, 2, 3], { maxCommittedSizePerReady: 300 });
  net.campaign(1);
  net.isolate(2);
  const pages: number[] = [];
  net.onReady = (id, rd) => {
    if (id === 2 && rd.committedEntries.length > 0) pages.push(rd.committedEntries.length);
  };
  for (let i = 0; i < 10; i++) net.propose(1, `${i}`.padEnd(100, "."));
  net.recover();
  net.tickAll(3);
  assert.deepEqual(net.appliedData(2).map((d) => d.trim().slice(0, 1)), ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  assert.ok(pages.length >= 4, `pages ${pages}`);
  for (const n of pages) assert.ok(n <= 2, `a page of ${n} entries of ~116 bytes`);
});

test("raft - an fsync is required when entries, term or vote change, not for a commit index alone", () => {
  const net = new TestNetwork([1, 2, 3]);
  const syncs: Array<[boolean, boolean]> = []; // [mustSync, only the commit index changed]
  const last = new Map<number, HardState>();
  net.onReady = (id, rd) => {
    const prev = last.get(id) ?? { term: 0, vote: 0, commit: 0 };
    const hs = rd.hardState ?? prev;
    const onlyCommit = rd.entries.length === 0 && rd.snapshot === undefined && hs.term === prev.term && hs.vote === prev.vote;
    syncs.push([rd.mustSync, onlyCommit]);
    last.set(id, hs);
  };
  net.campaign(1);
  net.propose(1, "a");
  for (const [must, onlyCommit] of syncs) if (onlyCommit) assert.equal(must, false);
  assert.ok(syncs.some(([must]) => must), "votes and entries were synced");
  // a vote alone must be synced
  const fresh = new TestNetwork([1, 2, 3]).get(2).node;
  fresh.step(message(MessageType.Vote, 3, 2, 9, { index: 99, logTerm: 99 }));
  const rd = fresh.ready();
  assert.deepEqual(rd.hardState, { term: 9, vote: 3, commit: 0 });
  assert.equal(rd.mustSync, true);
});

test("raft - reportUnreachable sends a streaming follower back to probing", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.propose(1, "a");
  const leader = net.get(1).node;
  assert.equal(leader.status().progress!.get(2)!.state, "replicate");
  leader.reportUnreachable(2);
  assert.equal(leader.status().progress!.get(2)!.state, "probe");
  net.tickAll(2);
  assert.equal(leader.status().progress!.get(2)!.state, "replicate", "back once it answers");
});

/** Apps that carry nothing but the commit index. */
const isEmptyApp = (m: Message) => m.type === MessageType.App && m.entries.length === 0;

test("raft - a commit advance is sent to every follower at once, in an App without entries if need be (etcd)", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  const mark = net.delivered.length;
  net.propose(1, "a");
  assert.deepEqual(net.delivered.slice(mark).filter(isEmptyApp).map((m) => m.to).sort(), [2, 3]);
  for (const id of [2, 3]) assert.deepEqual(net.appliedData(id), ["a"], `follower ${id} applied at once`);
});

test("raft - lazy commit propagation: a commit advance sends no App without entries; the next App carries it", () => {
  const net = new TestNetwork([1, 2, 3], { lazyCommitPropagation: true });
  net.campaign(1);
  net.tickAll(); // the no-op's commit reaches the followers with a heartbeat
  const noop = net.get(1).node.log.committed;
  const mark = net.delivered.length;
  net.propose(1, "a");
  const a = net.get(1).node.log.committed;
  assert.equal(a, noop + 1, "committed on the leader");
  assert.deepEqual(net.delivered.slice(mark).filter(isEmptyApp), [], "no App just to say so");
  for (const id of [2, 3]) {
    assert.equal(net.get(id).node.log.committed, noop, `follower ${id} does not know yet`);
    assert.deepEqual(net.appliedData(id), []);
  }
  net.propose(1, "b");
  assert.deepEqual(net.delivered.slice(mark).filter(isEmptyApp), []);
  for (const id of [2, 3]) {
    assert.equal(net.get(id).node.log.committed, a, `follower ${id} learned it from the App of b`);
    assert.deepEqual(net.appliedData(id), ["a"]);
  }
});

test("raft - lazy commit propagation: an idle follower learns the commit index from the next heartbeat", () => {
  const net = new TestNetwork([1, 2, 3], { lazyCommitPropagation: true }); // heartbeatTick 1
  net.campaign(1);
  net.propose(1, "a");
  assert.deepEqual(net.appliedData(2), []);
  net.tickAll();
  for (const id of [2, 3]) {
    assert.equal(net.get(id).node.log.committed, net.get(1).node.log.committed);
    assert.deepEqual(net.appliedData(id), ["a"], `follower ${id}`);
  }
});

test("raft - lazy commit propagation: a committed conf change reaches the followers at once, and a joint state is left without a heartbeat", () => {
  const net = new TestNetwork([1, 2, 3], { lazyCommitPropagation: true });
  net.join(4);
  net.campaign(1);
  net.propose(1, "a");
  net.get(1).node.proposeConfChange({ changes: [{ type: ConfChangeType.AddLearner, nodeId: 4 }], transition: "auto" });
  net.stabilize();
  for (const id of [2, 3]) assert.deepEqual(net.get(id).node.status().confState.learners, [4], `follower ${id} applied the change`);
  net.get(1).node.proposeConfChange({ changes: [{ type: ConfChangeType.AddNode, nodeId: 4 }, { type: ConfChangeType.RemoveNode, nodeId: 3 }], transition: "auto" });
  net.stabilize();
  for (const id of [1, 2, 4]) {
    const cs = net.get(id).node.status().confState;
    assert.deepEqual([cs.voters, cs.votersOutgoing], [[1, 2, 4], []], `node ${id} entered and left the joint state`);
  }
});
