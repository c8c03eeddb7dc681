/**
 * Kafka's default partitioner hash: MurmurHash2 (32-bit) with Kafka's seed, over the key bytes,
 * then `toPositive` (clear the sign bit, not `Math.abs`) modulo the partition count. A key lands
 * on the same partition here as it would with Kafka's Java producer on a topic of the same size.
 *
 * The arithmetic is Java `int` arithmetic: multiplications wrap modulo 2^32 (`Math.imul`), shifts
 * are unsigned (`>>>`), and the result is read back as a signed 32-bit integer (`| 0`).
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/** Kafka's `Utils.murmur2`: a signed 32-bit hash of `data`. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (SEED ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  // The tail: up to three bytes, highest first (Java's switch falls through from 3 to 1).
  const tail = length & 3;
  if (tail === 3) h ^= data[whole + 2] << 16;
  if (tail >= 2) h ^= data[whole + 1] << 8;
  if (tail >= 1) {
    h ^= data[whole];
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive`: the sign bit cleared, so -1 becomes 2147483647 (not 1). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition Kafka's default partitioner picks for a non-null key. */
export function partitionForKey(key: Uint8Array, numPartitions: number): number {
  return toPositive(murmur2(key)) % numPartitions;
}
