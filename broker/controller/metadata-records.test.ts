import { test } from "node:test";
import assert from "node:assert/strict";
import { decode as msgpackDecode } from "@msgpack/msgpack";
import { DecodeError } from "../../protocol/decode-error.js";
import { mutate, onlyDecodeErrors, prng, randInt } from "../../protocol/test-util.js";
import {
  METADATA_RECORD_VERSION,
  REASSIGNMENT_PHASES,
  decodeMetadataRecord,
  encodeMetadataRecord,
  type MetadataRecord,
} from "./metadata-records.js";
import { topicId } from "./test-support.js";

const T = topicId(1);

/** One record of every type, optional fields present and absent. */
function everyType(): MetadataRecord[] {
  return [
    { type: "registerBroker", brokerId: 1, incarnation: "9b2c6a1e-0d0f-4c55-9d43-4f1f0e6c2a11", endpoints: [] },
    {
      type: "registerBroker",
      brokerId: 2 ** 31 - 1,
      incarnation: "i",
      rack: "eu-west-1a",
      endpoints: [
        { name: "metrics", url: "http://10.0.0.2:9400/metrics" },
        { name: "admin", url: "" },
      ],
    },
    { type: "fenceBroker", brokerId: 3, brokerEpoch: 17 },
    { type: "unfenceBroker", brokerId: 3, brokerEpoch: 2 ** 40 },
    { type: "unregisterBroker", brokerId: 4, brokerEpoch: 9 },
    {
      type: "createTopic",
      topic: "orders.eu",
      topicId: T,
      configs: { "retention.ms": "604800000", "cleanup.policy": "compact" },
      partitions: [
        { partition: 0, replicas: [1, 2, 3] },
        { partition: 1, replicas: [2, 3, 1] },
      ],
    },
    { type: "createTopic", topic: "t", topicId: topicId(2), configs: {}, partitions: [{ partition: 0, replicas: [5] }] },
    { type: "deleteTopic", topic: "orders.eu", topicId: T },
    { type: "startReassignment", topic: "orders.eu", topicId: T, partition: 1, target: [2, 3, 4] },
    ...REASSIGNMENT_PHASES.map((phase): MetadataRecord => ({ type: "reassignmentProgress", topic: "orders.eu", topicId: T, partition: 1, phase })),
    { type: "completeReassignment", topic: "orders.eu", topicId: T, partition: 1, replicas: [2, 3, 4] },
    { type: "cancelReassignment", topic: "orders.eu", topicId: T, partition: 2 ** 31 - 1 },
    { type: "setPreferredLeader", topic: "orders.eu", topicId: T, partition: 0, brokerId: 3 },
    { type: "decommissionBroker", brokerId: 4, brokerEpoch: 12 },
    { type: "setReassignmentThrottle", bytesPerSec: 0 },
    { type: "setReassignmentThrottle", bytesPerSec: 2 ** 40 },
  ];
}

/** Hex bytes; on each line, text after `|` is a comment. */
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\|[^\n]*/g, "").replace(/\s+/g, ""), "hex"));

test("metadata records - every record type round-trips", () => {
  for (const record of everyType()) {
    const bytes = encodeMetadataRecord(record);
    assert.deepEqual(decodeMetadataRecord(bytes), record, record.type);
    assert.deepEqual(encodeMetadataRecord(decodeMetadataRecord(bytes)), bytes, `${record.type}: bytes are stable`);
  }
});

test("metadata records - the bytes are plain MessagePack, version first", () => {
  for (const record of everyType()) {
    const generic = msgpackDecode(encodeMetadataRecord(record)) as unknown[];
    assert.ok(Array.isArray(generic));
    assert.equal(generic[0], METADATA_RECORD_VERSION);
  }
});

test("metadata records - golden bytes: createTopic (configs sorted by name)", () => {
  const record: MetadataRecord = {
    type: "createTopic",
    topic: "t",
    topicId: topicId(1),
    configs: { "retention.ms": "1000", "cleanup.policy": "compact" },
    partitions: [{ partition: 0, replicas: [1, 2] }],
  };
  const golden = hex(`
    96                                   | array of 6
    01 04                                | version 1, tag createTopic
    a1 74                                | "t"
    d9 24 30303030303030302d303030302d343030302d383030302d303030303030303030303031
    92                                   | configs: 2 pairs
      92 ae 636c65616e75702e706f6c696379 a7 636f6d70616374   | cleanup.policy = compact
      92 ac 726574656e74696f6e2e6d73 a4 31303030             | retention.ms = 1000
    91 92 00 92 01 02                    | [[0, [1, 2]]]
  `);
  assert.deepEqual(encodeMetadataRecord(record), golden);
  assert.deepEqual(decodeMetadataRecord(golden), record);
});

test("metadata records - golden bytes: fenceBroker and reassignmentProgress", () => {
  const fence = hex("94 01 02 07 cd 0100"); // [1, fenceBroker, broker 7, epoch 256]
  assert.deepEqual(decodeMetadataRecord(fence), { type: "fenceBroker", brokerId: 7, brokerEpoch: 256 });
  assert.deepEqual(encodeMetadataRecord({ type: "fenceBroker", brokerId: 7, brokerEpoch: 256 }), fence);
  const progress = encodeMetadataRecord({ type: "reassignmentProgress", topic: "t", topicId: T, partition: 3, phase: "caughtUp" });
  assert.deepEqual([...progress.subarray(0, 5)], [0x96, 0x01, 0x07, 0xa1, 0x74]);
  assert.deepEqual([...progress.subarray(-2)], [0x03, 0x02], "partition 3, phase index 2");
});

