import { test } from "node:test";
import assert from "node:assert/strict";
import { encode as msgpackEncode } from "@msgpack/msgpack";
import { DecodeError } from "../../protocol/decode-error.js";
import { mutate, onlyDecodeErrors, prng, randInt } from "../../protocol/test-util.js";
import { MetadataImage } from "./metadata-image.js";
import { TestLog, topicId } from "./test-support.js";

/** An image with a bit of everything: racks, endpoints, a fenced broker, configs, a reassignment. */
function busyImage(): MetadataImage {
  const log = new TestLog().brokers([1, 2, 3], { 1: "a", 2: "b", 3: "c" });
  log.ok({ type: "registerBroker", brokerId: 7, incarnation: "seven", endpoints: [{ name: "metrics", url: "http://h:9400" }] });
  log.ok({ type: "createTopic", topic: "orders", topicId: topicId(1), configs: { "retention.ms": "1000", "cleanup.policy": "compact" }, partitions: [
    { partition: 0, replicas: [1, 2] },
    { partition: 1, replicas: [2, 3] },
  ] });
  log.ok({ type: "createTopic", topic: "audit", topicId: topicId(2), configs: {}, partitions: [{ partition: 0, replicas: [3] }] });
  log.ok({ type: "startReassignment", topic: "orders", topicId: topicId(1), partition: 1, target: [3, 1] });
  log.ok({ type: "reassignmentProgress", topic: "orders", topicId: topicId(1), partition: 1, phase: "caughtUp" });
  return log.image;
}

test("image snapshot - restore gives back the same image", () => {
  const image = busyImage();
  const restored = MetadataImage.restore(image.snapshot());
  assert.equal(restored.appliedIndex, image.appliedIndex);
  assert.deepEqual(restored.brokers(), image.brokers());
  assert.deepEqual(restored.topics(), image.topics());
  assert.deepEqual(restored.snapshot(), image.snapshot());
  assert.deepEqual(MetadataImage.restore(MetadataImage.EMPTY.snapshot()).topics(), []);
});

test("image snapshot - a restored image applies the rest of the log exactly as the original", () => {
  const image = busyImage();
  const next = { type: "completeReassignment", topic: "orders", topicId: topicId(1), partition: 1, replicas: [3, 1] } as const;
  const a = image.apply(next, image.appliedIndex + 1);
  const b = MetadataImage.restore(image.snapshot()).apply(next, image.appliedIndex + 1);
  assert.deepEqual(b.events, a.events);
  assert.deepEqual(b.image.snapshot(), a.image.snapshot());
});

test("image snapshot - golden bytes of a small image", () => {
  const log = new TestLog();
  log.ok({ type: "registerBroker", brokerId: 1, incarnation: "i", rack: "a", endpoints: [] });
  log.ok({ type: "unfenceBroker", brokerId: 1, brokerEpoch: 1 });
  log.ok({ type: "createTopic", topic: "t", topicId: topicId(1), configs: { "retention.ms": "5" }, partitions: [{ partition: 0, replicas: [1] }] });
  log.ok({ type: "registerBroker", brokerId: 2, incarnation: "j", endpoints: [] });
  const golden = [
    "95 01 04",                                   // [version 1, appliedIndex 4,
    "92",                                         //  brokers:
    "  97 01 a1 69 01 a1 61 90 c2 c2",            //   [1, "i", epoch 1, "a", [], unfenced, not decommissioned]
    "  97 02 a1 6a 04 c0 90 c3 c2",               //   [2, "j", epoch 4, nil, [], fenced, not decommissioned]
    "91",                                         //  topics:
    `  94 a1 74 d9 24 ${Buffer.from(topicId(1)).toString("hex")}`, // ["t", id,
    "     91 92 ac 726574656e74696f6e2e6d73 a1 35", //  [["retention.ms", "5"]],
    "     91 91 91 01",                           //    [[[1]]]]],
    "00",                                         //  no reassignment throttle]
  ].join(" ");
  assert.equal(Buffer.from(log.image.snapshot()).toString("hex"), golden.replace(/\s+/g, ""));
});

