import { test } from "node:test";
import assert from "node:assert/strict";
import { encode as msgpackEncode, decode as msgpackDecode } from "@msgpack/msgpack";
import * as index from "./index.js";
import * as requests from "./requests.js";
import {
  MESSAGE_OVERHEAD_BYTES,
  REQUEST_SPECS,
  REQUEST_TYPES,
  decodeRequest,
  decodeRequestOf,
  decodeResponse,
  encodeErrorResponse,
  encodeRequest,
  encodeResponse,
  fetchResponseAround,
  requestLimits,
  type FetchRequest,
  type PartitionMetadata,
  type ProduceRequest,
  type RequestMap,
  type RequestType,
  type ResponseOf,
} from "./requests.js";
import { ErrorCode, FlotillaError, type ErrorCodeName, type WireError } from "./errors.js";
import { mutate, prng, randInt, randomBytes } from "./test-util.js";

/** Hex bytes; on each line, text after `|` is a comment. */
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\|[^\n]*/g, "").replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** One record ("hi", no key) as Kafka RecordBatch v2 from producer 7, sequence 42: 70 bytes. */
const BATCH = hex(`
  0000000000000000 0000003a ffffffff 02 41bad33e | baseOffset, batchLength 58, leaderEpoch -1, magic 2, CRC
  0000 00000000 0000018bcfe56800 0000018bcfe56800 | attributes, lastOffsetDelta, timestamps
  0000000000000007 0000 0000002a 00000001         | producerId 7, epoch 0, baseSequence 42, 1 record
  10 00 00 00 01 04 6869 00                        | the record: length 8, attrs, deltas, no key, value "hi", no headers
`);
const BATCH_HEX = toHex(BATCH);
const UUID = Uint8Array.from({ length: 16 }, (_, i) => i);

const wireError = (code: ErrorCodeName, leader?: number): WireError =>
  leader === undefined ? { id: ErrorCode[code].id, message: ErrorCode[code].message } : { id: ErrorCode[code].id, message: ErrorCode[code].message, leader };

const fullPartition: PartitionMetadata = { partition: 0, leader: 1, replicas: [1, 2, 3], isr: [1, 2], highWatermark: 42n, logStartOffset: 7n };
const barePartition: PartitionMetadata = { partition: 1, replicas: [2] };
const assignment = [
  { topic: "orders", partitions: [0, 2, 4] },
  { topic: "audit.eu", partitions: [] },
];
const produce: ProduceRequest = { topic: "orders", partition: 3, acks: "all", timeoutMs: 30_000, batchId: UUID, producerId: 7n, sequence: 42, batch: BATCH };
const fetch: FetchRequest = { topic: "orders", partition: 3, offset: 2n ** 40n, maxBytes: 1 << 20, minBytes: 1, maxWaitMs: 500, consistency: "linearizable" };

/** For every message type: requests and responses covering each optional field present and absent, and an error. */
const plan = [
  { topic: "orders", partition: 0, replicas: [2, 3, 4] },
  { topic: "audit.eu", partition: 7, replicas: [4] },
];

