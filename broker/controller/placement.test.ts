import { test } from "node:test";
import assert from "node:assert/strict";
import { FlotillaError } from "../../protocol/errors.js";
import { brokerLoads, placeReplicas, type PlacementBroker } from "./placement.js";
import { TestLog, topicId } from "./test-support.js";

const brokers = (...ids: number[]): PlacementBroker[] => ids.map((id) => ({ id }));

/** Replicas and preferred leaders per broker. */
function counts(placement: number[][], ids: readonly number[]): { replicas: number[]; leaders: number[] } {
  return {
    replicas: ids.map((id) => placement.filter((r) => r.includes(id)).length),
    leaders: ids.map((id) => placement.filter((r) => r[0] === id).length),
  };
}

const spread = (xs: number[]) => Math.max(...xs) - Math.min(...xs);

for (const n of [3, 5]) {
  test(`placement - 1,000 partitions RF 3 on ${n} brokers: replicas and preferred leaders per broker differ by at most 1`, () => {
    const ids = Array.from({ length: n }, (_, i) => i + 1);
    const placement = placeReplicas({ brokers: brokers(...ids), partitions: 1000, replicationFactor: 3 });
    assert.equal(placement.length, 1000);
    for (const r of placement) assert.equal(new Set(r).size, 3);
    const c = counts(placement, ids);
    assert.ok(spread(c.replicas) <= 1, `replicas ${c.replicas}`);
    assert.ok(spread(c.leaders) <= 1, `leaders ${c.leaders}`);
  });
}

test("placement - even for every broker count, replication factor and partition count", () => {
  for (let n = 1; n <= 9; n++) {
    const ids = Array.from({ length: n }, (_, i) => 10 + i * 3);
    for (let rf = 1; rf <= n; rf++) {
      for (let partitions = 1; partitions <= 60; partitions++) {
        const placement = placeReplicas({ brokers: brokers(...ids), partitions, replicationFactor: rf });
        const c = counts(placement, ids);
        const what = `n=${n} rf=${rf} partitions=${partitions}`;
        assert.ok(placement.every((r) => r.length === rf && new Set(r).size === rf), what);
        assert.ok(spread(c.replicas) <= 1, `${what}: replicas ${c.replicas}`);
        assert.ok(spread(c.leaders) <= 1, `${what}: leaders ${c.leaders}`);
      }
    }
  }
});

test("placement - is deterministic and uses only the brokers it is given", () => {
  const req = { brokers: brokers(7, 3, 5), partitions: 12, replicationFactor: 2 };
  assert.deepEqual(placeReplicas(req), placeReplicas({ ...req, brokers: brokers(3, 5, 7) }));
  assert.deepEqual(new Set(placeReplicas(req).flat()), new Set([3, 5, 7]));
});

test("placement - topic after topic, leadership goes to the brokers that lead least", () => {
  const log = new TestLog().brokers([1, 2, 3, 4, 5]);
  for (let t = 0; t < 10; t++) {
    const replicas = placeReplicas({ brokers: log.image.unfencedBrokers(), partitions: 1, replicationFactor: 3, load: brokerLoads(log.image) });
    log.ok({ type: "createTopic", topic: `t${t}`, topicId: topicId(t + 1), configs: {}, partitions: [{ partition: 0, replicas: replicas[0] }] });
  }
  const loads = brokerLoads(log.image);
  assert.deepEqual([...loads.values()].map((l) => l.leaders), [2, 2, 2, 2, 2]);
  assert.ok(spread([...loads.values()].map((l) => l.replicas)) <= 1);
});

test("placement - with racks, a partition spans as many racks as it can, and stays even on equal racks", () => {
  const racked = [1, 2, 3, 4, 5, 6].map((id) => ({ id, rack: ["a", "b", "c"][(id - 1) % 3] }));
  const rackOf = (id: number) => racked.find((b) => b.id === id)?.rack;
  for (let partitions = 1; partitions <= 30; partitions++) {
    const placement = placeReplicas({ brokers: racked, partitions, replicationFactor: 3 });
    for (const r of placement) assert.equal(new Set(r.map(rackOf)).size, 3, `partitions=${partitions}: ${r}`);
    const c = counts(placement, [1, 2, 3, 4, 5, 6]);
    assert.ok(spread(c.replicas) <= 1 && spread(c.leaders) <= 1, `partitions=${partitions}: ${JSON.stringify(c)}`);
  }
  // Unequal racks: a has three brokers, b and c one each. Every partition still spans all three.
  const uneven = [{ id: 1, rack: "a" }, { id: 2, rack: "a" }, { id: 3, rack: "a" }, { id: 4, rack: "b" }, { id: 5, rack: "c" }];
  for (const r of placeReplicas({ brokers: uneven, partitions: 20, replicationFactor: 3 })) {
    assert.equal(new Set(r.map((id) => uneven.find((b) => b.id === id)?.rack)).size, 3, `${r}`);
  }
});

test("placement - racks are ignored unless every broker has one", () => {
  const mixed = [{ id: 1, rack: "a" }, { id: 2, rack: "a" }, { id: 3 }];
  assert.deepEqual(placeReplicas({ brokers: mixed, partitions: 3, replicationFactor: 2 }), placeReplicas({ brokers: brokers(1, 2, 3), partitions: 3, replicationFactor: 2 }));
});

test("placement - more replicas than brokers is refused with INVALID_REPLICATION_FACTOR", () => {
  assert.throws(
    () => placeReplicas({ brokers: brokers(1, 2), partitions: 1, replicationFactor: 3 }),
    (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_REPLICATION_FACTOR",
  );
  assert.throws(() => placeReplicas({ brokers: brokers(1, 2), partitions: 1, replicationFactor: 0 }), FlotillaError);
});
