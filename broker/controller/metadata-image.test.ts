import { test } from "node:test";
import assert from "node:assert/strict";
import { MetadataImage } from "./metadata-image.js";
import type { CreateTopicRecord, MetadataRecord } from "./metadata-records.js";
import { TestLog, topicId } from "./test-support.js";

const T1 = topicId(1);

function createTopic(topic: string, id: string, replicas: number[][], configs: Record<string, string> = {}): CreateTopicRecord {
  return { type: "createTopic", topic, topicId: id, configs, partitions: replicas.map((r, partition) => ({ partition, replicas: r })) };
}

test("image - a registered broker's epoch is its record's index, and it starts fenced", () => {
  const log = new TestLog();
  log.apply({ type: "fenceBroker", brokerId: 9, brokerEpoch: 1 }); // index 1, rejected: unknown broker
  const events = log.ok({ type: "registerBroker", brokerId: 4, incarnation: "a", rack: "r1", endpoints: [] });
  assert.deepEqual(events, [{ type: "brokerRegistered", brokerId: 4, epoch: 2, incarnation: "a" }]);
  assert.deepEqual(log.image.broker(4), { id: 4, incarnation: "a", epoch: 2, rack: "r1", endpoints: [], fenced: true });
  assert.equal(log.image.appliedIndex, 2);
});

test("image - a retried registration is refused; a restart gets a new epoch and is fenced again", () => {
  const log = new TestLog().brokers([1]);
  const epoch = log.image.broker(1)?.epoch;
  const r = log.rejected({ type: "registerBroker", brokerId: 1, incarnation: `incarnation-1-0`, endpoints: [] });
  assert.match(r.reason, /already registered/);
  assert.equal(log.image.broker(1)?.epoch, epoch);
  log.ok({ type: "registerBroker", brokerId: 1, incarnation: "after-restart", endpoints: [] });
  assert.equal(log.image.broker(1)?.epoch, log.image.appliedIndex);
  assert.equal(log.image.broker(1)?.fenced, true);
});

test("image - fencing names the epoch: a decision about a previous incarnation does nothing", () => {
  const log = new TestLog().brokers([1]);
  const old = log.image.broker(1)?.epoch as number;
  log.ok({ type: "registerBroker", brokerId: 1, incarnation: "new", endpoints: [] });
  const r = log.rejected({ type: "unfenceBroker", brokerId: 1, brokerEpoch: old });
  assert.equal(r.code, "INVALID_REQUEST");
  assert.match(r.reason, /has epoch \d+, not 1/);
  const epoch = log.image.broker(1)?.epoch as number;
  assert.deepEqual(log.ok({ type: "unfenceBroker", brokerId: 1, brokerEpoch: epoch }), [{ type: "brokerUnfenced", brokerId: 1, epoch }]);
  assert.match(log.rejected({ type: "unfenceBroker", brokerId: 1, brokerEpoch: epoch }).reason, /already unfenced/);
  assert.deepEqual(log.ok({ type: "fenceBroker", brokerId: 1, brokerEpoch: epoch }), [{ type: "brokerFenced", brokerId: 1, epoch }]);
});

test("image - creating a topic adds every partition, with an event each for the reconcilers", () => {
  const log = new TestLog().brokers([1, 2, 3]);
  const events = log.ok(createTopic("orders", T1, [[1, 2], [2, 3], [3, 1]], { "cleanup.policy": "delete,compact" }));
  assert.deepEqual(events, [
    { type: "topicCreated", topic: "orders", topicId: T1, configs: { "cleanup.policy": "compact,delete" } },
    { type: "partitionAdded", topic: "orders", topicId: T1, partition: 0, replicas: [1, 2] },
    { type: "partitionAdded", topic: "orders", topicId: T1, partition: 1, replicas: [2, 3] },
    { type: "partitionAdded", topic: "orders", topicId: T1, partition: 2, replicas: [3, 1] },
  ]);
  assert.deepEqual(log.image.topic("orders")?.partitions[1], { replicas: [2, 3] });
  assert.equal(log.image.partitionCount(), 3);
  assert.deepEqual(
    log.image.hostedPartitions(1).map((p) => p.partition),
    [0, 2],
  );
});