const SAMPLES: { [K in RequestType]: { requests: RequestMap[K][]; responses: ResponseOf<K>[] } } = {
  produce: {
    requests: [produce, { topic: "t", partition: 0, acks: "none", timeoutMs: 0, batchId: UUID, batch: BATCH }, { ...produce, acks: "leader" }],
    responses: [{ baseOffset: 0n }, { baseOffset: 2n ** 63n - 1n, logAppendTimeMs: 1_700_000_000_000 }, { error: wireError("NOT_LEADER", 2) }],
  },
  fetch: {
    requests: [fetch, { ...fetch, offset: 0n, consistency: "leader", minBytes: 0, maxWaitMs: 0, maxBytes: 1 }, { ...fetch, offset: 2n ** 63n - 1n }],
    responses: [
      { highWatermark: 1235n, logStartOffset: 0n, batches: BATCH },
      { highWatermark: 5n, logStartOffset: 5n, batches: new Uint8Array(0) },
      { error: wireError("OFFSET_OUT_OF_RANGE"), highWatermark: 10n, logStartOffset: 5n },
      { error: wireError("NOT_LEADER") },
    ],
  },
  metadata: {
    requests: [{}, { topics: [] }, { topics: ["orders", "audit.eu"] }],
    responses: [
      {
        controllerLeader: 1,
        brokers: [
          { id: 1, alive: true, fenced: false },
          { id: 2, alive: false, fenced: true },
        ],
        topics: [
          { topic: "orders", partitions: [fullPartition, barePartition] },
          { topic: "audit.eu", error: wireError("UNKNOWN_TOPIC"), partitions: [] },
        ],
      },
      { brokers: [], topics: [] },
      { error: wireError("INTERNAL") },
    ],
  },
  createTopic: {
    requests: [
      { topic: "orders", partitions: 6, replicationFactor: 3, configs: { "retention.ms": "604800000", "cleanup.policy": "compact" } },
      { topic: "x", partitions: 1, replicationFactor: 1, configs: {} },
    ],
    responses: [{}, { error: wireError("TOPIC_EXISTS") }],
  },
  deleteTopic: { requests: [{ topic: "orders" }], responses: [{}, { error: wireError("UNKNOWN_TOPIC") }] },
  describeTopic: {
    requests: [{ topic: "orders" }],
    responses: [
      { description: { topic: "orders", partitions: [fullPartition, barePartition], configs: { "retention.ms": "1" } } },
      { error: wireError("UNKNOWN_TOPIC") },
    ],
  },
  listTopics: { requests: [{}], responses: [{ topics: ["orders", "audit.eu"] }, { topics: [] }, { error: wireError("TIMEOUT") }] },
  describeCluster: {
    requests: [{}],
    responses: [
      { controllerLeader: 2, brokers: [{ id: 1, alive: true, fenced: false, leaders: 3, replicas: 9 }], partitions: 9, underReplicated: 1 },
      { brokers: [], partitions: 0, underReplicated: 0 },
      { error: wireError("NOT_CONTROLLER") },
    ],
  },
  joinGroup: {
    requests: [
      { groupId: "billing", clientId: "app", topics: ["orders"], sessionTimeoutMs: 45_000, rebalanceTimeoutMs: 60_000 },
      { groupId: "billing", memberId: "m-1", clientId: "", topics: ["orders", "audit.eu"], sessionTimeoutMs: 1, rebalanceTimeoutMs: 1_800_000 },
    ],
    responses: [
      { memberId: "m-1", generation: 4, heartbeatIntervalMs: 3000, assignment },
      { memberId: "m-2", generation: 0, heartbeatIntervalMs: 1, assignment: [] },
      { error: wireError("NOT_COORDINATOR") },
    ],
  },
  heartbeat: {
    requests: [{ groupId: "billing", memberId: "m-1", generation: 4, owned: assignment }],
    responses: [{ generation: 5, heartbeatIntervalMs: 500, assignment }, { error: wireError("UNKNOWN_MEMBER") }],
  },
  leaveGroup: { requests: [{ groupId: "billing", memberId: "m-1" }], responses: [{}, { error: wireError("UNKNOWN_MEMBER") }] },
  commitOffsets: {
    requests: [
      { groupId: "billing", memberId: "m-1", generation: 4, offsets: [{ topic: "orders", partition: 0, offset: 42n }] },
      { groupId: "billing", offsets: [] },
    ],
    responses: [{}, { error: wireError("ILLEGAL_GENERATION") }],
  },
  fetchOffsets: {
    requests: [{ groupId: "billing" }, { groupId: "billing", partitions: assignment }],
    responses: [{ offsets: [{ topic: "orders", partition: 2, offset: 2n ** 62n }] }, { offsets: [] }, { error: wireError("NOT_COORDINATOR") }],
  },
  listGroups: {
    requests: [{}],
    responses: [{ groups: [{ groupId: "billing", state: "stable", members: 3 }, { groupId: "old", state: "empty", members: 0 }] }, { error: wireError("TIMEOUT") }],
  },
  describeGroup: {
    requests: [{ groupId: "billing" }],
    responses: [
      { groupId: "billing", state: "rebalancing", generation: 9, members: [{ memberId: "m-1", clientId: "app", assignment }] },
      { groupId: "gone", state: "dead", generation: 0, members: [] },
      { error: wireError("NOT_COORDINATOR") },
    ],
  },
  resetOffsets: {
    requests: [
      { groupId: "billing", topic: "orders", to: "earliest" },
      { groupId: "billing", topic: "orders", partitions: [0, 1], to: "offset", offset: 100n },
      { groupId: "billing", topic: "orders", partitions: [], to: "latest" },
    ],
    responses: [{ offsets: [{ topic: "orders", partition: 0, offset: 0n }] }, { error: wireError("REBALANCE_IN_PROGRESS") }],
  },
  reassignPartitions: {
    requests: [{ partitions: plan }, { partitions: [], throttleBytesPerSec: 10_000_000 }],
    responses: [{}, { error: wireError("INVALID_REPLICATION_FACTOR") }],
  },
  reassignmentStatus: {
    requests: [{ partitions: plan }],
    responses: [
      {
        partitions: [
          { topic: "orders", partition: 0, status: "complete", replicas: [2, 3, 4] },
          { topic: "orders", partition: 1, status: "inProgress", replicas: [1, 2, 3], target: [4, 3, 2], step: "caughtUp" },
          { topic: "orders", partition: 2, status: "notStarted", replicas: [1, 2, 3] },
        ],
      },
      { error: wireError("UNKNOWN_TOPIC") },
    ],
  },
  cancelReassignment: { requests: [{ partitions: assignment }, { partitions: [] }], responses: [{}, { error: wireError("INVALID_REQUEST") }] },
  generateReassignment: {
    requests: [{ topics: ["orders", "audit.eu"], brokers: [2, 3, 4] }],
    responses: [{ partitions: plan }, { partitions: [] }, { error: wireError("UNKNOWN_TOPIC") }],
  },
  transferLeader: { requests: [{ topic: "orders", partition: 3, to: 2 }], responses: [{}, { error: wireError("INVALID_REQUEST") }] },
  rebalanceLeaders: {
    requests: [{}],
    responses: [{ moves: [{ topic: "orders", partition: 0, from: 2, to: 1 }, { topic: "orders", partition: 1, to: 3 }] }, { moves: [] }, { error: wireError("TIMEOUT") }],
  },
  decommissionBroker: {
    requests: [{ brokerId: 4 }],
    responses: [{ partitions: plan, fenced: false }, { partitions: [], fenced: true }, { error: wireError("INVALID_REQUEST") }],
  },
};

