import { test } from "node:test";
import assert from "node:assert/strict";
import { FlotillaError } from "../../protocol/errors.js";
import type { TopicPartitions } from "../../protocol/requests.js";
import { ConsumerGroup } from "./consumer-group.js";
import { fromTopicPartitions, type PartitionKey } from "./partition-key.js";

const counts = (t: string): number | undefined => (t === "orders" ? 6 : undefined);
const join = (g: ConsumerGroup, memberId: string, now = 0) =>
  g.join({ memberId, clientId: "app", topics: ["orders"], sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 20_000 }, now);
const keys = (tps: TopicPartitions[]): PartitionKey[] => [...fromTopicPartitions(tps)].sort();

/** Each member heartbeats reporting what it was last given, until nothing changes; returns who holds what. */
function settle(g: ConsumerGroup, ids: string[], now = 0): Map<string, PartitionKey[]> {
  const held = new Map<string, PartitionKey[]>(ids.map((id) => [id, []]));
  for (let round = 0; round < 10; round++) {
    for (const id of ids) held.set(id, keys(g.heartbeat(id, new Set(held.get(id)), now, true)));
  }
  return held;
}

test("consumer group - a partition moves only after its old owner reported giving it up (revoke before assign)", () => {
  const g = new ConsumerGroup("billing", counts);
  join(g, "a");
  const aFirst = keys(g.heartbeat("a", new Set(), 0, true));
  assert.equal(aFirst.length, 6);
  join(g, "b");
  // b's target has three partitions, but a still owns them all: b gets nothing yet.
  assert.deepEqual(keys(g.heartbeat("b", new Set(), 0, true)), []);
  assert.equal(g.state(), "rebalancing");
  // a's answer leaves out the three it must give up; it still reports owning them (finishing, committing).
  const aKeeps = keys(g.heartbeat("a", new Set(aFirst), 0, true));
  assert.equal(aKeeps.length, 3);
  assert.deepEqual(keys(g.heartbeat("b", new Set(), 0, true)), [], "still owned by a");
  // a reports only what it keeps: now b gets the rest.
  g.heartbeat("a", new Set(aKeeps), 0, true);
  const bGot = keys(g.heartbeat("b", new Set(), 0, true));
  assert.deepEqual([...aKeeps, ...bGot].sort(), aFirst);
  g.heartbeat("b", new Set(bGot), 0, true);
  assert.equal(g.state(), "stable");
});

test("consumer group - a member that stops heartbeating is removed after its session timeout; its partitions go to the others at once", () => {
  const g = new ConsumerGroup("billing", counts);
  for (const id of ["a", "b", "c"]) join(g, id);
  const held = settle(g, ["a", "b", "c"]);
  assert.deepEqual([...held.values()].map((h) => h.length), [2, 2, 2]);
  assert.deepEqual(g.expire(9_000), []);
  g.heartbeat("a", new Set(held.get("a")), 9_000, true);
  g.heartbeat("b", new Set(held.get("b")), 9_000, true);
  assert.deepEqual(g.expire(10_001), ["c"]);
  const after = settle(g, ["a", "b"], 10_001);
  assert.deepEqual([...after.values()].map((h) => h.length), [3, 3]);
  for (const id of ["a", "b"]) for (const k of held.get(id)!) assert.ok(after.get(id)!.includes(k), `${id} kept ${k}`);
  assert.throws(() => g.heartbeat("c", new Set(), 10_002, true), (e: FlotillaError) => e.code === "UNKNOWN_MEMBER");
});

test("consumer group - a member that does not give up a partition within its rebalance timeout is removed", () => {
  const g = new ConsumerGroup("billing", counts);
  join(g, "a");
  const all = keys(g.heartbeat("a", new Set(), 0, true));
  join(g, "b", 0);
  g.heartbeat("a", new Set(all), 1_000, true);
  for (let t = 2_000; t <= 21_000; t += 1_000) {
    g.heartbeat("a", new Set(all), t, true);
    g.heartbeat("b", new Set(), t, true);
  }
  assert.deepEqual(g.expire(21_001), ["a"]);
  assert.equal(keys(g.heartbeat("b", new Set(), 21_002, true)).length, 6);
});

test("consumer group - without the right to grant, nothing new is handed out", () => {
  const g = new ConsumerGroup("billing", counts);
  join(g, "a");
  assert.deepEqual(keys(g.heartbeat("a", new Set(), 0, false)), []);
  assert.equal(keys(g.heartbeat("a", new Set(), 0, true)).length, 6);
});

test("consumer group - a member reporting a partition it was never given does not come to own it", () => {
  const g = new ConsumerGroup("billing", counts);
  join(g, "a");
  join(g, "b");
  const held = settle(g, ["a", "b"]);
  const stolen = held.get("b")![0];
  g.heartbeat("a", new Set([...held.get("a")!, stolen]), 0, true);
  assert.equal(g.holderOf(stolen), "b");
});

test("consumer group - leaving rebalances and the generation moves; a topic growing is noticed on the next heartbeat", () => {
  let n = 2;
  const g = new ConsumerGroup("billing", (t) => (t === "orders" ? n : undefined));
  join(g, "a");
  join(g, "b");
  settle(g, ["a", "b"]);
  const gen = g.generation;
  n = 4;
  const held = settle(g, ["a", "b"]);
  assert.deepEqual([...held.values()].map((h) => h.length), [2, 2]);
  assert.ok(g.generation > gen);
  assert.ok(g.leave("b"));
  assert.equal(settle(g, ["a"]).get("a")!.length, 4);
  assert.ok(!g.leave("b"));
});
