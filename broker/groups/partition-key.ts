/**
 * A topic partition as one string key ("orders:3"), so sets and maps of partitions compare by
 * value. A topic name never holds ':' (Kafka's rules), so the split is unambiguous.
 */
import type { TopicPartitions } from "../../protocol/requests.js";

export type PartitionKey = string;

export function partitionKey(topic: string, partition: number): PartitionKey {
  return `${topic}:${partition}`;
}

export function splitKey(key: PartitionKey): { topic: string; partition: number } {
  const at = key.lastIndexOf(":");
  return { topic: key.slice(0, at), partition: Number(key.slice(at + 1)) };
}

/** Keys grouped by topic, topics and partitions in order (the wire's TopicPartitions). */
export function toTopicPartitions(keys: Iterable<PartitionKey>): TopicPartitions[] {
  const byTopic = new Map<string, number[]>();
  for (const k of keys) {
    const { topic, partition } = splitKey(k);
    const list = byTopic.get(topic) ?? [];
    list.push(partition);
    byTopic.set(topic, list);
  }
  return [...byTopic.keys()].sort().map((topic) => ({ topic, partitions: byTopic.get(topic)!.sort((a, b) => a - b) }));
}

export function fromTopicPartitions(tps: readonly TopicPartitions[]): Set<PartitionKey> {
  const out = new Set<PartitionKey>();
  for (const tp of tps) for (const p of tp.partitions) out.add(partitionKey(tp.topic, p));
  return out;
}

/** Topic first, then partition number: the order assignments are computed and listed in. */
export function compareKeys(a: PartitionKey, b: PartitionKey): number {
  const x = splitKey(a);
  const y = splitKey(b);
  return x.topic < y.topic ? -1 : x.topic > y.topic ? 1 : x.partition - y.partition;
}