/** Every request and response sample of every type, as [type, bytes]. */
function everyEncoding(): { type: RequestType; side: "request" | "response"; bytes: Uint8Array }[] {
  const out: { type: RequestType; side: "request" | "response"; bytes: Uint8Array }[] = [];
  for (const type of REQUEST_TYPES) {
    const s = SAMPLES[type] as { requests: unknown[]; responses: unknown[] };
    for (const r of s.requests) out.push({ type, side: "request", bytes: encodeRequest(type, r as never) });
    for (const r of s.responses) out.push({ type, side: "response", bytes: encodeResponse(type, r as never) });
  }
  return out;
}

const decodeSide = (type: RequestType, side: "request" | "response", bytes: Uint8Array, limits = requestLimits()) =>
  side === "request" ? decodeRequest(bytes, limits) : decodeResponse(type, bytes, limits);

/** Runs `fn` and returns the FlotillaError it throws; fails if it throws anything else or nothing. */
function flotillaError(fn: () => unknown): FlotillaError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlotillaError) return e;
    throw new Error(`expected a FlotillaError, got ${(e as Error).name}: ${(e as Error).message}`, { cause: e });
  }
  assert.fail("expected a FlotillaError, nothing was thrown");
}

function assertError(fn: () => unknown, code: ErrorCodeName, message: RegExp): void {
  const e = flotillaError(fn);
  assert.equal(e.code, code, `code of "${e.message}"`);
  assert.match(e.message, message);
}

/** A message built by a generic MessagePack encoder, so the tests can put anything on the wire. */
const craft = (version: unknown, typeId: unknown, body: unknown): Uint8Array => msgpackEncode([version, typeId, body], { useBigInt64: true });
const produceBody = (changes: Record<number, unknown> = {}): unknown[] => {
  const body: unknown[] = ["orders", 3, 0, 30_000, UUID, 7n, 42, BATCH];
  for (const [i, v] of Object.entries(changes)) body[Number(i)] = v;
  return body;
};
const fetchBody = (changes: Record<number, unknown> = {}): unknown[] => {
  const body: unknown[] = ["orders", 3, 0n, 1 << 20, 1, 500, 1];
  for (const [i, v] of Object.entries(changes)) body[Number(i)] = v;
  return body;
};

test("requests - round trip of every request and response of every type", () => {
  for (const type of REQUEST_TYPES) {
    const s = SAMPLES[type] as { requests: unknown[]; responses: unknown[] };
    assert.ok(s.requests.length > 0 && s.responses.some((r) => (r as { error?: unknown }).error), `${type} has samples, an error among them`);
    for (const request of s.requests) {
      const bytes = encodeRequest(type, request as never);
      assert.deepEqual(decodeRequest(bytes), { type, request }, `${type} request`);
      assert.deepEqual(decodeRequestOf(type, bytes), request);
      assert.ok(Array.isArray(msgpackDecode(bytes, { useBigInt64: true })), "standard MessagePack");
    }
    for (const response of s.responses) {
      assert.deepEqual(decodeResponse(type, encodeResponse(type, response as never)), response, `${type} response`);
    }
  }
});

test("requests - message type ids are unique and stable", () => {
  const ids = Object.fromEntries(REQUEST_TYPES.map((t) => [t, REQUEST_SPECS[t].id]));
  assert.deepEqual(ids, {
    produce: 1,
    fetch: 2,
    metadata: 3,
    createTopic: 10,
    deleteTopic: 11,
    describeTopic: 12,
    listTopics: 13,
    describeCluster: 14,
    joinGroup: 20,
    heartbeat: 21,
    leaveGroup: 22,
    commitOffsets: 23,
    fetchOffsets: 24,
    listGroups: 25,
    describeGroup: 26,
    resetOffsets: 27,
    reassignPartitions: 40,
    reassignmentStatus: 41,
    cancelReassignment: 42,
    generateReassignment: 43,
    transferLeader: 44,
    rebalanceLeaders: 45,
    decommissionBroker: 46,
  });
});

