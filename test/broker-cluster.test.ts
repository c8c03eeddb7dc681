/**
 * Broker - a 3-broker cluster in this process over a real nats-server (NatsTransport for Raft,
 * protocol/requests.ts on the wire): controller election and registration, topic create/describe,
 * produce and fetch over NATS, bad input answered with clear errors while the brokers keep serving.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { encode as encodeMsgpack } from "@msgpack/msgpack";
import { FlotillaError } from "../protocol/errors.js";
import { decodeRecords, encodeRecordBatch, iterateBatches } from "../protocol/record-batch.js";
import { decodeRequest, decodeResponse, encodeRequest } from "../protocol/requests.js";
import { subjects } from "../protocol/subjects.js";
import { Broker } from "../broker/server/index.js";
import { CLUSTER, RawClient, brokerOptions, eventually, natsAndDir, startBrokers, type TestNats } from "./broker-fixtures.js";

describe("broker - a 3-broker cluster over NATS", () => {
  let env: TestNats;
  let brokers: Broker[] = [];
  let client: RawClient;

  before(async () => {
    env = await natsAndDir();
    brokers = await startBrokers(env, [1, 2, 3]);
    client = await RawClient.connect(env.server.url);
  });

  after(async () => {
    await client?.close();
    await Promise.all(brokers.map((b) => b.stop()));
    await env?.close();
  });

  it("elects a controller and registers every broker (alive, unfenced)", async () => {
    const cluster = await eventually("3 alive unfenced brokers", async () => {
      const d = await client.admin("describeCluster", {});
      return d.controllerLeader !== undefined && d.brokers.length === 3 && d.brokers.every((b) => b.alive && !b.fenced) ? d : undefined;
    });
    assert.deepEqual(cluster.brokers.map((b) => b.id), [1, 2, 3]);
    assert.ok([1, 2, 3].includes(cluster.controllerLeader!));
  });

  it("creates a topic of 3 partitions, RF 3, and every partition gets a leader", async () => {
    await client.admin("createTopic", { topic: "orders", partitions: 3, replicationFactor: 3, configs: {} }, 20_000);
    const d = await eventually("a leader for every partition", async () => {
      const r = await client.admin("describeTopic", { topic: "orders" });
      return r.description.partitions.length === 3 && r.description.partitions.every((p) => p.leader !== undefined) ? r.description : undefined;
    });
    for (const p of d.partitions) assert.deepEqual([...p.replicas].sort(), [1, 2, 3]);
    assert.deepEqual((await client.admin("listTopics", {})).topics, ["orders"]);
    const again = await client.call("createTopic", subjects.admin(CLUSTER), { topic: "orders", partitions: 1, replicationFactor: 1, configs: {} });
    assert.equal(again.error && FlotillaError.fromWire(again.error).code, "TOPIC_EXISTS");
  });

  it("produces over NATS and fetches back the same bytes at the right offsets", async () => {
    const produced: Array<{ partition: number; offset: bigint; value: string }> = [];
    for (let i = 0; i < 30; i++) {
      const partition = i % 3;
      const value = `record-${i}`;
      const batch = encodeRecordBatch([{ key: null, value: Buffer.from(value) }]);
      const res = await eventually("produce accepted", async () => {
        const r = await client.call("produce", subjects.produce(CLUSTER, "orders", partition), {
          topic: "orders",
          partition,
          acks: "all",
          timeoutMs: 10_000,
          batchId: randomBytes(16),
          batch,
        });
        if (r.error) throw FlotillaError.fromWire(r.error);
        return r;
      });
      produced.push({ partition, offset: res.baseOffset, value });
    }
    for (let partition = 0; partition < 3; partition++) {
      const mine = produced.filter((p) => p.partition === partition);
      assert.deepEqual(mine.map((p) => p.offset), mine.map((_, i) => BigInt(i)), "offsets are dense from 0 per partition");
      const res = await client.ok("fetch", subjects.fetch(CLUSTER, "orders", partition), {
        topic: "orders",
        partition,
        offset: 0n,
        maxBytes: 1 << 20,
        minBytes: 1,
        maxWaitMs: 1000,
        consistency: "leader",
      });
      assert.equal(res.highWatermark, BigInt(mine.length));
      const got: Array<{ offset: bigint; value: string }> = [];
      for (const span of iterateBatches(res.batches)) {
        for (const r of decodeRecords(res.batches.subarray(span.at, span.at + span.size))) got.push({ offset: r.offset, value: Buffer.from(r.value!).toString() });
      }
      assert.deepEqual(got, mine.map((p) => ({ offset: p.offset, value: p.value })));
    }
    // A retry of one batch id lands once.
    const batchId = randomBytes(16);
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from("once") }]);
    const req = { topic: "orders", partition: 0, acks: "all" as const, timeoutMs: 10_000, batchId, batch };
    const first = await client.ok("produce", subjects.produce(CLUSTER, "orders", 0), req);
    const second = await client.ok("produce", subjects.produce(CLUSTER, "orders", 0), req);
    assert.equal(second.baseOffset, first.baseOffset);
  });

  it("answers malformed and wrong requests with clear errors, appends nothing, and keeps serving", async () => {
    const produceSubject = subjects.produce(CLUSTER, "orders", 1);
    const fetchReq = { topic: "orders", partition: 1, offset: 0n, maxBytes: 1 << 20, minBytes: 0, maxWaitMs: 0, consistency: "leader" as const };
    const before = await client.ok("fetch", subjects.fetch(CLUSTER, "orders", 1), fetchReq);
    const codeOf = async (subject: string, bytes: Uint8Array): Promise<string> => {
      const r = decodeResponse("produce", await client.send(subject, bytes));
      assert.ok(r.error, "an error reply");
      const e = FlotillaError.fromWire(r.error);
      assert.ok(e.message.length > 0);
      return e.code;
    };
    // Garbage, valid msgpack of the wrong shape, an unknown type.
    assert.equal(await codeOf(produceSubject, Buffer.from("not msgpack at all")), "INVALID_REQUEST");
    assert.equal(await codeOf(produceSubject, encodeMsgpack([1, 1, ["x"]])), "INVALID_REQUEST");
    assert.equal(await codeOf(produceSubject, encodeMsgpack([1, 999, []])), "UNSUPPORTED_VERSION");
    // A batch whose CRC is wrong.
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from("corrupt me") }]);
    batch[batch.length - 1] ^= 0xff;
    const corrupt = encodeRequest("produce", { topic: "orders", partition: 1, acks: "all", timeoutMs: 5000, batchId: randomBytes(16), batch });
    assert.equal(await codeOf(produceSubject, corrupt), "CORRUPT_BATCH");
    // The request names another partition than its subject.
    const good = encodeRecordBatch([{ key: null, value: Buffer.from("x") }]);
    const misrouted = encodeRequest("produce", { topic: "orders", partition: 2, acks: "all", timeoutMs: 5000, batchId: randomBytes(16), batch: good });
    assert.equal(await codeOf(produceSubject, misrouted), "INVALID_REQUEST");
    // Admin: an unknown topic, a fetch beyond the high watermark.
    const unknown = await client.call("describeTopic", subjects.admin(CLUSTER), { topic: "nope" });
    assert.equal(unknown.error && FlotillaError.fromWire(unknown.error).code, "UNKNOWN_TOPIC");
    const far = await client.call("fetch", subjects.fetch(CLUSTER, "orders", 1), { ...fetchReq, offset: 1_000_000n });
    assert.equal(far.error && FlotillaError.fromWire(far.error).code, "OFFSET_OUT_OF_RANGE");
    assert.equal(far.highWatermark, before.highWatermark);
    const garbageAdmin = decodeResponse("describeCluster", await client.send(subjects.admin(CLUSTER), Buffer.from("not msgpack at all")));
    assert.equal(garbageAdmin.error && FlotillaError.fromWire(garbageAdmin.error).code, "INVALID_REQUEST");
    // Nothing was appended, and the partition still takes records.
    const after = await client.ok("fetch", subjects.fetch(CLUSTER, "orders", 1), fetchReq);
    assert.equal(after.highWatermark, before.highWatermark);
    const ok = await client.ok("produce", produceSubject, { topic: "orders", partition: 1, acks: "all", timeoutMs: 5000, batchId: randomBytes(16), batch: good });
    assert.equal(ok.baseOffset, before.highWatermark);
  });

  /** Whether `bytes` decode to a valid request that the broker answers late or never, by design. */
  function answeredLate(bytes: Uint8Array): boolean {
    try {
      const { type, request } = decodeRequest(bytes);
      if (type === "produce") return request.acks === "none" || request.timeoutMs > 2000;
      if (type === "fetch") return request.maxWaitMs > 1000;
      return false;
    } catch {
      return false; // refused at once with an error: must be answered
    }
  }

  it("survives thousands of random and mutated requests (never INTERNAL, always an answer)", async () => {
    const produceSubject = subjects.produce(CLUSTER, "orders", 2);
    const fetchSubject = subjects.fetch(CLUSTER, "orders", 2);
    const batch = encodeRecordBatch([{ key: Buffer.from("k"), value: Buffer.from("fuzz") }]);
    const seeds: Array<[string, Uint8Array, "produce" | "fetch" | "describeTopic"]> = [
      [produceSubject, encodeRequest("produce", { topic: "orders", partition: 2, acks: "all", timeoutMs: 2000, batchId: randomBytes(16), batch }), "produce"],
      [fetchSubject, encodeRequest("fetch", { topic: "orders", partition: 2, offset: 0n, maxBytes: 4096, minBytes: 0, maxWaitMs: 0, consistency: "leader" }), "fetch"],
      [subjects.admin(CLUSTER), encodeRequest("describeTopic", { topic: "zzzz" }), "describeTopic"],
      // Follower fetch (broker 1 hosts a replica of orders/2, leader or not), and an idempotent producer's batch.
      [subjects.replicaFetch(CLUSTER, "orders", 2, 1), encodeRequest("fetch", { topic: "orders", partition: 2, offset: 0n, maxBytes: 4096, minBytes: 0, maxWaitMs: 0, consistency: "leader" }), "fetch"],
      [
        produceSubject,
        encodeRequest("produce", {
          topic: "orders",
          partition: 2,
          acks: "all",
          timeoutMs: 2000,
          batchId: randomBytes(16),
          producerId: 9n,
          sequence: 0,
          batch: encodeRecordBatch([{ key: null, value: Buffer.from("fuzz") }], { producerId: 9n, producerEpoch: 0, baseSequence: 0 }),
        }),
        "produce",
      ],
    ];
    const codes = new Map<string, number>();
    let n = 0;
    for (let round = 0; round < 20; round++) {
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          const [subject, seed, type] = seeds[n++ % seeds.length];
          let bytes: Uint8Array;
          const pick = Math.random();
          if (pick < 0.2) bytes = randomBytes(Math.floor(Math.random() * 300));
          else if (pick < 0.4) bytes = seed.subarray(0, Math.floor(Math.random() * seed.length));
          else {
            bytes = Buffer.from(seed);
            for (let k = 1 + Math.floor(Math.random() * 3); k > 0; k--) bytes[Math.floor(Math.random() * bytes.length)] = Math.floor(Math.random() * 256);
          }
          // A mutation can turn a seed into a valid request that is, by design, not answered
          // promptly (acks=none: never; a long poll: after maxWaitMs). Those prove nothing here.
          if (answeredLate(bytes)) return;
          const r = decodeResponse(type, await client.send(subject, bytes, 10_000));
          const code = r.error ? FlotillaError.fromWire(r.error).code : "ok";
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }),
      );
    }
    assert.equal(codes.get("INTERNAL"), undefined, `no internal errors: ${JSON.stringify([...codes])}`);
    assert.ok((codes.get("INVALID_REQUEST") ?? 0) > 0);
    // Still serving.
    const ok = await client.ok("produce", produceSubject, { topic: "orders", partition: 2, acks: "all", timeoutMs: 5000, batchId: randomBytes(16), batch });
    assert.ok(ok.baseOffset >= 10n);
  });

  it("deletes a topic's replicas everywhere, and a re-created topic of the same name starts empty", async () => {
    const produceOne = async (value: string): Promise<bigint> =>
      eventually("produce to temp", () =>
        client.ok("produce", subjects.produce(CLUSTER, "temp", 0), { topic: "temp", partition: 0, acks: "all", timeoutMs: 5000, batchId: randomBytes(16), batch: encodeRecordBatch([{ key: null, value: Buffer.from(value) }]) }),
      ).then((r) => r.baseOffset);
    const hosting = (): number => brokers.filter((b) => b.replicaStatus().some((r) => r.topic === "temp")).length;
    await client.admin("createTopic", { topic: "temp", partitions: 1, replicationFactor: 3, configs: {} }, 20_000);
    assert.equal(await produceOne("a"), 0n);
    assert.equal(await produceOne("b"), 1n);
    await client.admin("deleteTopic", { topic: "temp" }, 20_000);
    await eventually("no broker hosts temp", () => (hosting() === 0 ? true : undefined));
    const gone = await client.call("describeTopic", subjects.admin(CLUSTER), { topic: "temp" });
    assert.equal(gone.error && FlotillaError.fromWire(gone.error).code, "UNKNOWN_TOPIC");
    await client.admin("createTopic", { topic: "temp", partitions: 1, replicationFactor: 3, configs: {} }, 20_000);
    assert.equal(await produceOne("c"), 0n, "the new topic's log starts at 0");
    const r = await client.ok("fetch", subjects.fetch(CLUSTER, "temp", 0), { topic: "temp", partition: 0, offset: 0n, maxBytes: 1 << 20, minBytes: 0, maxWaitMs: 0, consistency: "leader" });
    assert.deepEqual(decodeRecords(r.batches).map((x) => Buffer.from(x.value!).toString()), ["c"]);
  });

  it("a broker that is not a controller follows the metadata log over NATS and hosts replicas", async () => {
    const observer = await Broker.start(brokerOptions(env, 4, [1, 2, 3], { metricsPort: 0 }));
    brokers.push(observer);
    await eventually("4 alive unfenced brokers", async () => {
      const d = await client.admin("describeCluster", {});
      return d.brokers.length === 4 && d.brokers.every((b) => b.alive && !b.fenced) ? d : undefined;
    });
    assert.ok(observer.metadataImage.topic("orders"), "the observer applied the metadata log");
    await client.admin("createTopic", { topic: "wide", partitions: 4, replicationFactor: 4, configs: {} }, 20_000);
    await eventually("the observer hosts wide's partitions", () => (observer.replicaStatus().filter((r) => r.topic === "wide").length === 4 ? true : undefined));
    const d = await eventually("a leader for every partition of wide", async () => {
      const r = await client.admin("describeTopic", { topic: "wide" });
      return r.description.partitions.every((p) => p.leader !== undefined) ? r.description : undefined;
    });
    assert.equal(d.partitions.length, 4);
    // Its metrics are served over HTTP.
    const res = await fetch(`http://127.0.0.1:${observer.metricsPort}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /flotilla_metadata_applied_index\{broker="4"\} [1-9]/);
    assert.match(text, /flotilla_partitions\{role="follower",broker="4"\}|flotilla_partitions\{broker="4",role="follower"\}/);
  });

  it("a broker whose disk was wiped comes back RECOVERING (no votes with an empty log) and catches up", async () => {
    const observer = brokers.find((b) => b.id === 4)!;
    const hw = await client.ok("produce", subjects.produce(CLUSTER, "wide", 0), {
      topic: "wide",
      partition: 0,
      acks: "all",
      timeoutMs: 5000,
      batchId: randomBytes(16),
      batch: encodeRecordBatch([{ key: null, value: Buffer.from("before the wipe") }]),
    });
    await observer.stop();
    brokers = brokers.filter((b) => b !== observer);
    await rm(brokerOptions(env, 4, [1, 2, 3]).dir, { recursive: true, force: true });
    const lines: string[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => void lines.push(line) });
    const reborn = await Broker.start(brokerOptions(env, 4, [1, 2, 3], { logger }));
    brokers.push(reborn);
    // Nothing more is written: the leaders' heartbeats alone bring the idle replicas back.
    await eventually("the wiped broker's replicas caught up", () => {
      const wide = reborn.replicaStatus().filter((r) => r.topic === "wide");
      return wide.length === 4 && wide.every((r) => !r.recovering) && wide.find((r) => r.partition === 0)!.highWatermark > hw.baseOffset ? true : undefined;
    }, 60_000, 500);
    const recovering = lines.filter((l) => l.includes("recovering (no votes, no campaigns)"));
    assert.equal(recovering.length, 4, "each of its 4 replicas started RECOVERING");
  });

  it("a controller whose disk was wiped reopens the metadata log RECOVERING, not as new, and catches up without a write", async () => {
    const d = await client.admin("describeCluster", {});
    const victim = brokers.find((b) => b.id !== d.controllerLeader && b.id <= 3)!;
    const leader = brokers.find((b) => b.id === d.controllerLeader)!;
    await victim.stop();
    brokers = brokers.filter((b) => b !== victim);
    await rm(brokerOptions(env, victim.id, [1, 2, 3]).dir, { recursive: true, force: true });
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const reborn = await Broker.start(brokerOptions(env, victim.id, [1, 2, 3], { logger }));
    brokers.push(reborn);
    const metadataLines = (text: string): string[] => lines.filter((l) => l.includes("__cluster_metadata") && l.includes(text));
    assert.equal(metadataLines("recovering (no votes, no campaigns)").length, 1, "the metadata replica opened RECOVERING");
    await eventually("the metadata replica caught up and votes again", () => (metadataLines("caught up after losing state").length === 1 ? true : undefined), 60_000, 200);
    await eventually("the reborn controller's image caught up", () => (reborn.metadataAppliedIndex >= leader.metadataAppliedIndex ? true : undefined), 30_000);
  });

  it("serves Prometheus metrics from its own registry", async () => {
    const text = await brokers[0].metrics.registry.metrics();
    assert.match(text, /flotilla_requests_total/);
    assert.match(text, /flotilla_raft_term\{[^}]*topic="orders"/);
    assert.match(text, /flotilla_fsync_cycle_duration_seconds_bucket/);
  });
});
