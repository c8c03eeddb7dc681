import { test } from "node:test";
import assert from "node:assert/strict";
import { FlotillaError } from "../protocol/errors.js";
import { decodeRecords, readBatchHeader } from "../protocol/record-batch.js";
import { maxProducedBatchBytes, type ProduceRequest } from "../protocol/requests.js";
import { partitionForKey } from "./murmur2.js";
import { resolveProducerConfig } from "./producer.js";
import { FakeCluster, fakeFlotilla } from "./test-support.js";

function produces(c: FakeCluster): ProduceRequest[] {
  return c.seen.filter((s) => s.req.type === "produce").map((s) => s.req.request as ProduceRequest);
}

test("producer - one send becomes one batch per partition; acks are per message, in order", async () => {
  const c = new FakeCluster({ t: 3 });
  const producer = fakeFlotilla(c).producer({ lingerMs: 10_000 });
  await producer.connect();
  const sending = producer.send({
    topic: "t",
    messages: [
      { value: "a", partition: 1 },
      { value: "b", partition: 2 },
      { value: "c", partition: 1, key: "k", headers: { h: "x" } },
    ],
  });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(c.count("produce"), 0, "lingering: nothing sent yet");
  await producer.flush();
  const acks = await sending;
  assert.deepEqual(acks, [
    { topic: "t", partition: 1, offset: 0n },
    { topic: "t", partition: 2, offset: 0n },
    { topic: "t", partition: 1, offset: 1n },
  ]);
  const reqs = produces(c);
  assert.equal(reqs.length, 2);
  const p1 = reqs.find((r) => r.partition === 1)!;
  assert.equal(c.seen.find((s) => s.req.type === "produce" && (s.req.request as ProduceRequest).partition === 1)!.subject, "flotilla.test.p.t.1.produce");
  const recs = decodeRecords(p1.batch);
  assert.deepEqual(recs.map((r) => Buffer.from(r.value!).toString()), ["a", "c"]);
  assert.equal(Buffer.from(recs[1].key!).toString(), "k");
  assert.equal(Buffer.from(recs[1].headers[0].value!).toString(), "x");
  assert.equal(p1.acks, "all");
  assert.equal(p1.batchId.length, 16);
  assert.equal(p1.producerId, producer.producerId);
  assert.equal(p1.sequence, 0);
  assert.equal(readBatchHeader(p1.batch).producerId, producer.producerId);
  await producer.disconnect();
  assert.ok(c.closed, "the last holder closes the connection");
});

test("producer - linger sends a batch by itself; batchBytes splits a large send", async () => {
  const c = new FakeCluster({ t: 1 });
  const producer = fakeFlotilla(c).producer({ lingerMs: 5, batchBytes: 1000 });
  await producer.connect();
  const acks = await producer.send({ topic: "t", messages: [{ value: "x" }] });
  assert.deepEqual(acks, [{ topic: "t", partition: 0, offset: 0n }]);
  const many = await producer.send({ topic: "t", messages: Array.from({ length: 20 }, (_, i) => ({ value: Buffer.alloc(200, i) })) });
  assert.deepEqual(many.map((a) => a.offset), Array.from({ length: 20 }, (_, i) => BigInt(i + 1)));
  const reqs = produces(c);
  assert.ok(reqs.length >= 6, `20 × 200 bytes in batches of ≤ 1000 bytes: ${reqs.length} requests`);
  for (const r of reqs) assert.ok(r.batch.length <= 1000, `batch of ${r.batch.length} bytes`);
  const sequences = reqs.map((r) => r.sequence);
  assert.deepEqual(sequences, [...sequences].sort((a, b) => a! - b!), "sequences increase");
  await producer.disconnect();
});

test("producer - keys go where Kafka would put them; null keys stick to one partition per batch", async () => {
  const c = new FakeCluster({ t: 6 });
  const producer = fakeFlotilla(c).producer({ lingerMs: 10_000 });
  await producer.connect();
  const keys = ["k1", "21", "foobar", "abc", "key-0"];
  const sending = producer.send({ topic: "t", messages: [...keys.map((k) => ({ key: k, value: k })), { value: "n1" }, { value: "n2" }, { value: "n3" }] });
  await producer.flush();
  const acks = await sending;
  for (let i = 0; i < keys.length; i++) assert.equal(acks[i].partition, partitionForKey(Buffer.from(keys[i]), 6), keys[i]);
  assert.deepEqual([5, 0, 0, 3, 1], acks.slice(0, 5).map((a) => a.partition), "Kafka's partitions for these keys in 6");
  const nulls = acks.slice(5).map((a) => a.partition);
  assert.equal(new Set(nulls).size, 1, `keyless messages of one batch share a partition: ${nulls}`);
  await producer.disconnect();
});