const GOLDEN = {
  produceRequest: hex(`
    93 01 01                | [version 1, type 1 = produce, body]
    98                      | body: 8 fields
    a6 6f7264657273         | topic "orders"
    03                      | partition 3
    00                      | acks "all"
    cd 7530                 | timeoutMs 30000
    c4 10 000102030405060708090a0b0c0d0e0f | batchId
    d3 0000000000000007     | producerId 7 (int64)
    2a                      | sequence 42
    c4 46 ${BATCH_HEX}      | batch, 70 bytes
  `),
  produceResponse: hex(`
    93 01 01                | [version 1, type 1, body]
    93 c0                   | body: 3 fields; no error
    d3 00000000000004d2     | baseOffset 1234 (int64)
    cf 0000018bcfe56800     | logAppendTimeMs 1700000000000
  `),
  produceError: hex(`
    93 01 01 93             | [version 1, type 1, body of 3 fields]
    93 14 aa 6e6f74206c6561646572 02 | error: [id 20 NOT_LEADER, "not leader", leader 2]
    c0 c0                   | no baseOffset, no logAppendTimeMs
  `),
  fetchRequest: hex(`
    93 01 02                | [version 1, type 2 = fetch, body]
    97                      | body: 7 fields
    a6 6f7264657273         | topic "orders"
    03                      | partition 3
    d3 0000010000000000     | offset 2^40 (int64)
    ce 00100000             | maxBytes 1 MiB
    01                      | minBytes 1
    cd 01f4                 | maxWaitMs 500
    01                      | consistency "linearizable"
  `),
  fetchResponse: hex(`
    93 01 02 94 c0          | [version 1, type 2, body of 4 fields]; no error
    d3 00000000000004d3     | highWatermark 1235
    d3 0000000000000000     | logStartOffset 0
    c4 46 ${BATCH_HEX}      | batches, 70 bytes
  `),
};

test("requests - golden bytes of produce and fetch: bytes in, object out, same bytes back", () => {
  const cases: [Uint8Array, () => Uint8Array, () => unknown, unknown][] = [
    [GOLDEN.produceRequest, () => encodeRequest("produce", produce), () => decodeRequestOf("produce", GOLDEN.produceRequest), produce],
    [
      GOLDEN.produceResponse,
      () => encodeResponse("produce", { baseOffset: 1234n, logAppendTimeMs: 1_700_000_000_000 }),
      () => decodeResponse("produce", GOLDEN.produceResponse),
      { baseOffset: 1234n, logAppendTimeMs: 1_700_000_000_000 },
    ],
    [
      GOLDEN.produceError,
      () => encodeResponse("produce", { error: { id: 20, message: "not leader", leader: 2 } }),
      () => decodeResponse("produce", GOLDEN.produceError),
      { error: { id: 20, message: "not leader", leader: 2 } },
    ],
    [GOLDEN.fetchRequest, () => encodeRequest("fetch", fetch), () => decodeRequestOf("fetch", GOLDEN.fetchRequest), fetch],
    [
      GOLDEN.fetchResponse,
      () => encodeResponse("fetch", { highWatermark: 1235n, logStartOffset: 0n, batches: BATCH }),
      () => decodeResponse("fetch", GOLDEN.fetchResponse),
      { highWatermark: 1235n, logStartOffset: 0n, batches: BATCH },
    ],
  ];
  for (const [golden, enc, dec, object] of cases) {
    assert.equal(toHex(enc()), toHex(golden));
    assert.deepEqual(dec(), object);
  }
  // Any MessagePack library reads the same thing: the offsets are int64, the batch is bin.
  assert.deepEqual(msgpackDecode(GOLDEN.fetchRequest, { useBigInt64: true }), [1, 2, ["orders", 3, 2n ** 40n, 1 << 20, 1, 500, 1]]);
});

test("requests - a decoded produce batch and fetch batches are views into the input, not copies", () => {
  const views: [Uint8Array, Uint8Array][] = [];
  const req = encodeRequest("produce", produce);
  views.push([req, decodeRequestOf("produce", req).batch]);
  const res = encodeResponse("fetch", { highWatermark: 1n, logStartOffset: 0n, batches: BATCH });
  const decoded = decodeResponse("fetch", res);
  assert.ok(decoded.error === undefined);
  views.push([res, decoded.batches]);
  for (const [input, view] of views) {
    assert.equal(view.buffer, input.buffer);
    assert.deepEqual(view, BATCH);
    input[input.length - 1] ^= 0xff; // the batch is the last field: the change shows through the view
    assert.equal(view[view.length - 1], BATCH[BATCH.length - 1] ^ 0xff);
  }
});

test("requests - decoding works from a view at any byteOffset (pooled Buffers, subarrays)", () => {
  for (const { type, side, bytes } of everyEncoding()) {
    for (const shift of [1, 3, 7]) {
      const host = new Uint8Array(bytes.length + shift + 5);
      host.set(bytes, shift);
      const view = host.subarray(shift, shift + bytes.length);
      assert.deepEqual(decodeSide(type, side, view), decodeSide(type, side, bytes), `${type} ${side} at offset ${shift}`);
    }
  }
});

