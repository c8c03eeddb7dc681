import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32c } from "@node-rs/crc32";
import {
  RECORD_BATCH_HEADER_SIZE,
  batchSizeAt,
  decodeRecords,
  encodeRecordBatch,
  iterateBatches,
  readBatchHeader,
  stampBatch,
  validateProducedBatch,
  verifyBatchCrc,
  type RecordInput,
} from "./record-batch.js";
import { DecodeError } from "./decode-error.js";
import { mutate, onlyDecodeErrors, prng, randInt, randomBytes } from "./test-util.js";

const te = new TextEncoder();
const b = (s: string) => te.encode(s);
/** Hex bytes; on each line, text after `|` is a comment. */
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\|[^\n]*/g, "").replace(/\s+/g, ""), "hex"));

/** Bitwise CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): an independent reference. */
function referenceCrc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

test("record batch - reference CRC-32C matches the standard check value and @node-rs/crc32", () => {
  assert.equal(referenceCrc32c(b("123456789")), 0xe3069283);
  const data = randomBytes(prng(1), 1000);
  assert.equal(referenceCrc32c(data), crc32c(data) >>> 0);
});

test("record batch - golden fixture: one record, checked field by field", () => {
  const ts = 1700000000000n; // 0x0000018BCFE56800
  const bytes = encodeRecordBatch([{ key: b("k"), value: b("hi"), headers: [{ key: "h", value: b("x") }] }], { timestamp: ts });
  // The record: body is 13 bytes, so its length varint is zigzag(13) = 26 = 0x1a.
  const record = hex(`
    1a        | length 13
    00        | attributes
    00        | timestampDelta 0
    00        | offsetDelta 0
    02 6b     | keyLength 1, "k"
    04 68 69  | valueLength 2, "hi"
    02        | headerCount 1
    02 68     | header key length 1, "h"
    02 78     | header value length 1, "x"
  `);
  assert.equal(record.length, 14);
  const afterCrc = hex(`
    0000              | attributes 0
    00000000          | lastOffsetDelta 0
    0000018bcfe56800  | baseTimestamp
    0000018bcfe56800  | maxTimestamp
    ffffffffffffffff  | producerId -1
    ffff              | producerEpoch -1
    ffffffff          | baseSequence -1
    00000001          | recordCount 1
  `);
  assert.equal(afterCrc.length, RECORD_BATCH_HEADER_SIZE - 21);
  const crcInput = new Uint8Array(afterCrc.length + record.length);
  crcInput.set(afterCrc);
  crcInput.set(record, afterCrc.length);
  const crc = referenceCrc32c(crcInput);
  assert.equal(crc, 0x96ba570c, "CRC of the fixture (bitwise reference)");
  const expected = new Uint8Array(75);
  expected.set(hex("0000000000000000"), 0); // baseOffset 0
  expected.set(hex("0000003f"), 8); // batchLength 63 = 75 - 12
  expected.set(hex("ffffffff"), 12); // partitionLeaderEpoch -1
  expected.set(hex("02"), 16); // magic 2
  expected.set(hex("96ba570c"), 17); // crc
  expected.set(crcInput, 21);
  assert.deepEqual(bytes, expected);

  const h = readBatchHeader(bytes);
  assert.deepEqual(h, {
    baseOffset: 0n,
    batchLength: 63,
    size: 75,
    partitionLeaderEpoch: -1,
    magic: 2,
    crc: 0x96ba570c,
    attributes: 0,
    lastOffsetDelta: 0,
    baseTimestamp: ts,
    maxTimestamp: ts,
    producerId: -1n,
    producerEpoch: -1,
    baseSequence: -1,
    recordCount: 1,
  });
  const [r] = decodeRecords(expected);
  assert.equal(r.offset, 0n);
  assert.equal(r.timestamp, ts);
  assert.deepEqual(r.key, b("k"));
  assert.deepEqual(r.value, b("hi"));
  assert.deepEqual(r.headers, [{ key: "h", value: b("x") }]);
});

