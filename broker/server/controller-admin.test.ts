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
