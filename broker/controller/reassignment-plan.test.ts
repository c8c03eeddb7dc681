import { test } from "node:test";
import assert from "node:assert/strict";
import { FlotillaError } from "../../protocol/errors.js";
import { prng, randInt } from "../../protocol/test-util.js";
import { placeReplicas, type PlacementBroker } from "./placement.js";
import { generateReassignment } from "./reassignment-plan.js";
import type { PlannedReplicas } from "../../protocol/reassignment-plan.js";

const brokers = (...ids: number[]): PlacementBroker[] => ids.map((id) => ({ id }));

function topic(name: string, placement: number[][]): PlannedReplicas[] {
  return placement.map((replicas, partition) => ({ topic: name, partition, replicas }));
}

/** Replicas that must be copied to a broker that did not have them. */
function moves(before: readonly PlannedReplicas[], after: readonly PlannedReplicas[]): number {
  return after.reduce((sum, p, i) => sum + p.replicas.filter((id) => !before[i].replicas.includes(id)).length, 0);
}

/** The fewest moves any even spread over `ids` allows (see reassignment-plan.ts). */
function fewestMoves(current: readonly PlannedReplicas[], ids: readonly number[]): number {
  const total = current.reduce((s, p) => s + p.replicas.length, 0);
  const holding = ids.map((id) => current.filter((p) => p.replicas.includes(id)).length).sort((a, b) => b - a);
  const base = Math.floor(total / ids.length);
  const kept = holding.reduce((s, h, i) => s + Math.min(h, base + (i < total % ids.length ? 1 : 0)), 0);
  return total - kept;
}

function perBroker(plan: readonly PlannedReplicas[], ids: readonly number[]) {
  return {
    replicas: ids.map((id) => plan.filter((p) => p.replicas.includes(id)).length),
    leaders: ids.map((id) => plan.filter((p) => p.replicas[0] === id).length),
  };
}

const spread = (xs: number[]) => Math.max(...xs) - Math.min(...xs);

test("reassignment plan - 12 partitions from brokers 1,2,3 to 2,3,4 move only broker 1's replicas", () => {
  const current = topic("orders", placeReplicas({ brokers: brokers(1, 2, 3), partitions: 12, replicationFactor: 3 }));
  const plan = generateReassignment(current, brokers(2, 3, 4));
  assert.equal(plan.version, 1);
  assert.equal(moves(current, plan.partitions), 12);
  assert.deepEqual(perBroker(plan.partitions, [2, 3, 4]), { replicas: [12, 12, 12], leaders: [4, 4, 4] });
  // Partitions led by 2 or 3 keep their leader: no leadership move where none is needed.
  plan.partitions.forEach((p, i) => {
    if (current[i].replicas[0] !== 1) assert.equal(p.replicas[0], current[i].replicas[0]);
  });
});

test("reassignment plan - adding a fourth broker moves a quarter of the replicas to it", () => {
  const current = topic("orders", placeReplicas({ brokers: brokers(1, 2, 3), partitions: 12, replicationFactor: 3 }));
  const plan = generateReassignment(current, brokers(1, 2, 3, 4));
  assert.equal(moves(current, plan.partitions), 9);
  assert.deepEqual(perBroker(plan.partitions, [1, 2, 3, 4]), { replicas: [9, 9, 9, 9], leaders: [3, 3, 3, 3] });
});

test("reassignment plan - the same brokers again move nothing", () => {
  const current = topic("t", placeReplicas({ brokers: brokers(1, 2, 3, 4, 5), partitions: 30, replicationFactor: 3 }));
  assert.deepEqual(generateReassignment(current, brokers(5, 4, 3, 2, 1)).partitions, current);
});

test("reassignment plan - random clusters: even replicas and leaders, and (nearly always) the fewest possible moves", () => {
  const rand = prng(7);
  const rounds = 3000;
  let aboveBound = 0;
  for (let round = 0; round < rounds; round++) {
    const pool = Array.from({ length: 8 }, (_, i) => i + 1);
    const pick = (k: number) => [...pool].sort(() => rand() - 0.5).slice(0, k).sort((a, b) => a - b);
    const from = pick(2 + randInt(rand, 6));
    const rf = 1 + randInt(rand, from.length);
    const to = pick(Math.max(rf, 1 + randInt(rand, 8)));
    const current = topic("t", placeReplicas({ brokers: brokers(...from), partitions: 1 + randInt(rand, 40), replicationFactor: rf }));
    const plan = generateReassignment(current, brokers(...to)).partitions;
    const what = `round ${round}: ${from} -> ${to}, rf ${rf}, ${current.length} partitions`;
    assert.ok(plan.every((p, i) => p.replicas.length === rf && new Set(p.replicas).size === rf && p.replicas.every((id) => to.includes(id)) && p.partition === current[i].partition), what);
    const c = perBroker(plan, to);
    assert.ok(spread(c.replicas) <= 1, `${what}: replicas ${c.replicas}`);
    assert.ok(spread(c.leaders) <= 1, `${what}: leaders ${c.leaders}`);
    // The bound counts replicas, not which partition they are in; a few high-RF layouts cannot
    // reach it without a broker taking two replicas of one partition, and then cost a move more.
    const excess = moves(current, plan) - fewestMoves(current, to);
    assert.ok(excess >= 0 && excess <= 1, `${what}: ${excess} moves above the bound`);
    aboveBound += excess;
  }
  assert.ok(aboveBound <= rounds / 200, `${aboveBound} of ${rounds} plans took a move more than the bound`);
});

test("reassignment plan - 1,000 partitions RF 3 from 3 brokers to 5: even, and only the unavoidable moves", () => {
  const current = topic("big", placeReplicas({ brokers: brokers(1, 2, 3), partitions: 1000, replicationFactor: 3 }));
  const plan = generateReassignment(current, brokers(1, 2, 3, 4, 5)).partitions;
  assert.equal(moves(current, plan), 1200, "brokers 4 and 5 get 600 replicas each, nothing else moves");
  assert.deepEqual(perBroker(plan, [1, 2, 3, 4, 5]), { replicas: [600, 600, 600, 600, 600], leaders: [200, 200, 200, 200, 200] });
});

test("reassignment plan - new replicas go to racks the partition is not on yet", () => {
  // Everything on rack a today; rack b joins. Every partition ends up on both racks.
  const current = topic("t", [[1, 2], [1, 2], [1, 2], [1, 2]]);
  const racked = [{ id: 1, rack: "a" }, { id: 2, rack: "a" }, { id: 3, rack: "b" }, { id: 4, rack: "b" }];
  const plan = generateReassignment(current, racked).partitions;
  for (const p of plan) assert.deepEqual(new Set(p.replicas.map((id) => racked.find((b) => b.id === id)?.rack)), new Set(["a", "b"]), `${p.replicas}`);
  assert.equal(moves(current, plan), 4);
});

test("reassignment plan - fewer target brokers than a partition's replicas is refused", () => {
  const current = topic("t", [[1, 2, 3]]);
  assert.throws(() => generateReassignment(current, brokers(1, 2)), (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_REPLICATION_FACTOR");
  assert.throws(() => generateReassignment(current, brokers(1, 2, 2)), (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_REQUEST");
});