test("record batch - round trip: nulls, empty values, headers, negative timestamp deltas, idempotence fields", () => {
  const big = randomBytes(prng(7), 300_000);
  const records: RecordInput[] = [
    { key: null, value: null },
    { key: new Uint8Array(0), value: b("v"), timestamp: 1000n },
    { key: b("key"), value: big, headers: [{ key: "ünïcode", value: null }, { key: "", value: new Uint8Array(0) }], timestamp: 5n },
    { key: b("x"), value: b("y"), timestamp: -3n },
  ];
  const bytes = encodeRecordBatch(records, { baseOffset: 100n, producerId: 42n, producerEpoch: 3, baseSequence: 17, timestamp: 999n, leaderEpoch: 7 });
  const h = readBatchHeader(bytes);
  assert.equal(h.baseOffset, 100n);
  assert.equal(h.partitionLeaderEpoch, 7);
  assert.equal(h.recordCount, 4);
  assert.equal(h.lastOffsetDelta, 3);
  assert.equal(h.baseTimestamp, 999n);
  assert.equal(h.maxTimestamp, 1000n);
  assert.equal(h.producerId, 42n);
  assert.equal(h.producerEpoch, 3);
  assert.equal(h.baseSequence, 17);
  assert.equal(h.size, bytes.length);
  assert.equal(batchSizeAt(bytes, 0), bytes.length);
  assert.ok(verifyBatchCrc(bytes));
  assert.deepEqual(validateProducedBatch(bytes), h);
  const out = decodeRecords(bytes);
  assert.equal(out.length, 4);
  out.forEach((r, i) => {
    assert.equal(r.offset, 100n + BigInt(i));
    assert.deepEqual(r.key, records[i].key);
    assert.deepEqual(r.value, records[i].value);
    assert.equal(r.timestamp, records[i].timestamp ?? 999n);
    assert.deepEqual(r.headers, records[i].headers ?? []);
  });
  // Keys and values are views into the batch, not copies.
  assert.equal(out[2].value!.buffer, bytes.buffer);
});

test("record batch - encoding rejects what no batch can hold", () => {
  assert.throws(() => encodeRecordBatch([]), RangeError);
  assert.throws(() => encodeRecordBatch([{ key: null, value: null }], { producerEpoch: 1 << 15 }), RangeError);
  assert.throws(() => encodeRecordBatch([{ key: null, value: null }], { baseOffset: 1n << 63n }), RangeError);
});

test("record batch - CRC detects every single flipped bit in the covered range", () => {
  const bytes = encodeRecordBatch([{ key: b("a"), value: b("bcd"), headers: [{ key: "k", value: b("v") }] }], { timestamp: 1n });
  for (let i = 21; i < bytes.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const copy = Uint8Array.from(bytes);
      copy[i] ^= 1 << bit;
      assert.equal(verifyBatchCrc(copy), false, `flip at byte ${i} bit ${bit}`);
      assert.throws(() => decodeRecords(copy), DecodeError);
    }
  }
});

test("record batch - stamping base offset and leader epoch keeps the CRC valid", () => {
  const bytes = encodeRecordBatch([{ key: null, value: b("x") }, { key: null, value: b("y") }], { timestamp: 5n });
  const crcBefore = readBatchHeader(bytes).crc;
  const buf = new Uint8Array(bytes.length + 10);
  buf.set(bytes, 10);
  stampBatch(buf, 10, 123_456_789_012n, 9);
  const h = readBatchHeader(buf, 10);
  assert.equal(h.baseOffset, 123_456_789_012n);
  assert.equal(h.partitionLeaderEpoch, 9);
  assert.equal(h.crc, crcBefore);
  assert.ok(verifyBatchCrc(buf, 10));
  const stamped = buf.subarray(10);
  assert.deepEqual(validateProducedBatch(stamped), h);
  assert.deepEqual(decodeRecords(stamped).map((r) => r.offset), [123_456_789_012n, 123_456_789_013n]);
  assert.throws(() => stampBatch(buf, 10, -1n, 0), RangeError);
  assert.throws(() => stampBatch(buf, 10, 0n, 2 ** 31), RangeError);
  assert.throws(() => stampBatch(buf, buf.length - 10, 0n, 0), RangeError);
});

test("record batch - header checks: magic, short length, batch past the buffer", () => {
  const bytes = encodeRecordBatch([{ key: null, value: b("x") }], { timestamp: 0n });
  const badMagic = Uint8Array.from(bytes);
  badMagic[16] = 1;
  assert.throws(() => readBatchHeader(badMagic), /magic 1/);
  const shortLen = Uint8Array.from(bytes);
  new DataView(shortLen.buffer).setInt32(8, 48);
  assert.throws(() => readBatchHeader(shortLen), /batchLength 48/);
  assert.throws(() => batchSizeAt(shortLen, 0), /batchLength 48/);
  assert.throws(() => readBatchHeader(bytes.subarray(0, bytes.length - 1)), /only 68 are there/);
  assert.throws(() => readBatchHeader(bytes.subarray(0, 60)), /a header needs 61/);
  assert.equal(batchSizeAt(bytes.subarray(0, 11), 0), undefined);
  assert.equal(batchSizeAt(bytes.subarray(0, 12), 0), bytes.length);
  assert.throws(() => readBatchHeader(bytes, bytes.length + 1), DecodeError);
});