test("image - creating an existing topic is refused with TOPIC_EXISTS, as is reusing a topic id", () => {
  const log = new TestLog().brokers([1]);
  log.ok(createTopic("a", T1, [[1]]));
  assert.deepEqual(log.rejected(createTopic("a", topicId(2), [[1]])), { code: "TOPIC_EXISTS", reason: "topic a already exists" });
  assert.equal(log.rejected(createTopic("b", T1, [[1]])).code, "TOPIC_EXISTS");
});

test("image - a replication factor above the unfenced brokers is refused with INVALID_REPLICATION_FACTOR", () => {
  const log = new TestLog().brokers([1, 2]);
  log.ok({ type: "registerBroker", brokerId: 3, incarnation: "x", endpoints: [] }); // fenced
  const r = log.rejected(createTopic("a", T1, [[1, 2, 3]]));
  assert.deepEqual(r, { code: "INVALID_REPLICATION_FACTOR", reason: "replication factor 3 but only 2 unfenced brokers" });
  assert.match(log.rejected(createTopic("a", T1, [[1, 3]])).reason, /partition 0: broker 3 is fenced/);
  assert.match(log.rejected(createTopic("a", T1, [[1, 7]])).reason, /partition 0: broker 7 is not registered/);
  assert.match(log.rejected(createTopic("a", T1, [[1, 2], [1]])).reason, /partition 1 has 1 replicas, partition 0 has 2/);
});

test("image - invalid configs are refused with INVALID_CONFIG, every problem named", () => {
  const log = new TestLog().brokers([1, 2]);
  const r = log.rejected(createTopic("a", T1, [[1, 2]], { "retention.ms": "soon", "min.insync.replicas": "3", "colour": "blue" }));
  assert.equal(r.code, "INVALID_CONFIG");
  assert.match(r.reason, /unknown config colour/);
  assert.match(r.reason, /retention\.ms: "soon" is not an integer/);
  assert.match(r.reason, /min\.insync\.replicas: 3 is more than the replication factor 2/);
});

test("image - a malformed record is rejected, not thrown", () => {
  const log = new TestLog();
  const r = log.rejected({ type: "createTopic", topic: "..", topicId: T1, configs: {}, partitions: [] });
  assert.equal(r.code, "INVALID_REQUEST");
});

test("image - deleting a topic removes its partitions from every host, reassignment targets included", () => {
  const log = new TestLog().brokers([1, 2, 3, 4]);
  log.ok(createTopic("a", T1, [[1, 2], [2, 3]]));
  log.ok({ type: "startReassignment", topic: "a", topicId: T1, partition: 1, target: [3, 4] });
  assert.equal(log.rejected({ type: "deleteTopic", topic: "a", topicId: topicId(9) }).code, "UNKNOWN_TOPIC");
  assert.deepEqual(log.ok({ type: "deleteTopic", topic: "a", topicId: T1 }), [
    { type: "partitionRemoved", topic: "a", topicId: T1, partition: 0, hosts: [1, 2] },
    { type: "partitionRemoved", topic: "a", topicId: T1, partition: 1, hosts: [2, 3, 4] },
    { type: "topicDeleted", topic: "a", topicId: T1 },
  ]);
  assert.equal(log.image.topic("a"), undefined);
  assert.equal(log.rejected({ type: "deleteTopic", topic: "a", topicId: T1 }).code, "UNKNOWN_TOPIC");
  // The name is free again; the new topic is another topic.
  log.ok(createTopic("a", topicId(2), [[4]]));
});

