// Seeded random runs over the test network (partitions, message loss, restarts, transfers, reads):
// the Raft safety properties (§5.2 election safety, §5.3 log matching, §5.4.3 state machine
// safety) must hold after every step, and the group must recover once the faults stop.
// A small cousin of the simulator (broker/sim), to catch a regression while editing the core.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageType, type Entry } from "../../protocol/raft.js";
import { TestNetwork } from "./test-network.js";
import type { RaftConfig } from "./types.js";

function rng(seed: number): (n: number) => number {
  let s = (seed * 2654435761) >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

const same = (a: Entry, b: Entry) =>
  a.index === b.index && a.term === b.term && a.type === b.type && Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) === 0;

function run(seed: number, overrides: Partial<RaftConfig>, steps: number): void {
  const r = rng(seed);
  const ids = [1, 2, 3, 4, 5];
  const net = new TestNetwork(ids, overrides);
  const leaders = new Map<number, number>(); // term -> leader
  net.onReady = (id, rd) => {
    if (rd.softState?.role !== "leader") return;
    const term = net.get(id).node.status().hardState.term;
    const prev = leaders.get(term);
    assert.ok(prev === undefined || prev === id, `seed ${seed}: two leaders in term ${term}: ${prev} and ${id}`);
    leaders.set(term, id);
  };
  let lossy = false;
  net.filter = () => !lossy || r(100) >= 10;
  let proposed = 0;
  const check = (when: string) => {
    // state machine safety: what any two nodes applied agrees entry by entry
    const logs = ids.map((id) => net.get(id).applied);
    const longest = logs.reduce((a, b) => (a.length >= b.length ? a : b));
    for (const [i, l] of logs.entries()) {
      for (let k = 0; k < l.length; k++) {
        assert.ok(same(l[k], longest[k]), `seed ${seed} ${when}: node ${ids[i]} applied ${l[k].index}@${l[k].term}, another ${longest[k]?.index}@${longest[k]?.term}`);
      }
    }
    // log matching: same index and term means same entries up to there (checked on the last common entry)
    for (const a of ids) {
      for (const b of ids) {
        if (a >= b) continue;
        const la = net.get(a).node.log;
        const lb = net.get(b).node.log;
        const hi = Math.min(la.lastIndex(), lb.lastIndex());
        const lo = Math.max(la.firstIndex(), lb.firstIndex());
        for (let i = hi; i >= lo; i--) {
          if (la.term(i) !== undefined && la.term(i) === lb.term(i)) {
            const ea = la.slice(lo, i + 1);
            const eb = lb.slice(lo, i + 1);
            assert.equal(ea.length, eb.length);
            for (let k = 0; k < ea.length; k++) assert.ok(same(ea[k], eb[k]), `seed ${seed} ${when}: logs of ${a} and ${b} match at ${i} but differ at ${ea[k].index}`);
            break;
          }
        }
      }
    }
  };
  for (let step = 0; step < steps; step++) {
    const op = r(100);
    const lead = net.leader();
    try {
      if (op < 8) net.cutLink(1 + r(5), 1 + r(5));
      else if (op < 12) net.isolate(1 + r(5));
      else if (op < 22) net.recover();
      else if (op < 25) net.restart(1 + r(5));
      else if (op < 28) lossy = !lossy;
      else if (op < 55 && lead !== 0) net.get(lead).node.propose(new TextEncoder().encode(`s${seed}-${proposed++}`));
      else if (op < 58 && lead !== 0) net.get(lead).node.transferLeader(1 + r(5));
      else if (op < 62 && lead !== 0) net.get(lead).node.readIndex(new TextEncoder().encode(`r${step}`));
    } catch (e) {
      if (!(e instanceof Error && e.name === "ProposalDroppedError")) throw e;
    }
    net.stabilize();
    net.tickAll();
    if (step % 5 === 4) check(`step ${step}`);
  }
  // heal: within a few election timeouts a leader of the newest term stands (a stale leader cut
  // off at an older term may still think it leads), and a proposal commits on every node
  net.recover();
  lossy = false;
  const current = () => {
    const top = Math.max(...ids.map((id) => net.get(id).node.status().hardState.term));
    return ids.find((id) => {
      const st = net.get(id).node.status();
      return st.softState.role === "leader" && st.hardState.term === top;
    });
  };
  const final = `final-${seed}`;
  const triedIn = new Set<number>();
  let t = 0;
  for (; t < 150 && !ids.every((id) => net.appliedData(id).includes(final)); t++) {
    const lead = current();
    const term = lead === undefined ? 0 : net.get(lead).node.status().hardState.term;
    if (lead !== undefined && !triedIn.has(term)) {
      try {
        net.propose(lead, final);
        triedIn.add(term);
      } catch (e) {
        if (!(e instanceof Error && e.name === "ProposalDroppedError")) throw e; // a transfer under way
      }
    }
    net.tickAll();
  }
  assert.ok(t < 150, `seed ${seed}: no proposal committed everywhere within 150 ticks after healing`);
  check("after healing");
  assert.ok(leaders.size > 1, "the run had several terms");
  assert.ok(net.count((m) => m.type === MessageType.AppResp) > 0);
}

/** Seeds per configuration: a few in the unit suite; set RAFT_RANDOM_SEEDS=1000 to hunt. */
const SEEDS = Number(process.env.RAFT_RANDOM_SEEDS ?? 8);

test("raft - random partitions, loss, restarts and transfers keep election safety, log matching and state machine safety (pre-vote, check-quorum)", () => {
  for (let seed = 1; seed <= SEEDS; seed++) run(seed, {}, 200);
});

test("raft - random partitions, loss, restarts and transfers keep the safety properties (no pre-vote, no check-quorum)", () => {
  for (let seed = 1; seed <= SEEDS; seed++) run(100_000 + seed, { preVote: false, checkQuorum: false }, 200);
});

test("raft - random faults with small windows, small messages and lease reads keep the safety properties", () => {
  for (let seed = 1; seed <= SEEDS; seed++) run(200_000 + seed, { maxInflightMsgs: 2, maxSizePerMsg: 1, leaseRead: true }, 200);
});