test("producer - retriable errors are retried with the same batch UUID; the batch lands once", async () => {
  const c = new FakeCluster({ t: 1 });
  c.fail("produce", { nats: "503" })
    .fail("produce", { error: new FlotillaError("NO_LEADER") })
    .fail("produce", { error: new FlotillaError("NOT_LEADER", "moved", { leader: 2 }) })
    .fail("produce", { nats: "TIMEOUT" }, true); // appended, but the answer is lost
  const producer = fakeFlotilla(c).producer({ lingerMs: 0 });
  await producer.connect();
  const acks = await producer.send({ topic: "t", messages: [{ value: "a" }, { value: "b" }] });
  assert.deepEqual(acks.map((a) => a.offset), [0n, 1n]);
  const reqs = produces(c);
  assert.equal(reqs.length, 5);
  const ids = new Set(reqs.map((r) => Buffer.from(r.batchId).toString("hex")));
  assert.equal(ids.size, 1, "one UUID across every retry");
  assert.equal(c.logs.get("t/0")!.length, 1, "deduplicated: appended once");
  assert.equal(c.count("metadata"), 1);
  await producer.send({ topic: "t", messages: [{ value: "c" }] });
  assert.equal(c.count("metadata"), 2, "metadata looked up again after errors that ask for it");
  await producer.disconnect();
});

test("producer - non-idempotent: a fresh UUID per attempt", async () => {
  const c = new FakeCluster({ t: 1 });
  c.fail("produce", { nats: "503" });
  const producer = fakeFlotilla(c).producer({ lingerMs: 0, idempotent: false });
  await producer.connect();
  await producer.send({ topic: "t", messages: [{ value: "a" }] });
  const reqs = produces(c);
  assert.notDeepEqual(reqs[0].batchId, reqs[1].batchId);
  assert.equal(reqs[0].producerId, undefined);
  await producer.disconnect();
});

test("producer - a non-retriable error rejects with the typed error; retries run out with the last error", async () => {
  const c = new FakeCluster({ t: 1 });
  c.fail("produce", { error: new FlotillaError("CORRUPT_BATCH", "crc") });
  c.faults[0].fault = { error: new FlotillaError("BATCH_TOO_LARGE", "too big") };
  const producer = fakeFlotilla(c, { retry: { retries: 2 } }).producer({ lingerMs: 0 });
  await producer.connect();
  await assert.rejects(producer.send({ topic: "t", messages: [{ value: "a" }] }), (e: unknown) => e instanceof FlotillaError && e.code === "BATCH_TOO_LARGE" && !e.retriable);
  for (let i = 0; i < 3; i++) c.fail("produce", { nats: "503" });
  await assert.rejects(producer.send({ topic: "t", messages: [{ value: "b" }] }), (e: unknown) => e instanceof FlotillaError && e.code === "NO_LEADER" && /gave up after 3 attempts/.test(e.message));
  await producer.disconnect();
});