test("image snapshot - a decommissioned broker and the reassignment throttle survive a snapshot; images written before them still read", () => {
  const log = new TestLog().brokers([1, 2]);
  log.ok({ type: "decommissionBroker", brokerId: 2, brokerEpoch: log.image.broker(2)!.epoch });
  log.ok({ type: "setReassignmentThrottle", bytesPerSec: 5_000_000 });
  const back = MetadataImage.restore(log.image.snapshot());
  assert.equal(back.broker(2)?.decommissioned, true);
  assert.equal(back.reassignmentThrottle, 5_000_000);
  const older = MetadataImage.restore(msgpackEncode([1, 3, [[1, "i", 1, null, [], false]], []]));
  assert.equal(older.reassignmentThrottle, 0);
  assert.equal(older.broker(1)?.decommissioned, undefined);
});

test("image snapshot - states apply could never produce are refused", () => {
  const T = topicId(1);
  const cases: [string, unknown[], RegExp][] = [
    ["a newer version", [2, 0, [], []], /version 2 is not one this broker reads/],
    ["a replica on an unregistered broker", [1, 5, [[1, "i", 1, null, [], false]], [["t", T, [], [[[1, 2]]]]]], /broker 2 is not registered/],
    ["brokers out of order", [1, 5, [[2, "i", 1, null, [], false], [1, "i", 2, null, [], false]], []], /broker 1 is out of order/],
    ["an epoch after the applied index", [1, 5, [[1, "i", 6, null, [], false]], []], /epoch 6 is not in \[1, 5\]/],
    ["mixed replication factors", [1, 5, [[1, "i", 1, null, [], false], [2, "j", 2, null, [], false]], [["t", T, [], [[[1, 2]], [[1]]]]]], /partition 1: replication factor differs/],
    ["a topic id used twice", [1, 5, [[1, "i", 1, null, [], false]], [["a", T, [], [[[1]]]], ["b", T, [], [[[1]]]]]], /topic id .* is used twice/],
    ["an unknown config", [1, 5, [[1, "i", 1, null, [], false]], [["a", T, [["colour", "red"]], [[[1]]]]]], /unknown config colour/],
    ["a partition with two fields", [1, 5, [[1, "i", 1, null, [], false]], [["a", T, [], [[[1], [1]]]]]], /2 fields, expected 1 or 3/],
    ["a decommissioned broker that is not fenced", [1, 5, [[1, "i", 1, null, [], false, true]], [], 0], /decommissioned but not fenced/],
  ];
  for (const [what, value, message] of cases) {
    assert.throws(() => MetadataImage.restore(msgpackEncode(value)), (e: unknown) => e instanceof DecodeError && message.test(e.message), what);
  }
});

test("image snapshot - fuzz: damaged snapshots fail only with DecodeError", () => {
  const bytes = busyImage().snapshot();
  for (let seed = 1; seed <= 10_000; seed++) {
    const rand = prng(seed);
    let input = bytes;
    for (let k = 1 + randInt(rand, 3); k > 0; k--) input = mutate(rand, input);
    onlyDecodeErrors(() => MetadataImage.restore(input), input, seed);
  }
});

test("image snapshot - ten thousand partitions snapshot and restore", () => {
  const log = new TestLog().brokers([1, 2, 3, 4, 5]);
  for (let t = 0; t < 10; t++) {
    log.ok({ type: "createTopic", topic: `t${t}`, topicId: topicId(t + 1), configs: {}, partitions: Array.from({ length: 1000 }, (_, p) => ({ partition: p, replicas: [1 + (p % 5), 1 + ((p + 1) % 5), 1 + ((p + 2) % 5)] })) });
  }
  const restored = MetadataImage.restore(log.image.snapshot());
  assert.equal(restored.partitionCount(), 10_000);
  assert.deepEqual(restored.topic("t7")?.partitions[999], { replicas: [5, 1, 2] });
});
