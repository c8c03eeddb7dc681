/** Small helpers for broker-id lists and the sort keys placement decisions compare. */

/**
 * Lexicographic comparison of sort keys, for the placement choices ("fewest leaders, then fewest
 * replicas, then lowest id"): negative when `a` comes first. Keys must be of equal length.
 */
function compareKeys(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** The element whose key comes first; ties go to the earlier element. Undefined for an empty list. */
export function minBy<T>(items: Iterable<T>, key: (item: T) => readonly number[]): T | undefined {
  let best: T | undefined;
  let bestKey: readonly number[] | undefined;
  for (const item of items) {
    const k = key(item);
    if (bestKey === undefined || compareKeys(k, bestKey) < 0) {
      best = item;
      bestKey = k;
    }
  }
  return best;
}

/** Same ids in the same order: replica lists are ordered (the first is the preferred leader). */
export function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** The same brokers in any order: a Raft group's membership has no order. */
export function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id) => b.includes(id));
}
