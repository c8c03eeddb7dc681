import { test } from "node:test";
import assert from "node:assert/strict";
import { FlotillaError, type ErrorCodeName } from "../../protocol/errors.js";
import {
  planCancelReassignment,
  planCreateTopic,
  planDeleteTopic,
  planExecuteReassignment,
  planGenerateReassignment,
  planPreferredLeader,
  planReassignmentReport,
  planRegisterBroker,
  planUnregisterBroker,
  preferredLeaderMoves,
  verifyReassignment,
} from "./controller.js";
import { brokerLoads } from "./placement.js";
import { TestLog, topicId } from "./test-support.js";

function refusedWith(code: ErrorCodeName, message?: RegExp) {
  return (e: unknown) => e instanceof FlotillaError && e.code === code && (message === undefined || message.test(e.message));
}

const T1 = topicId(1);

test("controller - creating a topic places its replicas evenly over the unfenced brokers", () => {
  const log = new TestLog().brokers([1, 2, 3, 4]);
  log.ok({ type: "fenceBroker", brokerId: 4, brokerEpoch: log.image.broker(4)?.epoch as number });
  const record = planCreateTopic(log.image, { topic: "orders", partitions: 6, replicationFactor: 3, configs: { "retention.ms": "604800000" } }, T1);
  assert.equal(record.partitions.length, 6);
  assert.ok(record.partitions.every((p) => p.replicas.length === 3 && !p.replicas.includes(4)));
  assert.deepEqual(record.configs, { "retention.ms": "604800000" });
  log.ok(record);
  assert.deepEqual([...brokerLoads(log.image).values()].map((l) => l.leaders), [2, 2, 2, 0]);
});

test("controller - creating an existing topic is refused with TOPIC_EXISTS", () => {
  const log = new TestLog().brokers([1]);
  log.ok(planCreateTopic(log.image, { topic: "orders", partitions: 1, replicationFactor: 1 }, T1));
  assert.throws(() => planCreateTopic(log.image, { topic: "orders", partitions: 1, replicationFactor: 1 }, topicId(2)), refusedWith("TOPIC_EXISTS"));
});

test("controller - a replication factor the live brokers cannot hold is refused with INVALID_REPLICATION_FACTOR", () => {
  const log = new TestLog().brokers([1, 2]);
  log.ok({ type: "registerBroker", brokerId: 3, incarnation: "x", endpoints: [] }); // registered, still fenced
  assert.throws(() => planCreateTopic(log.image, { topic: "t", partitions: 1, replicationFactor: 3 }, T1), refusedWith("INVALID_REPLICATION_FACTOR", /from 1 to the 2 live unfenced brokers, got 3/));
  assert.throws(() => planCreateTopic(log.image, { topic: "t", partitions: 1, replicationFactor: 0 }, T1), refusedWith("INVALID_REPLICATION_FACTOR"));
  assert.throws(() => planCreateTopic(log.image, { topic: "t", partitions: 1, replicationFactor: 1.5 }, T1), refusedWith("INVALID_REPLICATION_FACTOR"));
});

