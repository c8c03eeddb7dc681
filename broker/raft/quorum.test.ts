// Quorum arithmetic checked against a naive reference on random inputs: the reference says what
// a majority means in the plainest way (count, or try every way the missing votes could go).
import { test } from "node:test";
import assert from "node:assert/strict";
import { VoteResult, jointCommitted, jointVoteResult, majorityCommitted, majorityVoteResult } from "./quorum.js";

/** A small deterministic PRNG (LCG) so that a failure is reproducible from its seed. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

function randomIds(r: (n: number) => number, max: number): Set<number> {
  const ids = new Set<number>();
  const n = r(max + 1);
  // ids from a small universe so the two halves of a joint config overlap often
  while (ids.size < n) ids.add(1 + r(7));
  return ids;
}

/** The largest i such that a majority of `voters` acked ≥ i (empty config: anything). */
function naiveCommitted(voters: Set<number>, acked: Map<number, number>): number {
  if (voters.size === 0) return Number.MAX_SAFE_INTEGER;
  const candidates = [0, ...[...voters].map((id) => acked.get(id) ?? 0)];
  let best = 0;
  for (const i of candidates) {
    let n = 0;
    for (const id of voters) if ((acked.get(id) ?? 0) >= i) n++;
    if (n > voters.size / 2 && i > best) best = i;
  }
  return best;
}

/** Whether `votes` (missing = no) make a majority of `voters`. */
const wins = (voters: Set<number>, votes: Map<number, boolean>): boolean => {
  let yes = 0;
  for (const id of voters) if (votes.get(id) === true) yes++;
  return voters.size === 0 || yes > voters.size / 2;
};

/**
 * Won if the election is won whatever the missing voters say, lost if no answer of theirs could
 * win it, pending otherwise: tries every completion of the missing votes.
 */
function naiveVoteResult(halves: Set<number>[], votes: Map<number, boolean>): VoteResult {
  const all = new Set<number>();
  for (const h of halves) for (const id of h) all.add(id);
  const missing = [...all].filter((id) => !votes.has(id));
  let anyWin = false;
  let allWin = true;
  for (let mask = 0; mask < 1 << missing.length; mask++) {
    const v = new Map(votes);
    missing.forEach((id, b) => v.set(id, (mask & (1 << b)) !== 0));
    const w = halves.every((h) => wins(h, v));
    anyWin ||= w;
    allWin &&= w;
  }
  return allWin ? VoteResult.Won : anyWin ? VoteResult.Pending : VoteResult.Lost;
}

function randomAcks(r: (n: number) => number): Map<number, number> {
  const acked = new Map<number, number>();
  for (let id = 1; id <= 7; id++) if (r(5) > 0) acked.set(id, r(10));
  return acked;
}

function randomVotes(r: (n: number) => number): Map<number, boolean> {
  const votes = new Map<number, boolean>();
  for (let id = 1; id <= 8; id++) {
    const k = r(3);
    if (k === 1) votes.set(id, true);
    else if (k === 2) votes.set(id, false);
  }
  return votes;
}

test("raft - majority committed index is the highest index a majority acknowledged (random, vs naive)", () => {
  const r = rng(1);
  for (let i = 0; i < 3000; i++) {
    const voters = randomIds(r, 7);
    const acked = randomAcks(r);
    assert.equal(majorityCommitted(voters, (id) => acked.get(id)), naiveCommitted(voters, acked), `voters ${[...voters]} acked ${[...acked]}`);
  }
});

test("raft - joint committed index needs a majority of both halves (random, vs naive)", () => {
  const r = rng(2);
  for (let i = 0; i < 3000; i++) {
    const incoming = randomIds(r, 5);
    const outgoing = randomIds(r, 5);
    const acked = randomAcks(r);
    const got = jointCommitted(incoming, outgoing, (id) => acked.get(id));
    const want = Math.min(naiveCommitted(incoming, acked), naiveCommitted(outgoing, acked));
    assert.equal(got, want, `in ${[...incoming]} out ${[...outgoing]} acked ${[...acked]}`);
    // A joint config with an empty outgoing half is its incoming half alone.
    assert.equal(jointCommitted(incoming, new Set(), (id) => acked.get(id)), majorityCommitted(incoming, (id) => acked.get(id)));
  }
});

test("raft - majority vote result: won, lost or pending whatever the missing votes (random, vs naive)", () => {
  const r = rng(3);
  for (let i = 0; i < 3000; i++) {
    const voters = randomIds(r, 7);
    const votes = randomVotes(r);
    assert.equal(majorityVoteResult(voters, votes), naiveVoteResult([voters], votes), `voters ${[...voters]} votes ${[...votes]}`);
  }
});

test("raft - joint vote result needs both halves (random, vs naive)", () => {
  const r = rng(4);
  for (let i = 0; i < 3000; i++) {
    const incoming = randomIds(r, 5);
    const outgoing = randomIds(r, 5);
    const votes = randomVotes(r);
    assert.equal(
      jointVoteResult(incoming, outgoing, votes),
      naiveVoteResult([incoming, outgoing], votes),
      `in ${[...incoming]} out ${[...outgoing]} votes ${[...votes]}`,
    );
  }
});

test("raft - quorum edge cases: votes from non-voters do not count; even sizes need more than half", () => {
  const four = new Set([1, 2, 3, 4]);
  // 2 of 4 is not a majority
  assert.equal(majorityVoteResult(four, new Map([[1, true], [2, true], [3, false], [4, false]])), VoteResult.Lost);
  assert.equal(majorityVoteResult(four, new Map([[1, true], [2, true]])), VoteResult.Pending);
  assert.equal(majorityVoteResult(four, new Map([[1, true], [2, true], [3, true]])), VoteResult.Won);
  // a learner's (non-voter's) yes is ignored
  assert.equal(majorityVoteResult(new Set([1, 2, 3]), new Map([[1, true], [9, true], [2, false], [3, false]])), VoteResult.Lost);
  // committed index of 4 voters: the 3rd highest
  const acked = new Map([[1, 9], [2, 7], [3, 5], [4, 1]]);
  assert.equal(majorityCommitted(four, (id) => acked.get(id)), 5);
  // an unknown voter counts as 0
  assert.equal(majorityCommitted(new Set([1, 2, 8]), (id) => acked.get(id)), 7);
  assert.equal(majorityCommitted(new Set([1, 8, 9]), (id) => acked.get(id)), 0);
});
