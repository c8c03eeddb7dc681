import assert from "node:assert/strict";
import { test } from "node:test";
import { TestLog, topicId } from "../controller/test-support.js";
import { answerAdminWrite, type ControllerAdminContext } from "./controller-admin.js";
import type { LeaderMoveOrder } from "./controller-messages.js";

test("controller admin - a leader transfer reaches the real leader even when the heartbeat view is stale", async () => {
  const log = new TestLog().brokers([1, 2, 3]);
  log.ok({ type: "createTopic", topic: "t", topicId: topicId(1), configs: {}, partitions: [{ partition: 0, replicas: [1, 2, 3] }] });
  const orders: Array<[number, LeaderMoveOrder]> = [];
  const ctx: ControllerAdminContext = {
    get image() {
      return log.image;
    },
    propose: async (record) => ({ index: log.image.appliedIndex + 1, result: log.apply(record) }),
    // Broker 2 led a moment ago and its heartbeat still says so; broker 3 leads now.
    leaderOf: () => 2,
    orderMove: (leader, move) => orders.push([leader, move]),
  };
  await answerAdminWrite({ type: "transferLeader", request: { topic: "t", partition: 0, to: 2 } }, ctx);
  assert.deepEqual(orders, [[1, ["t", 0, 2]], [3, ["t", 0, 2]]]);
  assert.equal(log.image.topic("t")?.partitions[0].replicas[0], 2, "the new leader is the preferred one too");
});

function context(log: TestLog): ControllerAdminContext {
  return {
    get image() {
      return log.image;
    },
    propose: async (record) => ({ index: log.image.appliedIndex + 1, result: log.apply(record) }),
    leaderOf: () => undefined,
    orderMove: () => undefined,
  };
}

test("controller admin - decommission moves every replica off the broker, then fences it for good once it hosts nothing", async () => {
  const log = new TestLog().brokers([1, 2, 3, 4]);
  const T = topicId(1);
  log.ok({ type: "createTopic", topic: "t", topicId: T, configs: {}, partitions: [0, 1, 2, 3].map((partition) => ({ partition, replicas: [1 + partition, ((partition + 1) % 4) + 1] })) });
  const ctx = context(log);
  await answerAdminWrite({ type: "decommissionBroker", request: { brokerId: 4 } }, ctx);
  const moving = log.image.topic("t")!.partitions.filter((p) => p.reassignment);
  assert.ok(moving.length > 0 && moving.every((p) => !p.reassignment!.target.includes(4)), "every partition on broker 4 moves off it");
  assert.equal(log.image.broker(4)?.decommissioned, undefined, "not fenced while it still hosts replicas");
  log.image.topic("t")!.partitions.forEach((p, partition) => {
    if (p.reassignment) log.ok({ type: "completeReassignment", topic: "t", topicId: T, partition, replicas: p.reassignment.target });
  });
  await answerAdminWrite({ type: "decommissionBroker", request: { brokerId: 4 } }, ctx);
  assert.deepEqual([log.image.broker(4)?.fenced, log.image.broker(4)?.decommissioned], [true, true]);
});

test("controller admin - executing a plan sets the reassignment throttle (none given: no cap)", async () => {
  const log = new TestLog().brokers([1, 2]);
  log.ok({ type: "createTopic", topic: "t", topicId: topicId(1), configs: {}, partitions: [{ partition: 0, replicas: [1] }] });
  const ctx = context(log);
  await answerAdminWrite({ type: "reassignPartitions", request: { partitions: [{ topic: "t", partition: 0, replicas: [2] }], throttleBytesPerSec: 5_000_000 } }, ctx);
  assert.equal(log.image.reassignmentThrottle, 5_000_000);
  assert.deepEqual(log.image.topic("t")?.partitions[0].reassignment?.target, [2]);
  await answerAdminWrite({ type: "reassignPartitions", request: { partitions: [{ topic: "t", partition: 0, replicas: [2] }] } }, ctx);
  assert.equal(log.image.reassignmentThrottle, 0);
});