test("producer - bad input is refused before anything is queued, naming every problem", async () => {
  const c = new FakeCluster({ t: 2 });
  const producer = fakeFlotilla(c).producer({ lingerMs: 0, batchBytes: 500 });
  await producer.connect();
  await assert.rejects(producer.send({ topic: "t", messages: [{ value: 5 as unknown as string }, { value: "ok", partition: -1 }] }), /message 0: value must be.*message 1: partition -1/);
  await assert.rejects(producer.send({ topic: "t", messages: [{ value: Buffer.alloc(1000) }] }), (e: unknown) => e instanceof FlotillaError && e.code === "BATCH_TOO_LARGE");
  await assert.rejects(producer.send({ topic: "t", messages: [{ value: "x", partition: 7 }] }), (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_PARTITION" && /has 2/.test(e.message));
  await assert.rejects(producer.send({ topic: "nope", messages: [{ value: "x" }] }), (e: unknown) => e instanceof FlotillaError && e.code === "UNKNOWN_TOPIC" && /create it/.test(e.message));
  await assert.rejects(producer.send({ topic: "bad topic", messages: [{ value: "x" }] }), (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_TOPIC");
  assert.equal(c.count("produce"), 0);
  await producer.disconnect();
  await assert.rejects(producer.send({ topic: "t", messages: [{ value: "x" }] }), /disconnected/);
  assert.throws(() => resolveProducerConfig({ acks: "some" as "all", lingerMs: -1, maxInFlight: 0 }), /acks.*lingerMs.*maxInFlight/);
});

test("producer - back-pressure: send waits while the buffer is full, and goes on when acks free it", async () => {
  const c = new FakeCluster({ t: 1 });
  let release!: () => void;
  c.fail("produce", { hold: new Promise<void>((r) => (release = r)) });
  const producer = fakeFlotilla(c).producer({ lingerMs: 0, batchBytes: 1000, bufferBytes: 1000 });
  await producer.connect();
  const first = producer.send({ topic: "t", messages: [{ value: Buffer.alloc(600) }] });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(c.count("produce"), 1, "the first batch is in flight, held by the broker");
  let secondDone = false;
  const second = producer.send({ topic: "t", messages: [{ value: Buffer.alloc(600) }] }).then((a) => ((secondDone = true), a));
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(secondDone, false);
  assert.equal(c.count("produce"), 1, "the second message waits for room, not sent");
  assert.ok(producer.bufferedBytes <= 1000);
  release();
  assert.deepEqual((await first).map((a) => a.offset), [0n]);
  assert.deepEqual((await second).map((a) => a.offset), [1n]);
  await producer.disconnect();
});

test("producer - maxInFlight bounds the batches of a partition on the wire", async () => {
  const c = new FakeCluster({ t: 1 });
  const holds: Array<() => void> = [];
  for (let i = 0; i < 4; i++) c.fail("produce", { hold: new Promise<void>((r) => holds.push(r)) });
  const producer = fakeFlotilla(c).producer({ lingerMs: 0, maxInFlight: 2, batchBytes: 200 });
  await producer.connect();
  const sends = [0, 1, 2, 3].map((i) => producer.send({ topic: "t", messages: [{ value: Buffer.alloc(100, i) }] }));
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(c.count("produce"), 2);
  holds.forEach((h) => h());
  const acks = await Promise.all(sends);
  assert.deepEqual(acks.map((a) => a[0].offset), [0n, 1n, 2n, 3n]);
  await producer.disconnect();
});

test("producer - a batch whose linger ends while the window is full keeps taking records, and goes out whole when a slot frees", async () => {
  const c = new FakeCluster({ t: 1 });
  let release!: () => void;
  c.fail("produce", { hold: new Promise<void>((r) => (release = r)) });
  const producer = fakeFlotilla(c).producer({ lingerMs: 1, maxInFlight: 1 });
  await producer.connect();
  const first = producer.send({ topic: "t", messages: [{ value: "first" }] });
  while (c.count("produce") === 0) await new Promise((r) => setTimeout(r, 1));
  const later: Array<Promise<unknown>> = [];
  for (let i = 0; i < 5; i++) {
    later.push(producer.send({ topic: "t", messages: [{ value: `later ${i}` }] }));
    await new Promise((r) => setTimeout(r, 5)); // each past the linger of the batch it joins
  }
  assert.equal(c.count("produce"), 1, "the window is full: nothing else is sent");
  release();
  await first;
  const acks = (await Promise.all(later)) as Array<Array<{ offset: bigint }>>;
  assert.deepEqual(acks.map((a) => a[0].offset), [1n, 2n, 3n, 4n, 5n]);
  const reqs = produces(c);
  assert.equal(reqs.length, 2, "the five later records went out together");
  assert.deepEqual(decodeRecords(reqs[1].batch).map((r) => Buffer.from(r.value!).toString()), ["later 0", "later 1", "later 2", "later 3", "later 4"]);
  await producer.disconnect();
});

test("producer - with several batches in flight, a delayed first request does not let the batches behind it land first", async () => {
  const c = new FakeCluster({ t: 1 });
  let release!: () => void;
  c.fail("produce", { hold: new Promise<void>((r) => (release = r)) });
  const producer = fakeFlotilla(c).producer({ lingerMs: 0, maxInFlight: 5, batchBytes: 200 });
  await producer.connect();
  const sends = [0, 1, 2, 3].map((i) => producer.send({ topic: "t", messages: [{ value: Buffer.alloc(100, i) }] }));
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(c.count("produce") >= 4, "the batches behind the first were sent meanwhile");
  release();
  const acks = await Promise.all(sends);
  assert.deepEqual(acks.map((a) => a[0].offset), [0n, 1n, 2n, 3n]);
  const values = c.logs.get("t/0")!.flatMap((b) => decodeRecords(b).map((r) => r.value![0]));
  assert.deepEqual(values, [0, 1, 2, 3], "landed in the order sent");
  assert.ok(produces(c).some((r) => r.sequence === 1) && c.count("produce") > 4, "the early ones were refused and sent again");
  await producer.disconnect();
});

test("producer - a sequence gap nothing will fill restarts the numbering in a new epoch", async () => {
  const c = new FakeCluster({ t: 1 });
  c.fail("produce", { error: new FlotillaError("INVALID_REQUEST", "refused") });
  const producer = fakeFlotilla(c).producer({ lingerMs: 0 });
  await producer.connect();
  await assert.rejects(producer.send({ topic: "t", messages: [{ value: "lost" }] }), (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_REQUEST");
  const acks = await producer.send({ topic: "t", messages: [{ value: "a" }, { value: "b" }] });
  assert.deepEqual(acks.map((a) => a.offset), [0n, 1n]);
  await producer.send({ topic: "t", messages: [{ value: "c" }] });
  const headers = c.logs.get("t/0")!.map((b) => readBatchHeader(b));
  assert.deepEqual(headers.map((h) => [h.producerEpoch, h.baseSequence]), [[1, 0], [1, 2]], "epoch 1 from the batch after the gap");
  const last = produces(c).at(-1)!;
  assert.equal(last.sequence, 2, "the request names the batch's sequence");
  await producer.disconnect();
});

test("producer - acks leader sends no sequences (a lost acknowledged batch would leave a gap)", async () => {
  const c = new FakeCluster({ t: 1 });
  const producer = fakeFlotilla(c).producer({ lingerMs: 0, acks: "leader" });
  await producer.connect();
  await producer.send({ topic: "t", messages: [{ value: "a" }] });
  assert.equal(produces(c)[0].producerId, undefined);
  assert.equal(readBatchHeader(c.logs.get("t/0")![0]).producerId, -1n);
  await producer.disconnect();
});

test("producer - acks none publishes and answers offset -1", async () => {
  const c = new FakeCluster({ t: 1 });
  const producer = fakeFlotilla(c).producer({ lingerMs: 0, acks: "none" });
  await producer.connect();
  assert.deepEqual(await producer.send({ topic: "t", messages: [{ value: "x" }] }), [{ topic: "t", partition: 0, offset: -1n }]);
  assert.equal(c.published.length, 1);
  await producer.disconnect();
});

test("producer - full batches fit what a broker on NATS accepts: none is refused as too large and split", async () => {
  const c = new FakeCluster({ t: 1 });
  c.maxBatchBytes = maxProducedBatchBytes(c.maxPayload);
  const producer = fakeFlotilla(c).producer({ lingerMs: 10_000, batchBytes: 4 << 20 });
  await producer.connect();
  const sending = producer.send({ topic: "t", messages: Array.from({ length: 3000 }, (_, i) => ({ value: Buffer.alloc(1024, i) })) });
  await producer.flush();
  assert.equal((await sending).length, 3000);
  const produced = c.seen.filter((s) => s.req.type === "produce").length;
  assert.equal(produced, c.logs.get("t/0")!.length, "every produce request was accepted at once");
  assert.ok(produced <= 4, `${produced} batches for 3 MiB`);
  await producer.disconnect();
});

test("producer - a batch the broker finds too large is split and sent in order", async () => {
  const c = new FakeCluster({ t: 1 });
  c.maxBatchBytes = 400;
  const producer = fakeFlotilla(c).producer({ lingerMs: 10_000, batchBytes: 2000 });
  await producer.connect();
  const sending = producer.send({ topic: "t", messages: Array.from({ length: 10 }, (_, i) => ({ value: Buffer.alloc(100, i) })) });
  await producer.flush();
  const acks = await sending;
  assert.deepEqual(acks.map((a) => a.offset), Array.from({ length: 10 }, (_, i) => BigInt(i)));
  const accepted = c.logs.get("t/0")!;
  assert.ok(accepted.length >= 4);
  const values = accepted.flatMap((b) => decodeRecords(b).map((r) => r.value![0]));
  assert.deepEqual(values, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "every record once, in order");
  c.maxBatchBytes = 100;
  const tooLarge = producer.send({ topic: "t", messages: [{ value: Buffer.alloc(200) }] });
  await producer.flush();
  await assert.rejects(tooLarge, (e: unknown) => e instanceof FlotillaError && e.code === "BATCH_TOO_LARGE");
  await producer.disconnect();
});
