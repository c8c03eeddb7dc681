/**
 * Where consumer groups live. Committed offsets are records of the internal topic
 * `__consumer_offsets`, and a group belongs to one of its partitions by a hash of the group id;
 * that partition's Raft leader is the group's coordinator and alone serves `subjects.group(n)`.
 * Clients and brokers must agree on both the partition count and the hash, so they are wire
 * constants: never change them on a running cluster.
 */
export const CONSUMER_OFFSETS_TOPIC = "__consumer_offsets";
export const CONSUMER_OFFSETS_PARTITIONS = 4;
/** The offsets topic keeps three copies where the cluster has three brokers. */
export const CONSUMER_OFFSETS_REPLICATION = 3;

/** The `__consumer_offsets` partition that holds `groupId`: FNV-1a (32 bit) of its UTF-8 bytes. */
export function groupPartition(groupId: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(groupId, "utf8")) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h % CONSUMER_OFFSETS_PARTITIONS;
}