test("image - a reassignment records its target, moves through its phases and completes", () => {
  const log = new TestLog().brokers([1, 2, 3, 4]);
  log.ok(createTopic("a", T1, [[1, 2, 3]]));
  const ref = { topic: "a", topicId: T1, partition: 0 } as const;
  assert.deepEqual(log.ok({ type: "startReassignment", ...ref, target: [2, 3, 4] }), [
    { type: "reassignmentStarted", ...ref, replicas: [1, 2, 3], target: [2, 3, 4] },
  ]);
  // While it moves, the new broker hosts the partition too (as a learner, to catch up).
  assert.deepEqual(log.image.hostedPartitions(4), [{ ...ref, replicas: [1, 2, 3], reassignment: { target: [2, 3, 4], phase: "started" } }]);
  log.ok({ type: "reassignmentProgress", ...ref, phase: "learnersAdded" });
  log.ok({ type: "reassignmentProgress", ...ref, phase: "votersSwitched" });
  assert.match(log.rejected({ type: "reassignmentProgress", ...ref, phase: "caughtUp" }).reason, /past caughtUp already \(at votersSwitched\)/);
  assert.match(log.rejected({ type: "completeReassignment", ...ref, replicas: [2, 3, 1] }).reason, /moving to \[2,3,4\], not \[2,3,1\]/);
  assert.deepEqual(log.ok({ type: "completeReassignment", ...ref, replicas: [2, 3, 4] }), [
    { type: "reassignmentCompleted", ...ref, replicas: [2, 3, 4], removed: [1] },
  ]);
  assert.deepEqual(log.image.topic("a")?.partitions[0], { replicas: [2, 3, 4] });
  assert.deepEqual(log.image.hostedPartitions(1), []);
  assert.match(log.rejected({ type: "completeReassignment", ...ref, replicas: [2, 3, 4] }).reason, /no reassignment in progress/);
});

test("image - cancelling a reassignment returns the partition to its replicas", () => {
  const log = new TestLog().brokers([1, 2, 3, 4, 5]);
  log.ok(createTopic("a", T1, [[1, 2, 3]]));
  const ref = { topic: "a", topicId: T1, partition: 0 } as const;
  log.ok({ type: "startReassignment", ...ref, target: [1, 4, 5] });
  assert.match(log.rejected({ type: "startReassignment", ...ref, target: [1, 2, 4] }).reason, /already being reassigned; cancel that first/);
  assert.deepEqual(log.ok({ type: "cancelReassignment", ...ref }), [
    { type: "reassignmentCancelled", ...ref, replicas: [1, 2, 3], abandoned: [4, 5] },
  ]);
  assert.deepEqual(log.image.topic("a")?.partitions[0], { replicas: [1, 2, 3] });
  assert.equal(log.rejected({ type: "cancelReassignment", ...ref }).code, "INVALID_REQUEST");
});

test("image - reassignment targets: new brokers must be unfenced, staying ones may be fenced, the factor stays", () => {
  const log = new TestLog().brokers([1, 2, 3, 4]);
  log.ok(createTopic("a", T1, [[1, 2]]));
  const ref = { topic: "a", topicId: T1, partition: 0 } as const;
  log.ok({ type: "fenceBroker", brokerId: 1, brokerEpoch: log.image.broker(1)?.epoch as number });
  log.ok({ type: "fenceBroker", brokerId: 4, brokerEpoch: log.image.broker(4)?.epoch as number });
  assert.match(log.rejected({ type: "startReassignment", ...ref, target: [1, 4] }).reason, /broker 4 is fenced/);
  assert.equal(log.rejected({ type: "startReassignment", ...ref, target: [1, 2, 3] }).code, "INVALID_REPLICATION_FACTOR");
  assert.match(log.rejected({ type: "startReassignment", ...ref, target: [1, 2] }).reason, /already has replicas/);
  assert.equal(log.rejected({ type: "startReassignment", ...ref, partition: 1, target: [1, 3] }).code, "INVALID_PARTITION");
  log.ok({ type: "startReassignment", ...ref, target: [1, 3] });
});

test("image - the preferred leader moves to the front without moving data", () => {
  const log = new TestLog().brokers([1, 2, 3]);
  log.ok(createTopic("a", T1, [[1, 2, 3]]));
  const ref = { topic: "a", topicId: T1, partition: 0 } as const;
  assert.deepEqual(log.ok({ type: "setPreferredLeader", ...ref, brokerId: 3 }), [{ type: "preferredLeaderChanged", ...ref, replicas: [3, 1, 2] }]);
  assert.match(log.rejected({ type: "setPreferredLeader", ...ref, brokerId: 3 }).reason, /already the preferred leader/);
  assert.match(log.rejected({ type: "setPreferredLeader", ...ref, brokerId: 4 }).reason, /not a replica/);
});

test("image - apply refuses an index that does not follow the last one (the caller's bug)", () => {
  const record: MetadataRecord = { type: "registerBroker", brokerId: 1, incarnation: "a", endpoints: [] };
  const image = MetadataImage.EMPTY.apply(record, 5).image;
  assert.throws(() => image.apply(record, 5), RangeError);
  assert.throws(() => image.apply(record, 4), RangeError);
  assert.equal(image.apply(record, 9).image.appliedIndex, 9, "indexes may skip (entries of other kinds)");
});