test("record batch - validateProducedBatch enforces what a leader checks", () => {
  const one = encodeRecordBatch([{ key: null, value: b("x") }], { timestamp: 0n });
  const two = new Uint8Array(one.length * 2);
  two.set(one);
  two.set(one, one.length);
  assert.throws(() => validateProducedBatch(two), /exactly one batch/);
  const corrupt = Uint8Array.from(one);
  corrupt[corrupt.length - 1] ^= 1;
  assert.throws(() => validateProducedBatch(corrupt), /CRC/);
  assert.throws(
    () => validateProducedBatch(encodeRecordBatch([{ key: null, value: null }], { producerId: 5n })),
    /no base sequence/,
  );
  // A record count the bytes cannot hold would let a client burn offsets the leader assigns blindly.
  const inflated = encodeRecordBatch([{ key: null, value: b("x") }], { timestamp: 0n });
  const dv = new DataView(inflated.buffer, inflated.byteOffset);
  dv.setInt32(57, 1000);
  dv.setInt32(23, 999);
  dv.setUint32(17, crc32c(inflated.subarray(21)) >>> 0);
  assert.throws(() => validateProducedBatch(inflated), /1000 records cannot fit in 8 bytes/);
  const gzip = Uint8Array.from(one);
  new DataView(gzip.buffer).setInt16(21, 1);
  new DataView(gzip.buffer).setUint32(17, crc32c(gzip.subarray(21)) >>> 0);
  assert.throws(() => validateProducedBatch(gzip), /compressed with gzip/);
});

test("record batch - iterateBatches walks consecutive batches and stops at a torn tail", () => {
  const batches = [1, 3, 2].map((n, i) =>
    encodeRecordBatch(Array.from({ length: n }, () => ({ key: null, value: b(`batch ${i}`) })), { timestamp: 0n }),
  );
  const total = batches.reduce((s, x) => s + x.length, 0);
  const buf = new Uint8Array(total + 5);
  let pos = 5;
  for (const x of batches) {
    buf.set(x, pos);
    pos += x.length;
  }
  const spans = [...iterateBatches(buf, 5, buf.length, { verifyCrc: true })];
  assert.deepEqual(spans.map((s) => [s.at, s.size, s.header.recordCount]), [
    [5, batches[0].length, 1],
    [5 + batches[0].length, batches[1].length, 3],
    [5 + batches[0].length + batches[1].length, batches[2].length, 2],
  ]);
  // A torn last batch: the first two are yielded, then DecodeError.
  const seen: number[] = [];
  assert.throws(() => {
    for (const s of iterateBatches(buf, 5, buf.length - 1)) seen.push(s.at);
  }, DecodeError);
  assert.equal(seen.length, 2);
  // A corrupt middle batch is caught with verifyCrc.
  buf[5 + batches[0].length + 70] ^= 0x10;
  assert.throws(() => [...iterateBatches(buf, 5, buf.length, { verifyCrc: true })], /CRC mismatch/);
  assert.equal([...iterateBatches(buf, 5, buf.length)].length, 3);
  assert.deepEqual([...iterateBatches(buf, 7, 7)], []);
});

/** Rewrites the CRC so a mutation reaches the record decoder instead of failing the CRC check. */
function fixCrc(buf: Uint8Array): void {
  if (buf.length < RECORD_BATCH_HEADER_SIZE) return;
  const size = Math.min(buf.length, 12 + new DataView(buf.buffer, buf.byteOffset).getInt32(8));
  if (size < 21) return;
  new DataView(buf.buffer, buf.byteOffset).setUint32(17, crc32c(buf.subarray(21, size)) >>> 0);
}

test("record batch - fuzz: malformed input only ever throws DecodeError", () => {
  const seed = 20261123;
  const rand = prng(seed);
  const seeds: Uint8Array[] = [
    encodeRecordBatch([{ key: b("k"), value: b("v"), headers: [{ key: "h", value: null }] }], { timestamp: 1n }),
    encodeRecordBatch(
      Array.from({ length: 5 }, (_, i) => ({ key: i % 2 ? null : b(`key${i}`), value: randomBytes(rand, randInt(rand, 200)), timestamp: BigInt(i * 1000) })),
    ),
  ];
  for (let i = 0; i < 20_000; i++) {
    let input: Uint8Array;
    if (i % 10 === 0) {
      input = randomBytes(rand, randInt(rand, 120));
      if (input.length > 16) input[16] = 2; // get past the magic check sometimes
    } else {
      input = seeds[randInt(rand, seeds.length)];
      const rounds = 1 + randInt(rand, 3);
      for (let k = 0; k < rounds; k++) input = mutate(rand, input);
      if (rand() < 0.7) fixCrc(input);
    }
    onlyDecodeErrors(() => readBatchHeader(input), input, seed);
    onlyDecodeErrors(() => batchSizeAt(input, 0), input, seed);
    onlyDecodeErrors(() => [...iterateBatches(input, 0, input.length, { verifyCrc: true })], input, seed);
    onlyDecodeErrors(() => validateProducedBatch(input), input, seed);
    onlyDecodeErrors(() => decodeRecords(input), input, seed);
    assert.equal(typeof verifyBatchCrc(input), "boolean");
  }
});