test("metadata records - the decoder names what is wrong", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["a newer version", hex("94 02 02 07 07"), /version 2 is not one this broker reads \(1 to 1\); upgrade the broker/],
    ["version 0", hex("94 00 02 07 07"), /version 0/],
    ["an unknown tag", hex("92 01 63"), /unknown record tag 99/],
    ["too few fields", hex("93 01 02 07"), /fenceBroker: 1 fields, expected 2/],
    ["broker id 0", hex("94 01 02 00 07"), /fenceBroker: brokerId: 0 is not a broker id/],
    ["epoch 0", hex("94 01 02 07 00"), /broker epoch 0 is not a positive integer/],
    ["bytes after the record", hex("94 01 02 07 07 c0"), /1 bytes after the end/],
    ["truncated", hex("94 01 02 07 cd 01"), /brokerEpoch: truncated/],
    ["not an array", hex("a3 616263"), /expected an array, found a string/],
    ["a string where a number goes", hex("94 01 02 a1 31 07"), /brokerId: expected an integer/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => decodeMetadataRecord(bytes), (e: unknown) => e instanceof DecodeError && message.test(e.message), what);
  }
});

test("metadata records - malformed but well-typed records are refused by encoder and decoder alike", () => {
  const bad: [MetadataRecord, RegExp][] = [
    [{ type: "deleteTopic", topic: "bad name", topicId: T }, /may contain only/],
    [{ type: "deleteTopic", topic: "t", topicId: "NOT-A-UUID" }, /not a lower-case UUID/],
    [{ type: "startReassignment", topic: "t", topicId: T, partition: 0, target: [1, 2, 1] }, /name a broker twice/],
    [{ type: "startReassignment", topic: "t", topicId: T, partition: 0, target: [] }, /no replicas/],
    [{ type: "createTopic", topic: "t", topicId: T, configs: {}, partitions: [{ partition: 1, replicas: [1] }] }, /partitions must be 0..0 in order/],
    [{ type: "createTopic", topic: "t", topicId: T, configs: { __proto__x: "1" }, partitions: [{ partition: 0, replicas: [1] }] }, /config name/],
    [{ type: "registerBroker", brokerId: 1, incarnation: "", endpoints: [] }, /incarnation/],
    [{ type: "registerBroker", brokerId: 1, incarnation: "i", endpoints: [{ name: "a", url: "x" }, { name: "a", url: "y" }] }, /appears twice/],
  ];
  for (const [record, message] of bad) {
    assert.throws(() => encodeMetadataRecord(record), message, `encode ${record.type}`);
  }
  // The same shapes written by hand reach the decoder's checks.
  const dupReplicas = hex(`96 01 06 a1 74 d9 24 ${Buffer.from(T).toString("hex")} 00 93 01 02 01`);
  assert.throws(() => decodeMetadataRecord(dupReplicas), /startReassignment: replicas \[1,2,1\] name a broker twice/);
  const unsortedConfigs = hex(`96 01 04 a1 74 d9 24 ${Buffer.from(T).toString("hex")} 92 92 a1 62 a1 31 92 a1 61 a1 31 91 92 00 91 01`);
  assert.throws(() => decodeMetadataRecord(unsortedConfigs), /configs\[1\]: "a" is out of order or repeated/);
});

test("metadata records - fuzz: damaged records fail only with DecodeError", () => {
  const records = everyType().map(encodeMetadataRecord);
  for (let seed = 1; seed <= 20_000; seed++) {
    const rand = prng(seed);
    const input = mutate(rand, records[randInt(rand, records.length)]);
    onlyDecodeErrors(() => {
      const decoded = decodeMetadataRecord(input);
      // Whatever decodes is a well-formed record (msgpack has several spellings of a number, so
      // the bytes may differ): the encoder accepts it and it survives a round trip.
      assert.deepEqual(decodeMetadataRecord(encodeMetadataRecord(decoded)), decoded, `seed ${seed}`);
    }, input, seed);
  }
});

test("metadata records - fuzz: random valid records round-trip", () => {
  const rand = prng(42);
  const ids = (n: number) => [...new Set(Array.from({ length: n }, () => 1 + randInt(rand, 2 ** 31 - 1)))];
  for (let i = 0; i < 2000; i++) {
    const partitions = 1 + randInt(rand, 20);
    const record: MetadataRecord =
      i % 2 === 0
        ? {
            type: "createTopic",
            topic: `topic-${randInt(rand, 1e9)}`,
            topicId: topicId(randInt(rand, 2 ** 40)),
            configs: randInt(rand, 2) ? { "retention.bytes": String(randInt(rand, 1e12)) } : {},
            partitions: Array.from({ length: partitions }, (_, partition) => ({ partition, replicas: ids(1 + randInt(rand, 5)) })),
          }
        : { type: "startReassignment", topic: "x", topicId: topicId(i), partition: randInt(rand, 2 ** 31), target: ids(1 + randInt(rand, 64)) };
    assert.deepEqual(decodeMetadataRecord(encodeMetadataRecord(record)), record);
  }
});