test("controller - bad topic names, partition counts and configs get their own codes", () => {
  const log = new TestLog().brokers([1, 2, 3]);
  const create = (topic: string, partitions: number, configs: Record<string, string> = {}) => () =>
    planCreateTopic(log.image, { topic, partitions, replicationFactor: 3, configs }, T1);
  assert.throws(create("no spaces", 1), refusedWith("INVALID_TOPIC"));
  assert.throws(create("x".repeat(250), 1), refusedWith("INVALID_TOPIC"));
  assert.throws(create("t", 0), refusedWith("INVALID_REQUEST", /partitions must be an integer from 1/));
  assert.throws(create("t", 100_001), refusedWith("INVALID_REQUEST"));
  // Every config problem at once, so the operator fixes them in one go.
  const all = { "retention.ms": "-2", "retention.bytes": "1e9", "cleanup.policy": "archive", "segment.bytes": "100", "min.insync.replicas": "4", "max.message.bytes": "-1", "colour": "red" };
  assert.throws(create("t", 1, all), (e: unknown) => {
    assert.ok(e instanceof FlotillaError && e.code === "INVALID_CONFIG");
    for (const problem of [
      'cleanup.policy: "archive" is not one of',
      "unknown config colour",
      "max.message.bytes: -1 is not in [0, 2147483647]",
      "min.insync.replicas: 4 is more than the replication factor 3",
      'retention.bytes: "1e9" is not an integer',
      "retention.ms: -2 is not in [-1,",
      "segment.bytes: 100 is not in [1048576, 2147483647]",
    ]) {
      assert.ok(e.message.includes(problem), `missing "${problem}" in: ${e.message}`);
    }
    return true;
  });
  assert.throws(create("t", 1, { "Retention.MS": "1" }), refusedWith("INVALID_CONFIG", /config name "Retention.MS" is not legal/));
  const ok = planCreateTopic(log.image, { topic: "t", partitions: 1, replicationFactor: 3, configs: { "cleanup.policy": "delete,compact", "min.insync.replicas": "2", "retention.ms": "-1" } }, T1);
  assert.deepEqual(ok.configs, { "cleanup.policy": "compact,delete", "min.insync.replicas": "2", "retention.ms": "-1" });
});

test("controller - deleting a topic that does not exist is refused with UNKNOWN_TOPIC", () => {
  const log = new TestLog().brokers([1]);
  assert.throws(() => planDeleteTopic(log.image, "nope"), refusedWith("UNKNOWN_TOPIC"));
  log.ok(planCreateTopic(log.image, { topic: "t", partitions: 2, replicationFactor: 1 }, T1));
  assert.deepEqual(planDeleteTopic(log.image, "t"), { type: "deleteTopic", topic: "t", topicId: T1 });
});

test("controller - a broker registers once per process start", () => {
  const log = new TestLog();
  const first = planRegisterBroker(log.image, { brokerId: 1, incarnation: "boot-1", rack: "a" });
  assert.deepEqual(first, { type: "registerBroker", brokerId: 1, incarnation: "boot-1", rack: "a", endpoints: [] });
  log.ok(first!);
  assert.equal(planRegisterBroker(log.image, { brokerId: 1, incarnation: "boot-1" }), null, "a retry proposes nothing");
  assert.equal(planRegisterBroker(log.image, { brokerId: 1, incarnation: "boot-2" })?.incarnation, "boot-2");
  assert.throws(() => planRegisterBroker(log.image, { brokerId: 0, incarnation: "x" }), refusedWith("INVALID_REQUEST", /broker id 0/));
});

test("controller - reassign generate, execute, progress and verify: 12 partitions from 1,2,3 to 2,3,4", () => {
  const log = new TestLog().brokers([1, 2, 3, 4]);
  log.ok({ type: "fenceBroker", brokerId: 4, brokerEpoch: log.image.broker(4)?.epoch as number });
  log.ok(planCreateTopic(log.image, { topic: "orders", partitions: 12, replicationFactor: 3 }, T1));
  log.ok({ type: "unfenceBroker", brokerId: 4, brokerEpoch: log.image.broker(4)?.epoch as number });

  const plan = planGenerateReassignment(log.image, ["orders"], [2, 3, 4]);
  assert.equal(verifyReassignment(log.image, plan).complete, false);
  const starts = planExecuteReassignment(log.image, plan);
  assert.equal(starts.length, 12, "every partition had a replica on broker 1");
  for (const r of starts) log.ok(r);
  assert.deepEqual(planExecuteReassignment(log.image, plan), [], "executing again proposes nothing");
  const status = verifyReassignment(log.image, plan);
  assert.equal(status.complete, false);
  assert.ok(status.partitions.every((p) => p.status === "inProgress"));

  for (const entry of plan.partitions) {
    const ref = { topic: "orders", topicId: T1, partition: entry.partition };
    for (const step of ["learnersAdded", "caughtUp", "votersSwitched", "done"] as const) {
      const record = planReassignmentReport(log.image, { ...ref, step });
      assert.ok(record, `${entry.partition} ${step}`);
      log.ok(record);
      assert.equal(planReassignmentReport(log.image, { ...ref, step }), null, "a repeated report proposes nothing");
    }
  }
  assert.deepEqual(verifyReassignment(log.image, plan).complete, true);
  assert.deepEqual(log.image.hostedPartitions(1), []);
  const moved = plan.partitions[0];
  log.ok(planPreferredLeader(log.image, "orders", moved.partition, moved.replicas[1]));
  assert.notDeepEqual(log.image.topic("orders")?.partitions[moved.partition].replicas, moved.replicas, "a leader transfer reorders the replicas");
  assert.equal(verifyReassignment(log.image, plan).complete, true, "and the plan is still complete");
});

