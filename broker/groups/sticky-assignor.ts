/**
 * The target assignment of a group: balanced, and sticky — computed from the current one, it moves
 * only the partitions that must move. That is what makes rebalances incremental: a member that
 * joins takes a share from the most loaded members, one that leaves has only its own partitions
 * spread over the others, and everyone else keeps consuming what they had.
 *
 * Steps: (1) every member keeps what it has of the partitions it may still consume (subscribed
 * topic, partition that exists; a partition held twice stays with the first member by id);
 * (2) each partition nobody holds goes to the least loaded member subscribed to its topic;
 * (3) while some member subscribed to a partition's topic holds two or more fewer partitions than
 * its holder, the partition moves there. Every move in (3) lowers the sum of squared loads, so the
 * loop ends; at the end no single move can improve the balance (equal subscriptions: loads differ
 * by at most one). Ties break by member id, so the result depends on the input only.
 */
import { compareKeys, partitionKey, splitKey, type PartitionKey } from "./partition-key.js";

export interface Subscriber {
  readonly memberId: string;
  readonly topics: readonly string[];
}

/** Partitions a topic has now (undefined: no such topic). */
export type PartitionCount = (topic: string) => number | undefined;

export function stickyAssignment(
  members: readonly Subscriber[],
  partitionsOf: PartitionCount,
  current: ReadonlyMap<string, ReadonlySet<PartitionKey>>,
): Map<string, Set<PartitionKey>> {
  const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
  const subscribers = new Map<string, Subscriber[]>();
  const all: PartitionKey[] = [];
  for (const m of sorted) {
    for (const topic of new Set(m.topics)) {
      let list = subscribers.get(topic);
      if (!list) {
        list = [];
        subscribers.set(topic, list);
        for (let p = 0; p < (partitionsOf(topic) ?? 0); p++) all.push(partitionKey(topic, p));
      }
      list.push(m);
    }
  }
  const valid = new Set(all);
  const result = new Map<string, Set<PartitionKey>>(sorted.map((m) => [m.memberId, new Set<PartitionKey>()]));
  const holder = new Map<PartitionKey, string>();
  for (const m of sorted) {
    const topics = new Set(m.topics);
    for (const k of current.get(m.memberId) ?? []) {
      if (!valid.has(k) || holder.has(k) || !topics.has(splitKey(k).topic)) continue;
      holder.set(k, m.memberId);
      result.get(m.memberId)!.add(k);
    }
  }
  const load = (id: string): number => result.get(id)!.size;
  const leastLoaded = (topic: string): Subscriber =>
    subscribers.get(topic)!.reduce((best, m) => (load(m.memberId) < load(best.memberId) ? m : best));

  for (const k of all.sort(compareKeys)) {
    if (holder.has(k)) continue;
    const to = leastLoaded(splitKey(k).topic);
    holder.set(k, to.memberId);
    result.get(to.memberId)!.add(k);
  }

  for (let moved = true; moved; ) {
    moved = false;
    const byLoad = [...sorted].sort((a, b) => load(b.memberId) - load(a.memberId));
    for (const from of byLoad) {
      const owned = [...result.get(from.memberId)!].sort(compareKeys).reverse();
      for (const k of owned) {
        const to = leastLoaded(splitKey(k).topic);
        if (load(to.memberId) >= load(from.memberId) - 1) continue;
        result.get(from.memberId)!.delete(k);
        result.get(to.memberId)!.add(k);
        moved = true;
        break;
      }
      if (moved) break;
    }
  }
  return result;
}