test("image - apply is copy-on-write: older images stay as they were, untouched topics are shared", () => {
  const log = new TestLog().brokers([1, 2, 3]);
  log.ok(createTopic("a", T1, [[1, 2]]));
  log.ok(createTopic("b", topicId(2), Array.from({ length: 5000 }, () => [2, 3])));
  const before = log.image;
  log.ok({ type: "startReassignment", topic: "a", topicId: T1, partition: 0, target: [1, 3] });
  assert.equal(before.topic("a")?.partitions[0].reassignment, undefined);
  assert.equal(log.image.topic("b"), before.topic("b"), "topic b is the same object");
  assert.equal(log.image.broker(1), before.broker(1));
});

test("image - the same log gives the same image and the same rejections on every replica", () => {
  const records: MetadataRecord[] = [
    { type: "registerBroker", brokerId: 1, incarnation: "a", endpoints: [] },
    { type: "registerBroker", brokerId: 2, incarnation: "b", endpoints: [] },
    { type: "unfenceBroker", brokerId: 1, brokerEpoch: 1 },
    createTopic("x", T1, [[1, 2]]), // rejected: broker 2 is fenced
    { type: "unfenceBroker", brokerId: 2, brokerEpoch: 2 },
    createTopic("x", T1, [[1, 2]]),
    createTopic("x", topicId(2), [[1]]), // rejected: exists
  ];
  const run = () => {
    let image = MetadataImage.EMPTY;
    const outcomes = records.map((r, i) => {
      const result = image.apply(r, i + 1);
      image = result.image;
      return result.rejected;
    });
    return { outcomes, snapshot: image.snapshot() };
  };
  const a = run();
  const b = run();
  assert.deepEqual(a, b);
  assert.deepEqual(
    a.outcomes.map((o) => o?.code ?? null),
    [null, null, null, "INVALID_REPLICATION_FACTOR", null, null, "TOPIC_EXISTS"],
  );
});

test("image - a broker is decommissioned only once it hosts nothing; it stays fenced until it registers again", () => {
  const log = new TestLog().brokers([1, 2]);
  log.ok(createTopic("a", T1, [[1]]));
  const epoch = log.image.broker(1)!.epoch;
  assert.match(log.rejected({ type: "decommissionBroker", brokerId: 1, brokerEpoch: epoch }).reason, /still hosts 1 partitions/);
  log.ok({ type: "startReassignment", topic: "a", topicId: T1, partition: 0, target: [2] });
  assert.match(log.rejected({ type: "decommissionBroker", brokerId: 1, brokerEpoch: epoch }).reason, /still hosts 1 partitions/);
  log.ok({ type: "completeReassignment", topic: "a", topicId: T1, partition: 0, replicas: [2] });
  assert.deepEqual(log.ok({ type: "decommissionBroker", brokerId: 1, brokerEpoch: epoch }), [{ type: "brokerFenced", brokerId: 1, epoch }]);
  assert.equal(log.image.broker(1)?.fenced, true);
  assert.match(log.rejected({ type: "unfenceBroker", brokerId: 1, brokerEpoch: epoch }).reason, /decommissioned/);
  assert.match(log.rejected({ type: "startReassignment", topic: "a", topicId: T1, partition: 0, target: [1] }).reason, /broker 1 is fenced/);
  log.ok({ type: "registerBroker", brokerId: 1, incarnation: "restarted", endpoints: [] });
  assert.equal(log.image.broker(1)?.decommissioned, undefined, "a restart brings it back (fenced until it heartbeats)");
});

test("image - the reassignment throttle is cluster-wide; 0 means no cap", () => {
  const log = new TestLog();
  assert.equal(log.image.reassignmentThrottle, 0);
  log.ok({ type: "setReassignmentThrottle", bytesPerSec: 1_000_000 });
  assert.equal(log.image.reassignmentThrottle, 1_000_000);
  log.ok({ type: "setReassignmentThrottle", bytesPerSec: 0 });
  assert.equal(log.image.reassignmentThrottle, 0);
  log.rejected({ type: "setReassignmentThrottle", bytesPerSec: -1 });
});
