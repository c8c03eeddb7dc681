/**
 * Which partition a message goes to, as Kafka's default partitioner decides:
 *
 * 1. an explicit `partition` on the message;
 * 2. else, with a key: `toPositive(murmur2(keyBytes)) % numPartitions` (same key, same partition as
 *    in Kafka, for a topic with the same partition count);
 * 3. else (null key): the topic's "sticky" partition — every keyless message goes to one partition
 *    until a batch for it is closed, then a new one is picked at random (a different one when there
 *    are several), so keyless messages fill whole batches instead of spreading thin.
 */
import { partitionForKey } from "./murmur2.js";

export class StickyPartitioner {
  private readonly sticky = new Map<string, number>();

  constructor(private readonly random: () => number = Math.random) {}

  partition(topic: string, key: Uint8Array | null, numPartitions: number, explicit?: number): number {
    if (explicit !== undefined) return explicit;
    if (key !== null) return partitionForKey(key, numPartitions);
    let p = this.sticky.get(topic);
    if (p === undefined || p >= numPartitions) {
      p = Math.floor(this.random() * numPartitions);
      this.sticky.set(topic, p);
    }
    return p;
  }

  /** A batch of `topic`'s sticky partition was closed: keyless messages move to another partition. */
  batchClosed(topic: string, partition: number, numPartitions: number): void {
    if (this.sticky.get(topic) !== partition) return;
    let next = Math.floor(this.random() * numPartitions);
    if (numPartitions > 1 && next === partition) next = (next + 1 + Math.floor(this.random() * (numPartitions - 1))) % numPartitions;
    this.sticky.set(topic, next);
  }
}