test("requests - MESSAGE_OVERHEAD_BYTES bounds what a produce request and a fetch response add to their batches", () => {
  const limits = requestLimits({ maxMessageBytes: 64 * 1024 * 1024, maxBatchBytes: 64 * 1024 * 1024 });
  for (const size of [61, 255, 256, 65_535, 65_536, 1 << 20]) {
    const batch = new Uint8Array(size);
    const widest: ProduceRequest = {
      topic: "t".repeat(249),
      partition: 2 ** 31 - 1,
      acks: "none",
      timeoutMs: 300_000,
      batchId: UUID,
      producerId: 2n ** 63n - 1n,
      sequence: 2 ** 31 - 1,
      batch,
    };
    assert.ok(encodeRequest("produce", widest, limits).length - size <= MESSAGE_OVERHEAD_BYTES.produceRequest, `produce, ${size} bytes`);
    const res = encodeResponse("fetch", { highWatermark: 2n ** 63n - 1n, logStartOffset: 2n ** 63n - 1n, batches: batch }, limits);
    assert.ok(res.length - size <= MESSAGE_OVERHEAD_BYTES.fetchResponse, `fetch, ${size} bytes`);
  }
});

test("requests - fetchResponseAround: batches already in place get a header that decodes as encodeResponse's, with no copy", () => {
  const headroom = MESSAGE_OVERHEAD_BYTES.fetchResponse;
  for (const size of [0, 61, 255, 256, 65_536, 70_001]) {
    const batches = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
    const buffer = new Uint8Array(headroom + size);
    buffer.set(batches, headroom);
    const offsets = { highWatermark: 2n ** 63n - 1n, logStartOffset: 5n };
    const message = fetchResponseAround(buffer, offsets);
    assert.equal(message.buffer, buffer.buffer, "a view of the buffer");
    assert.deepEqual(decodeResponse("fetch", message), decodeResponse("fetch", encodeResponse("fetch", { ...offsets, batches })));
    assert.deepEqual(msgpackDecode(message, { useBigInt64: true }), [1, 2, [null, offsets.highWatermark, offsets.logStartOffset, batches]]);
  }
  // The same checks as the generic encoder: offsets in order, the message within the limit.
  const buffer = new Uint8Array(headroom + 1000);
  assert.throws(() => fetchResponseAround(buffer, { highWatermark: 1n, logStartOffset: 2n }), (e: FlotillaError) => e.code === "INVALID_REQUEST");
  const small = requestLimits({ maxMessageBytes: 1000, maxBatchBytes: 1000 });
  assert.throws(() => fetchResponseAround(buffer, { highWatermark: 1n, logStartOffset: 0n }, small), (e: FlotillaError) => e.code === "INVALID_REQUEST");
  assert.throws(() => fetchResponseAround(new Uint8Array(headroom - 1), { highWatermark: 1n, logStartOffset: 0n }), /cannot hold/);
});

