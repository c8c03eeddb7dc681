import { test } from "node:test";
import assert from "node:assert/strict";
import { FlotillaError } from "../protocol/errors.js";
import { encodeRecordBatch } from "../protocol/record-batch.js";
import { subjects } from "../protocol/subjects.js";
import { recordsFrom } from "./fetch.js";
import { Flotilla } from "./flotilla.js";
import { FakeCluster, fakeFlotilla } from "./test-support.js";

test("admin - topics and cluster through the admin subject", async () => {
  const c = new FakeCluster();
  const admin = fakeFlotilla(c).admin();
  await admin.connect();
  await admin.createTopic({ topic: "orders", partitions: 2, replicationFactor: 3 });
  assert.equal(c.seen[0].subject, "flotilla.test.admin");
  assert.deepEqual(await admin.listTopics(), ["orders"]);
  const d = await admin.describeTopic("orders");
  assert.deepEqual(d.partitions[1], { partition: 1, leader: 1, replicas: [1, 2, 3], highWatermark: 0n, logStartOffset: 0n });
  await assert.rejects(admin.createTopic({ topic: "orders", partitions: 1, replicationFactor: 1 }), (e: unknown) => e instanceof FlotillaError && e.code === "TOPIC_EXISTS");
  const cl = await admin.describeCluster();
  assert.equal(cl.controllerLeader, 1);
  assert.equal(cl.brokers.length, 3);
  await admin.deleteTopic("orders");
  assert.deepEqual(await admin.listTopics(), []);
  const before = c.count("describeTopic");
  await assert.rejects(admin.describeTopic("orders"), (e: unknown) => e instanceof FlotillaError && e.code === "UNKNOWN_TOPIC");
  assert.equal(c.count("describeTopic"), before + 1, "an admin does not retry UNKNOWN_TOPIC");
  await assert.rejects(admin.createTopic({ topic: "x", partitions: 0, replicationFactor: -1 }), /partitions 0.*replicationFactor -1/);
  await admin.disconnect();
});

test("admin - a create that timed out and then finds the topic counts as created; NOT_CONTROLLER is retried", async () => {
  const c = new FakeCluster();
  c.fail("createTopic", { nats: "TIMEOUT" }, true);
  const admin = fakeFlotilla(c).admin();
  await admin.connect();
  await admin.createTopic({ topic: "t", partitions: 1, replicationFactor: 1 });
  c.fail("deleteTopic", { error: new FlotillaError("NOT_CONTROLLER") });
  await admin.deleteTopic("t");
  assert.equal(c.count("deleteTopic"), 2);
  await admin.disconnect();
});

test("fetch - records from an offset, decoded client side, with headers and timestamps", async () => {
  const c = new FakeCluster({ t: 1 });
  const f = fakeFlotilla(c);
  const producer = f.producer({ lingerMs: 0 });
  await producer.connect();
  await producer.send({ topic: "t", messages: [{ key: "k", value: "v0", headers: { h: ["1", "2"] }, timestamp: 1700000000000 }, { value: "v1" }] });
  await producer.send({ topic: "t", messages: [{ value: null }] });
  await producer.disconnect();
  const r = await f.fetch({ topic: "t", partition: 0, offset: 1n, maxBytes: 1 << 20, maxWaitMs: 0 });
  assert.equal(r.highWatermark, 3n);
  assert.deepEqual(r.records.map((x) => [x.offset, x.value?.toString() ?? null]), [[1n, "v1"], [2n, null]]);
  const all = await f.fetch({ topic: "t", partition: 0, offset: 0 });
  assert.equal(all.records[0].key?.toString(), "k");
  assert.deepEqual(all.records[0].headers, { h: [Buffer.from("1"), Buffer.from("2")] });
  assert.equal(all.records[0].timestamp, 1700000000000);
  await assert.rejects(f.fetch({ topic: "t", partition: -1, offset: -5n }), /partition -1.*offset -5/);
  await f.disconnect();
  assert.ok(c.closed);
});

test("fetch - readFrom follower or any goes to one replica's own subject; a failed one is chosen again; none falls back to the leader", async () => {
  const single = new FakeCluster({ t: 1 });
  const fetchSubjects = (c: FakeCluster): string[] => c.seen.filter((s) => s.req.type === "fetch").map((s) => s.subject);
  await fakeFlotilla(single).fetch({ topic: "t", partition: 0, offset: 0, readFrom: "follower" });
  assert.deepEqual(fetchSubjects(single), [subjects.fetch("test", "t", 0)], "no follower (RF 1): the leader");
  const c = new FakeCluster({ t: 1 });
  c.replicas = [1, 2, 3];
  const f = fakeFlotilla(c);
  await f.fetch({ topic: "t", partition: 0, offset: 0, readFrom: "follower" });
  await f.fetch({ topic: "t", partition: 0, offset: 0, readFrom: "any" });
  assert.deepEqual(fetchSubjects(c), [subjects.replicaFetch("test", "t", 0, 3), subjects.replicaFetch("test", "t", 0, 2)], "random 0.5: the second of [2, 3], of [1, 2, 3]");
  const metadataBefore = c.count("metadata");
  c.fail("fetch", { nats: "503" });
  await f.fetch({ topic: "t", partition: 0, offset: 0, readFrom: "follower" });
  assert.ok(c.count("metadata") > metadataBefore, "the replicas are looked up again after a failure");
  await assert.rejects(f.fetch({ topic: "t", partition: 0, offset: 0, readFrom: "nearest" as "any" }), (e: unknown) => e instanceof FlotillaError && /readFrom "nearest"/.test(e.message));
  await f.disconnect();
});

test("fetch - no responders on a partition that does not exist is INVALID_PARTITION or UNKNOWN_TOPIC at once, not NO_LEADER after the retries", async () => {
  const c = new FakeCluster({ t: 2 });
  for (let i = 0; i < 3; i++) c.fail("fetch", { nats: "503" });
  const f = fakeFlotilla(c);
  await assert.rejects(f.fetch({ topic: "t", partition: 5, offset: 0n }), (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_PARTITION" && /2 partitions \(0..1\)/.test(e.message));
  await assert.rejects(f.fetch({ topic: "nope", partition: 0, offset: 0n }), (e: unknown) => e instanceof FlotillaError && e.code === "UNKNOWN_TOPIC");
  assert.equal(c.count("fetch"), 2, "one fetch each, no retries");
  // A partition that exists but has no leader for a moment is retried and then served.
  const r = await f.fetch({ topic: "t", partition: 1, offset: 0n });
  assert.equal(r.highWatermark, 0n);
  assert.equal(c.count("fetch"), 4);
  await f.disconnect();
});

test("fetch - recordsFrom skips records before the offset inside a batch", () => {
  const a = encodeRecordBatch([{ key: null, value: Buffer.from("a") }, { key: null, value: Buffer.from("b") }], { baseOffset: 10n });
  const b = encodeRecordBatch([{ key: null, value: Buffer.from("c") }], { baseOffset: 12n });
  const recs = recordsFrom(Buffer.concat([a, b]), 11n);
  assert.deepEqual(recs.map((r) => [r.offset, r.value!.toString()]), [[11n, "b"], [12n, "c"]]);
});

test("Flotilla - config problems are reported all at once", () => {
  assert.throws(() => new Flotilla({ servers: [], cluster: "a.b", user: "u" }), (e: unknown) => e instanceof FlotillaError && /servers.*cluster.*user and pass/.test(e.message));
  assert.throws(() => new Flotilla().consumer({ groupId: "", sessionTimeoutMs: 5 }), (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_CONFIG" && /groupId.*sessionTimeoutMs/.test(e.message));
});
