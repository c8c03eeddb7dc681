import { test } from "node:test";
import assert from "node:assert/strict";
import { murmur2, partitionForKey, toPositive } from "./murmur2.js";
import { StickyPartitioner } from "./partitioner.js";

/**
 * Kafka's results for these keys. Derived from the algorithm (Kafka's `Utils.murmur2`: seed
 * 0x9747b28c, m 0x5bd1e995, r 24, Java int arithmetic) by a second, independent implementation in
 * BigInt arithmetic with explicit 32-bit wrapping (below); the first six are also the values
 * Kafka's own UtilsTest expects. Partitions are `toPositive(hash) % n`.
 */
const VECTORS: Array<[string, number, number]> = [
  // key, murmur2 (signed int32), partition of 6
  ["21", -973932308, 0],
  ["foobar", -790332482, 0],
  ["a-little-bit-long-string", -985981536, 2],
  ["a-little-bit-longer-string", -1486304829, 5],
  ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971, 5],
  ["abc", 479470107, 3],
  ["", 275646681, 3],
  ["k1", 1684045097, 5],
];

/** The reference: the same algorithm step by step in BigInt, wrapping to 32 bits after every operation. */
function referenceMurmur2(bytes: Uint8Array): number {
  const W = (x: bigint): bigint => BigInt.asUintN(32, x);
  const m = 0x5bd1e995n;
  let h = W(0x9747b28cn ^ BigInt(bytes.length));
  const n4 = Math.floor(bytes.length / 4);
  for (let i = 0; i < n4; i++) {
    let k = BigInt(bytes[4 * i]) + (BigInt(bytes[4 * i + 1]) << 8n) + (BigInt(bytes[4 * i + 2]) << 16n) + (BigInt(bytes[4 * i + 3]) << 24n);
    k = W(k * m);
    k = W(k ^ (k >> 24n));
    k = W(k * m);
    h = W(h * m);
    h = W(h ^ k);
  }
  const rem = bytes.length % 4;
  const base = bytes.length - rem;
  if (rem >= 3) h = W(h ^ (BigInt(bytes[base + 2]) << 16n));
  if (rem >= 2) h = W(h ^ (BigInt(bytes[base + 1]) << 8n));
  if (rem >= 1) h = W((h ^ BigInt(bytes[base])) * m);
  h = W(h ^ (h >> 13n));
  h = W(h * m);
  h = W(h ^ (h >> 15n));
  return Number(BigInt.asIntN(32, h));
}

test("murmur2 - Kafka's hashes and partitions for known keys", () => {
  for (const [key, hash, p6] of VECTORS) {
    const bytes = Buffer.from(key, "utf8");
    assert.equal(murmur2(bytes), hash, `murmur2(${JSON.stringify(key)})`);
    assert.equal(partitionForKey(bytes, 6), p6, `partition of ${JSON.stringify(key)} in 6`);
  }
});

test("murmur2 - agrees with the BigInt reference on random keys of every tail length", () => {
  let seed = 12345;
  const rand = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < 500; i++) {
    const bytes = Uint8Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256));
    assert.equal(murmur2(bytes), referenceMurmur2(bytes), `bytes ${Buffer.from(bytes).toString("hex")}`);
  }
  for (const [key, hash] of VECTORS) assert.equal(referenceMurmur2(Buffer.from(key)), hash);
});

test("murmur2 - toPositive clears the sign bit (not Math.abs)", () => {
  assert.equal(toPositive(-1), 0x7fffffff);
  assert.equal(toPositive(-2147483648), 0);
  assert.equal(toPositive(5), 5);
  assert.equal(toPositive(-973932308), 1173551340);
});

test("partitioner - explicit partition wins, keys hash, null keys stick until a batch closes", () => {
  const values = [0.1, 0.9, 0.5];
  let i = 0;
  const p = new StickyPartitioner(() => values[i++ % values.length]);
  assert.equal(p.partition("t", Buffer.from("k1"), 6, 4), 4);
  assert.equal(p.partition("t", Buffer.from("k1"), 6), 5);
  const first = p.partition("t", null, 6);
  assert.equal(first, 0); // floor(0.1 * 6)
  assert.equal(p.partition("t", null, 6), first, "sticky while the batch is open");
  p.batchClosed("t", 3, 6); // another partition's batch: no change
  assert.equal(p.partition("t", null, 6), first);
  p.batchClosed("t", first, 6);
  const second = p.partition("t", null, 6);
  assert.notEqual(second, first, "moves on after its batch closed");
  assert.equal(p.partition("u", null, 1), 0);
  p.batchClosed("u", 0, 1);
  assert.equal(p.partition("u", null, 1), 0, "one partition: stays");
});
