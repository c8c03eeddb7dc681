import { test } from "node:test";
import assert from "node:assert/strict";
import { reconcileReplicas, type LocalReplica } from "./reconcile.js";
import { TestLog, topicId } from "./test-support.js";

const A = topicId(1);
const local = (topic: string, id: string, partition: number): LocalReplica => ({ topic, topicId: id, partition });

test("reconcile - a broker starts the replicas the image gives it, including reassignment targets", () => {
  const log = new TestLog().brokers([1, 2, 3]);
  log.ok({ type: "createTopic", topic: "a", topicId: A, configs: {}, partitions: [{ partition: 0, replicas: [1, 2] }, { partition: 1, replicas: [2, 1] }] });
  log.ok({ type: "startReassignment", topic: "a", topicId: A, partition: 0, target: [2, 3] });
  assert.deepEqual(reconcileReplicas(log.image, 3, []), {
    start: [{ topic: "a", topicId: A, partition: 0, replicas: [1, 2], reassignment: { target: [2, 3], phase: "started" } }],
    keep: [],
    remove: [],
    retire: [],
  });
  const r = reconcileReplicas(log.image, 1, [local("a", A, 1)]);
  assert.deepEqual(r.start.map((h) => h.partition), [0]);
  assert.deepEqual(r.keep.map((h) => h.partition), [1]);
});

test("reconcile - a deleted or re-created topic's replicas are removed; a moved-away replica is only retired", () => {
  const log = new TestLog().brokers([1, 2]);
  log.ok({ type: "createTopic", topic: "a", topicId: A, configs: {}, partitions: [{ partition: 0, replicas: [1] }] });
  log.ok({ type: "createTopic", topic: "b", topicId: topicId(2), configs: {}, partitions: [{ partition: 0, replicas: [1] }] });
  log.ok({ type: "startReassignment", topic: "b", topicId: topicId(2), partition: 0, target: [2] });
  log.ok({ type: "completeReassignment", topic: "b", topicId: topicId(2), partition: 0, replicas: [2] });
  log.ok({ type: "deleteTopic", topic: "a", topicId: A });
  log.ok({ type: "createTopic", topic: "a", topicId: topicId(3), configs: {}, partitions: [{ partition: 0, replicas: [1] }] });
  const r = reconcileReplicas(log.image, 1, [local("a", A, 0), local("b", topicId(2), 0), local("gone", topicId(9), 0)]);
  assert.deepEqual(r.remove, [local("a", A, 0), local("gone", topicId(9), 0)]);
  assert.deepEqual(r.retire, [local("b", topicId(2), 0)]);
  assert.deepEqual(r.start, [{ topic: "a", topicId: topicId(3), partition: 0, replicas: [1] }]);
});
