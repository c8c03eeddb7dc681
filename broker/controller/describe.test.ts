import { test } from "node:test";
import assert from "node:assert/strict";
import { FlotillaError } from "../../protocol/errors.js";
import { describeCluster, describeTopic, type PartitionRuntime } from "./describe.js";
import { TestLog, topicId } from "./test-support.js";

/** bigint as the decimal strings CONTRACTS.md's --json output uses. */
const json = (v: unknown) => JSON.parse(JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x)));

function cluster() {
  const log = new TestLog().brokers([1, 2, 3]);
  log.ok({ type: "createTopic", topic: "t", topicId: topicId(1), configs: { "retention.ms": "1000" }, partitions: [
    { partition: 0, replicas: [1, 2, 3] },
    { partition: 1, replicas: [2, 3, 1] },
  ] });
  log.ok({ type: "startReassignment", topic: "t", topicId: topicId(1), partition: 1, target: [2, 3, 1].reverse() });
  return log.image;
}

const runtime: Record<number, PartitionRuntime> = {
  0: { leader: 1, highWatermark: 42n, logStartOffset: 0n },
  1: { highWatermark: 2n ** 60n, logStartOffset: 7n, isr: [2] },
};

test("describe - topic describe has the contract's fields, with offsets as bigint", () => {
  const d = describeTopic(cluster(), "t", { partition: (_, p) => runtime[p], isAlive: () => true });
  assert.deepEqual(json(d), {
    topic: "t",
    topicId: topicId(1),
    configs: { "retention.ms": "1000" },
    partitions: [
      { partition: 0, leader: 1, replicas: [1, 2, 3], isr: [1, 2, 3], highWatermark: "42", logStartOffset: "0" },
      { partition: 1, replicas: [2, 3, 1], isr: [2], highWatermark: "1152921504606846976", logStartOffset: "7", reassignment: { target: [1, 3, 2], phase: "started" } },
    ],
  });
  assert.equal(d.partitions[0].highWatermark, 42n);
  assert.throws(() => describeTopic(cluster(), "nope", { partition: (_, p) => runtime[p], isAlive: () => true }), (e: unknown) => e instanceof FlotillaError && e.code === "UNKNOWN_TOPIC");
});

test("describe - cluster describe counts brokers, leaders and under-replicated partitions", () => {
  const image = cluster();
  const d = describeCluster(image, { controllerLeader: 2, isAlive: (id) => id !== 3, partition: (_, p) => runtime[p] });
  assert.deepEqual(json(d), {
    controllerLeader: 2,
    brokers: [
      { id: 1, alive: true, fenced: false, epoch: image.broker(1)?.epoch, replicas: 2, leaders: 1, preferredLeaders: 1 },
      { id: 2, alive: true, fenced: false, epoch: image.broker(2)?.epoch, replicas: 2, leaders: 0, preferredLeaders: 1 },
      { id: 3, alive: false, fenced: false, epoch: image.broker(3)?.epoch, replicas: 2, leaders: 0, preferredLeaders: 0 },
    ],
    topics: 1,
    partitions: 2,
    // Partition 0: no isr reported, and broker 3 is not alive. Partition 1: isr [2] of three.
    underReplicated: 2,
    offline: 1,
  });
  const noController = describeCluster(image, { isAlive: () => true, partition: () => ({ leader: 1, highWatermark: 0n, logStartOffset: 0n }) });
  assert.equal("controllerLeader" in noController, false);
  assert.equal(noController.underReplicated, 0);
});