test("controller - a reassignment can be cancelled; a stale report about it is ignored", () => {
  const log = new TestLog().brokers([1, 2, 3]);
  log.ok(planCreateTopic(log.image, { topic: "t", partitions: 1, replicationFactor: 2 }, T1));
  const replicas = log.image.topic("t")?.partitions[0].replicas as number[];
  const target = [6 - replicas[0] - replicas[1], replicas[0]];
  log.ok(planExecuteReassignment(log.image, { version: 1, partitions: [{ topic: "t", partition: 0, replicas: target }] })[0]);
  assert.throws(
    () => planExecuteReassignment(log.image, { version: 1, partitions: [{ topic: "t", partition: 0, replicas }] }),
    refusedWith("INVALID_REQUEST", /cancel that first/),
  );
  log.ok(planCancelReassignment(log.image, "t", 0));
  assert.equal(planReassignmentReport(log.image, { topic: "t", topicId: T1, partition: 0, step: "done" }), null);
  assert.throws(() => planReassignmentReport(log.image, { topic: "t", topicId: T1, partition: 0, step: "caughtUp" }), refusedWith("INVALID_REQUEST", /no reassignment in progress/));
  assert.throws(() => planReassignmentReport(log.image, { topic: "t", topicId: topicId(5), partition: 0, step: "caughtUp" }), refusedWith("UNKNOWN_TOPIC"));
  assert.throws(() => planCancelReassignment(log.image, "t", 0), refusedWith("INVALID_REQUEST"));
  assert.equal(verifyReassignment(log.image, { version: 1, partitions: [{ topic: "t", partition: 0, replicas: target }] }).partitions[0].status, "notStarted");
});

test("controller - a reassignment whose group is switching voters can no longer be cancelled", () => {
  const log = new TestLog().brokers([1, 2, 3]);
  log.ok(planCreateTopic(log.image, { topic: "t", partitions: 1, replicationFactor: 2 }, T1));
  const replicas = log.image.topic("t")?.partitions[0].replicas as number[];
  log.ok(planExecuteReassignment(log.image, { version: 1, partitions: [{ topic: "t", partition: 0, replicas: [6 - replicas[0] - replicas[1], replicas[0]] }] })[0]);
  log.ok(planReassignmentReport(log.image, { topic: "t", topicId: T1, partition: 0, step: "caughtUp" })!);
  planCancelReassignment(log.image, "t", 0);
  log.ok(planReassignmentReport(log.image, { topic: "t", topicId: T1, partition: 0, step: "votersSwitched" })!);
  assert.throws(() => planCancelReassignment(log.image, "t", 0), refusedWith("INVALID_REQUEST", /switching its voters already/));
});