test("requests - specific bad inputs each give their own error", () => {
  const p = REQUEST_SPECS.produce.id;
  const f = REQUEST_SPECS.fetch.id;
  const cases: [string, Uint8Array, ErrorCodeName, RegExp][] = [
    ["negative offset (int64)", craft(1, f, fetchBody({ 2: -1n })), "INVALID_REQUEST", /^fetch request: offset: -1 is negative$/],
    ["negative offset (fixint)", craft(1, f, fetchBody({ 2: -5 })), "INVALID_REQUEST", /^fetch request: offset: -5 is negative$/],
    ["offset 2^63", craft(1, f, fetchBody({ 2: 2n ** 63n })), "INVALID_REQUEST", /^fetch request: offset: 9223372036854775808 is above 2\^63 - 1$/],
    ["offset 2^64 - 1", craft(1, f, fetchBody({ 2: 2n ** 64n - 1n })), "INVALID_REQUEST", /offset: 18446744073709551615 is above/],
    ["offset as a string", craft(1, f, fetchBody({ 2: "0" })), "INVALID_REQUEST", /^fetch request: offset: expected an integer/],
    ["partition -1", craft(1, p, produceBody({ 1: -1 })), "INVALID_REQUEST", /^produce request: partition: -1 is not in \[0, 2147483647\]$/],
    ["partition 2^31", craft(1, f, fetchBody({ 1: 2 ** 31 })), "INVALID_REQUEST", /^fetch request: partition: 2147483648 is not in/],
    ["maxBytes 0", craft(1, f, fetchBody({ 3: 0 })), "INVALID_REQUEST", /^fetch request: maxBytes: 0 is not an integer in \[1, /],
    ["minBytes above maxBytes", craft(1, f, fetchBody({ 3: 10, 4: 11 })), "INVALID_REQUEST", /minBytes 11 is above maxBytes 10/],
    ["maxWaitMs of an hour", craft(1, f, fetchBody({ 5: 3_600_000 })), "INVALID_REQUEST", /^fetch request: maxWaitMs: 3600000 is not in \[0, 300000\]$/],
    ["unknown consistency", craft(1, f, fetchBody({ 6: 7 })), "INVALID_REQUEST", /consistency: unknown value 7/],
    ["empty topic", craft(1, p, produceBody({ 0: "" })), "INVALID_TOPIC", /^produce request: topic: empty$/],
    ["illegal topic", craft(1, f, fetchBody({ 0: "a/b" })), "INVALID_TOPIC", /^fetch request: topic: topic name "a\/b" may contain only/],
    ["topic '..'", craft(1, f, fetchBody({ 0: ".." })), "INVALID_TOPIC", /topic name "\.\." is not allowed/],
    ["topic of 250 characters", craft(1, f, fetchBody({ 0: "t".repeat(250) })), "INVALID_TOPIC", /topic: 250 bytes, at most 249/],
    ["batchId of 15 bytes", craft(1, p, produceBody({ 4: UUID.subarray(1) })), "INVALID_REQUEST", /batchId: 15 bytes, at least 16/],
    ["batch shorter than a header", craft(1, p, produceBody({ 7: BATCH.subarray(0, 60) })), "CORRUPT_BATCH", /batch: 60 bytes, at least 61/],
    ["producerId without sequence", craft(1, p, produceBody({ 6: null })), "INVALID_REQUEST", /producerId and sequence go together/],
    ["unknown acks", craft(1, p, produceBody({ 2: 3 })), "INVALID_REQUEST", /acks: unknown value 3/],
    ["wrong version", craft(2, p, produceBody()), "UNSUPPORTED_VERSION", /^produce request: version 2; this side speaks version 1$/],
    ["version 0", craft(0, f, fetchBody()), "UNSUPPORTED_VERSION", /version 0/],
    ["unknown type", craft(1, 99, []), "UNSUPPORTED_VERSION", /^request: unknown request type 99/],
    ["error reply as a request", craft(1, 0, []), "UNSUPPORTED_VERSION", /unknown request type 0/],
    ["version as a string", craft("1", p, produceBody()), "INVALID_REQUEST", /^request: version: expected an integer/],
    ["body one field short", craft(1, p, produceBody().slice(0, 7)), "INVALID_REQUEST", /^produce request: message: array of 7 elements, expected 8$/],
    ["four elements in the envelope", msgpackEncode([1, p, produceBody(), 0], { useBigInt64: true }), "INVALID_REQUEST", /envelope: array of 4 elements, expected 3/],
    ["a map, not an array", msgpackEncode({ version: 1 }), "INVALID_REQUEST", /^request: envelope: expected an array, found a map$/],
    ["malformed msgpack (0xc1)", hex("93 01 01 c1"), "INVALID_REQUEST", /found the unused byte 0xc1/],
    ["empty input", new Uint8Array(0), "INVALID_REQUEST", /^request: envelope: truncated/],
    ["trailing bytes", Uint8Array.from([...GOLDEN.fetchRequest, 0]), "INVALID_REQUEST", /^fetch request: 1 bytes after the end/],
    ["truncated batch bytes", GOLDEN.produceRequest.subarray(0, GOLDEN.produceRequest.length - 1), "INVALID_REQUEST", /^produce request: batch: truncated/],
  ];
  for (const [name, bytes, code, message] of cases) {
    const e = flotillaError(() => decodeRequest(bytes));
    assert.equal(e.code, code, `${name}: code of "${e.message}"`);
    assert.match(e.message, message, name);
  }
});

test("requests - size limits: oversized batches and messages are refused at both ends", () => {
  const big = { ...produce, batch: new Uint8Array(2000) };
  const tight = requestLimits({ maxMessageBytes: 4096, maxBatchBytes: 1024 });
  assertError(() => encodeRequest("produce", big, tight), "BATCH_TOO_LARGE", /^produce request: batch: 2000 bytes, at most 1024 allowed$/);
  const bytes = encodeRequest("produce", big);
  assertError(() => decodeRequest(bytes, tight), "BATCH_TOO_LARGE", /^produce request: batch: 2000 bytes, at most 1024 allowed$/);
  // Over the message limit: a produce request says BATCH_TOO_LARGE, others INVALID_REQUEST; checked before the body is read.
  const small = requestLimits({ maxMessageBytes: 1024, maxBatchBytes: 1024 });
  assertError(() => decodeRequest(bytes, small), "BATCH_TOO_LARGE", new RegExp(`^produce request: ${bytes.length} bytes, at most 1024 allowed$`));
  const manyTopics = { topics: Array.from({ length: 200 }, (_, i) => `topic-${i}`) };
  assertError(() => encodeRequest("metadata", manyTopics, small), "INVALID_REQUEST", /^metadata request: encodes to \d+ bytes, at most 1024 allowed$/);
  assertError(() => decodeRequest(encodeRequest("metadata", manyTopics), small), "INVALID_REQUEST", /^metadata request: \d+ bytes, at most 1024/);
  assertError(() => decodeResponse("fetch", encodeResponse("fetch", { highWatermark: 0n, logStartOffset: 0n, batches: new Uint8Array(2000) }), small), "INVALID_REQUEST", /^fetch response: \d+ bytes, at most 1024/);
  // An array header may not claim more elements than there are bytes left.
  assertError(() => decodeRequest(hex("93 01 03 91 dd 7fffffff")), "INVALID_REQUEST", /topics: array of 2147483647 elements/);
  assert.throws(() => requestLimits({ maxMessageBytes: 0, maxBatchBytes: 2 ** 30 }), /maxMessageBytes 0 .*; maxBatchBytes 1073741824/);
});

test("requests - encoders check what decoders check, so a buggy client fails at the sender", () => {
  const cases: [string, () => unknown, ErrorCodeName, RegExp][] = [
    ["partition -1", () => encodeRequest("produce", { ...produce, partition: -1 }), "INVALID_REQUEST", /^produce request: partition: -1 is not an integer in \[0, 2147483647\]$/],
    ["partition 1.5", () => encodeRequest("fetch", { ...fetch, partition: 1.5 }), "INVALID_REQUEST", /partition: 1.5 is not an integer/],
    ["offset as a number", () => encodeRequest("fetch", { ...fetch, offset: 5 as unknown as bigint }), "INVALID_REQUEST", /^fetch request: offset: 5 is not a bigint in \[0, 2\^63 - 1\]$/],
    ["negative offset", () => encodeRequest("fetch", { ...fetch, offset: -1n }), "INVALID_REQUEST", /offset: -1n is not a bigint/],
    ["offset 2^63", () => encodeRequest("fetch", { ...fetch, offset: 2n ** 63n }), "INVALID_REQUEST", /offset: 9223372036854775808n is not/],
    ["empty topic", () => encodeRequest("fetch", { ...fetch, topic: "" }), "INVALID_TOPIC", /^fetch request: topic: empty$/],
    ["missing field", () => encodeRequest("fetch", { ...fetch, consistency: undefined } as never), "INVALID_REQUEST", /^fetch request: consistency: missing$/],
    ["sequence without producerId", () => encodeRequest("produce", { ...produce, producerId: undefined }), "INVALID_REQUEST", /producerId and sequence go together/],
    ["batch not bytes", () => encodeRequest("produce", { ...produce, batch: [1, 2] as never }), "INVALID_REQUEST", /batch: an array is not a Uint8Array/],
    ["reset to an offset without one", () => encodeRequest("resetOffsets", { groupId: "g", topic: "t", to: "offset" }), "INVALID_REQUEST", /offset must be given exactly when to is "offset"/],
    ["bad config key", () => encodeRequest("createTopic", { topic: "t", partitions: 1, replicationFactor: 1, configs: { "a b": "1" } }), "INVALID_CONFIG", /configs\[0\]\.key: "a b" does not match/],
    ["configs as a Map", () => encodeRequest("createTopic", { topic: "t", partitions: 1, replicationFactor: 1, configs: new Map() as never }), "INVALID_REQUEST", /configs: an object is not a plain object/],
    ["replication factor 0", () => encodeRequest("createTopic", { topic: "t", partitions: 1, replicationFactor: 0, configs: {} }), "INVALID_REQUEST", /replicationFactor: 0 is not an integer in \[1, 64\]/],
    ["nested path", () => encodeResponse("metadata", { brokers: [], topics: [{ topic: "t", partitions: [fullPartition, { ...barePartition, replicas: [1, 0] }] }] }), "INVALID_REQUEST", /^metadata response: topics\[0\]\.partitions\[1\]\.replicas\[1\]: 0 is not an integer in \[1, /],
    ["success missing a field", () => encodeResponse("produce", {} as never), "INVALID_REQUEST", /^produce response: message: baseOffset is missing \(required when there is no error\)$/],
    ["logStartOffset above highWatermark", () => encodeResponse("fetch", { highWatermark: 1n, logStartOffset: 2n, batches: new Uint8Array(0) }), "INVALID_REQUEST", /logStartOffset 2 is above highWatermark 1/],
    ["unknown request type", () => encodeRequest("nope" as never, {} as never), "INVALID_REQUEST", /unknown request type "nope"/],
    ["not an object", () => encodeRequest("metadata", null as never), "INVALID_REQUEST", /^metadata request: message: null is not an object$/],
  ];
  for (const [name, fn, code, message] of cases) {
    const e = flotillaError(fn);
    assert.equal(e.code, code, `${name}: code of "${e.message}"`);
    assert.match(e.message, message, name);
  }
});

test("requests - responses: an error reply decodes as any type's { error }; types are checked", () => {
  const reply = encodeErrorResponse(new FlotillaError("NOT_LEADER", "leader moved", { leader: 3 }));
  for (const type of REQUEST_TYPES) assert.deepEqual(decodeResponse(type, reply), { error: { id: 20, message: "leader moved", leader: 3 } });
  const e = FlotillaError.fromWire(decodeResponse("produce", reply).error!);
  assert.equal(e.code, "NOT_LEADER");
  assert.equal(e.leader, 3);
  // A long message is cut, never refused.
  const long = decodeResponse("fetch", encodeErrorResponse({ id: 1, message: "x".repeat(100_000) }));
  assert.ok(long.error && long.error.message.length < 5000);
  assertError(() => decodeResponse("fetch", encodeResponse("produce", { baseOffset: 1n })), "INVALID_REQUEST", /^response: expected a fetch response, got a produce response$/);
  assertError(() => decodeRequestOf("fetch", encodeRequest("produce", produce)), "INVALID_REQUEST", /^expected a fetch request, got a produce request$/);
  assertError(() => decodeResponse("produce", craft(1, 1, [null, null, null])), "INVALID_REQUEST", /baseOffset is missing/);
  assertError(() => decodeResponse("produce", craft(2, 1, [null, 1n, null])), "UNSUPPORTED_VERSION", /produce response: version 2/);
  // Narrowing: without an error, the required fields are there.
  const ok = decodeResponse("produce", encodeResponse("produce", { baseOffset: 9n }));
  if (ok.error === undefined) assert.equal(ok.baseOffset + 1n, 10n);
  else assert.fail("no error expected");
});

test("requests - topic configs: unique keys, '__proto__' is a plain key", () => {
  const configs = Object.fromEntries([["__proto__", "x"], ["a.b", ""]]) as Record<string, string>;
  const req = { topic: "t", partitions: 1, replicationFactor: 1, configs };
  const decoded = decodeRequestOf("createTopic", encodeRequest("createTopic", req));
  assert.deepEqual(decoded, req);
  assert.equal(Object.getPrototypeOf(decoded.configs), Object.prototype);
  assert.ok(Object.hasOwn(decoded.configs, "__proto__"));
  const dup = craft(1, REQUEST_SPECS.createTopic.id, ["t", 1, 1, [["a", "1"], ["a", "2"]]]);
  assertError(() => decodeRequest(dup), "INVALID_REQUEST", /^createTopic request: configs: key "a" appears twice$/);
});

const DECODE_CODES = new Set<ErrorCodeName>(["INVALID_REQUEST", "UNSUPPORTED_VERSION", "INVALID_TOPIC", "BATCH_TOO_LARGE", "CORRUPT_BATCH", "INVALID_CONFIG"]);

/**
 * Decodes `input`; a failure must be a FlotillaError with a decoding code, and a success must be a
 * whole, valid object: it encodes again (the encoder's checks pass) and decodes to the same thing.
 */
function decodeFuzzed(type: RequestType, side: "request" | "response", input: Uint8Array, seed: number): void {
  let decoded: unknown;
  try {
    decoded = decodeSide(type, side, input);
  } catch (e) {
    if (e instanceof FlotillaError && DECODE_CODES.has(e.code) && e.message.length > 0) return;
    throw new Error(`seed ${seed}, ${type} ${side}: ${(e as Error).name}: ${(e as Error).message} on input ${toHex(input)}`, { cause: e });
  }
  const again =
    side === "request"
      ? decodeRequest(encodeRequest((decoded as { type: RequestType }).type, (decoded as { request: never }).request))
      : decodeResponse(type, encodeResponse(type, decoded as never));
  assert.deepEqual(again, decoded, `seed ${seed}: a decoded ${type} ${side} re-encodes to itself`);
}

const WEIRD: unknown[] = [-1, -1n, 0, 2 ** 31, 2 ** 53, 2n ** 63n, 2n ** 64n - 1n, 1.5, NaN, "", "x".repeat(300), "a/b", null, true, [], {}, new Uint8Array(0), new Uint8Array(70), [null], [-1]];

/** Replaces one random node of a decoded MessagePack tree by a weird value, or drops/duplicates an array element. */
function mutateTree(rand: () => number, tree: unknown): unknown {
  if (!Array.isArray(tree) || tree.length === 0 || rand() < 0.3) {
    if (Array.isArray(tree) && rand() < 0.5) {
      const copy = [...tree];
      if (copy.length > 0 && rand() < 0.5) copy.splice(randInt(rand, copy.length), 1);
      else copy.push(WEIRD[randInt(rand, WEIRD.length)]);
      return copy;
    }
    return WEIRD[randInt(rand, WEIRD.length)];
  }
  const copy = [...tree];
  const i = randInt(rand, copy.length);
  copy[i] = mutateTree(rand, copy[i]);
  return copy;
}

test("requests - fuzz: random, mutated and re-shaped inputs to every decoder only raise FlotillaError", () => {
  const encodings = everyEncoding();
  // Every loop in the decoders is bounded by the input's length, so none can hang; tests do not time.
  let runs = 0;
  const fuzz = (type: RequestType, side: "request" | "response", input: Uint8Array, seed: number) => {
    decodeFuzzed(type, side, input, seed);
    runs++;
  };
  for (let seed = 1; seed <= 60; seed++) {
    const rand = prng(seed);
    for (const { type, side, bytes } of encodings) {
      fuzz(type, side, mutate(rand, bytes), seed);
      const tree = msgpackDecode(bytes, { useBigInt64: true });
      fuzz(type, side, msgpackEncode(mutateTree(rand, tree), { useBigInt64: true }), seed);
    }
    for (const type of REQUEST_TYPES) {
      for (const side of ["request", "response"] as const) {
        fuzz(type, side, randomBytes(rand, randInt(rand, 64)), seed);
        // A valid envelope around random bytes reaches the body decoder.
        const head = side === "request" || rand() < 0.5 ? [0x93, 0x01, REQUEST_SPECS[type].id] : [0x93, 0x01, 0x00];
        fuzz(type, side, Uint8Array.from([...head, ...randomBytes(rand, randInt(rand, 48))]), seed);
      }
    }
  }
  assert.ok(runs > 5000, `${runs} inputs`);
});

test("requests - index.ts re-exports every runtime export of requests.ts", () => {
  for (const [name, value] of Object.entries(requests)) {
    assert.equal((index as Record<string, unknown>)[name], value, `requests.ts ${name} is re-exported by index.ts`);
  }
});