test("controller - reassignment requests naming unknown topics, partitions or brokers are refused", () => {
  const log = new TestLog().brokers([1, 2]);
  log.ok(planCreateTopic(log.image, { topic: "t", partitions: 2, replicationFactor: 2 }, T1));
  const plan = (topic: string, partition: number, replicas: number[]) => ({ version: 1 as const, partitions: [{ topic, partition, replicas }] });
  assert.throws(() => planExecuteReassignment(log.image, plan("nope", 0, [1, 2])), refusedWith("UNKNOWN_TOPIC"));
  assert.throws(() => planExecuteReassignment(log.image, plan("t", 2, [1, 2])), refusedWith("INVALID_PARTITION"));
  assert.throws(() => planExecuteReassignment(log.image, plan("t", 0, [1, 9])), refusedWith("INVALID_REPLICATION_FACTOR", /broker 9 is not registered/));
  assert.throws(() => planExecuteReassignment(log.image, plan("t", 0, [1])), refusedWith("INVALID_REPLICATION_FACTOR"));
  assert.throws(() => planExecuteReassignment(log.image, plan("t", 0, [1, 1])), refusedWith("INVALID_REQUEST"));
  assert.throws(
    () => planExecuteReassignment(log.image, { version: 1, partitions: [{ topic: "t", partition: 0, replicas: [2, 1] }, { topic: "t", partition: 0, replicas: [1, 2] }] }),
    refusedWith("INVALID_REQUEST", /names t-0 twice/),
  );
  assert.throws(() => planGenerateReassignment(log.image, ["t"], [1, 7]), refusedWith("INVALID_REQUEST", /broker 7 is not registered/));
  assert.throws(() => planGenerateReassignment(log.image, ["t"], [1]), refusedWith("INVALID_REPLICATION_FACTOR"));
});

test("controller - leader rebalance moves leadership back to unfenced, in-sync preferred leaders", () => {
  const log = new TestLog().brokers([1, 2, 3]);
  log.ok(planCreateTopic(log.image, { topic: "t", partitions: 3, replicationFactor: 3 }, T1));
  const preferred = (p: number) => log.image.topic("t")?.partitions[p].replicas[0] as number;
  const others = (p: number) => log.image.topic("t")?.partitions[p].replicas.slice(1) as number[];
  const runtime = (_: string, p: number) =>
    p === 0 ? { leader: preferred(0) } : p === 1 ? { leader: others(1)[0] } : { isr: others(2) }; // 2: no leader, preferred lagging
  assert.deepEqual(preferredLeaderMoves(log.image, runtime), [{ topic: "t", partition: 1, from: others(1)[0], to: preferred(1) }]);
  log.ok({ type: "fenceBroker", brokerId: preferred(1), brokerEpoch: log.image.broker(preferred(1))?.epoch as number });
  assert.deepEqual(preferredLeaderMoves(log.image, runtime), []);
});

test("controller - setting a preferred leader reorders the replicas", () => {
  const log = new TestLog().brokers([1, 2]);
  log.ok(planCreateTopic(log.image, { topic: "t", partitions: 1, replicationFactor: 2 }, T1));
  const second = log.image.topic("t")?.partitions[0].replicas[1] as number;
  log.ok(planPreferredLeader(log.image, "t", 0, second));
  assert.equal(log.image.topic("t")?.partitions[0].replicas[0], second);
  assert.throws(() => planPreferredLeader(log.image, "t", 0, 9), refusedWith("INVALID_REQUEST", /not a replica/));
});

test("controller - decommissioning a broker: reassign its replicas away, stop it, then unregister it", () => {
  const log = new TestLog().brokers([1, 2, 3, 4]);
  log.ok(planCreateTopic(log.image, { topic: "t", partitions: 4, replicationFactor: 2 }, T1));
  const epoch = log.image.broker(4)?.epoch as number;
  assert.throws(() => planUnregisterBroker(log.image, 4), refusedWith("INVALID_REQUEST", /unfenced; stop it/));
  log.ok({ type: "fenceBroker", brokerId: 4, brokerEpoch: epoch });
  assert.throws(() => planUnregisterBroker(log.image, 4), refusedWith("INVALID_REQUEST", /still hosts 2 partitions; reassign them away first/));
  for (const r of planExecuteReassignment(log.image, planGenerateReassignment(log.image, ["t"], [1, 2, 3]))) {
    log.ok(r);
    log.ok({ type: "completeReassignment", topic: r.topic, topicId: r.topicId, partition: r.partition, replicas: r.target });
  }
  assert.deepEqual(log.ok(planUnregisterBroker(log.image, 4)), [{ type: "brokerUnregistered", brokerId: 4, epoch }]);
  assert.equal(log.image.broker(4), undefined);
  assert.throws(() => planUnregisterBroker(log.image, 4), refusedWith("INVALID_REQUEST", /not registered/));
});
