import { FlotillaError } from "../../protocol/errors.js";
import { minBy } from "./lists.js";
import { rackAware, type PlacementBroker } from "./placement.js";

/**
 * `flotilla reassign generate --topics T1,T2 --brokers 2,3,4`: new replica sets for the given
 * partitions, spread evenly over the given brokers, moving as few replicas as possible.
 *
 * Fewest moves. With T replicas in all on n brokers, an even spread gives each broker ⌊T/n⌋ or
 * ⌈T/n⌉. A replica can stay where it is only on a target broker under its quota, so at best
 * Σ min(current_b, quota_b) stay. Giving the ⌈T/n⌉ quotas to the brokers that hold the most now
 * maximizes that sum, and this plan reaches it: it keeps every replica it can and moves only the
 * excess of over-full brokers and the replicas on brokers that leave.
 *
 * Which replicas of an over-full broker leave: one per partition as far as possible (the partition
 * that has lost fewest so far), so that no partition is left needing more new replicas than there
 * are brokers to take them. Each freed slot then goes to the broker with the most room left that
 * the partition is not on (preferring racks the partition is not on yet).
 *
 * Preferred leaders move no data, so they are re-balanced freely afterwards: a partition keeps its
 * preferred leader if that broker stays and is not over its share of leaders; otherwise the replica
 * with the fewest leaders takes it; then leaders are shifted from the most- to the least-loaded
 * broker wherever a partition has both, until counts differ by at most one or no shift helps.
 *
 * The plan's JSON is Kafka's reassignment JSON: `{"version": 1, "partitions": [{"topic", "partition",
 * "replicas"}]}`, so it reads the same to anyone who has moved Kafka partitions.
 */

export const REASSIGNMENT_PLAN_VERSION = 1;

export interface PlannedPartition {
  readonly topic: string;
  readonly partition: number;
  /** Preferred leader first. */
  readonly replicas: readonly number[];
}

export interface ReassignmentPlan {
  readonly version: typeof REASSIGNMENT_PLAN_VERSION;
  readonly partitions: readonly PlannedPartition[];
}

/** New replica sets for `current` on `brokers`. Partitions whose set does not change are in the plan too. */
export function generateReassignment(current: readonly PlannedPartition[], brokers: readonly PlacementBroker[]): ReassignmentPlan {
  const n = brokers.length;
  const ids = brokers.map((b) => b.id).sort((a, b) => a - b);
  if (new Set(ids).size !== n) throw new FlotillaError("INVALID_REQUEST", "the target brokers name a broker twice");
  const rackOf = new Map<number, string | undefined>(brokers.map((b) => [b.id, rackAware(brokers) ? b.rack : undefined]));
  for (const p of current) {
    if (p.replicas.length > n) {
      throw new FlotillaError("INVALID_REPLICATION_FACTOR", `${p.topic}-${p.partition} has ${p.replicas.length} replicas but only ${n} target brokers were given`);
    }
  }

  const quota = replicaQuotas(current, ids);
  const kept = keepReplicas(current, quota);
  const used = new Map(ids.map((id) => [id, 0]));
  for (const set of kept) for (const id of set) used.set(id, (used.get(id) ?? 0) + 1);
  fillReplicas(current, kept, quota, used, rackOf);
  const replicas = chooseLeaders(current, kept, ids);
  return {
    version: REASSIGNMENT_PLAN_VERSION,
    partitions: current.map((p, i) => ({ topic: p.topic, partition: p.partition, replicas: replicas[i] })),
  };
}

/** Each target broker's share: ⌊T/n⌋, and one more for the T mod n brokers that hold the most now. */
function replicaQuotas(current: readonly PlannedPartition[], ids: readonly number[]): Map<number, number> {
  const total = current.reduce((sum, p) => sum + p.replicas.length, 0);
  const holding = new Map(ids.map((id) => [id, 0]));
  for (const p of current) for (const id of p.replicas) if (holding.has(id)) holding.set(id, (holding.get(id) ?? 0) + 1);
  const byHolding = [...ids].sort((a, b) => (holding.get(b) ?? 0) - (holding.get(a) ?? 0) || a - b);
  const base = Math.floor(total / ids.length);
  const extra = total % ids.length;
  return new Map(byHolding.map((id, i) => [id, base + (i < extra ? 1 : 0)]));
}

/** Per partition, the current replicas that stay: on target brokers, within their quota. */
function keepReplicas(current: readonly PlannedPartition[], quota: ReadonlyMap<number, number>): number[][] {
  const kept = current.map((p) => p.replicas.filter((id) => quota.has(id)));
  const holders = new Map<number, number[]>();
  kept.forEach((set, i) => {
    for (const id of set) {
      const list = holders.get(id);
      if (list) list.push(i);
      else holders.set(id, [i]);
    }
  });
  const lost = current.map((p, i) => p.replicas.length - kept[i].length);
  // Over-full brokers in id order, each giving up replicas where partitions have lost least.
  for (const [id, partitions] of [...holders].sort((a, b) => a[0] - b[0])) {
    let excess = partitions.length - (quota.get(id) ?? 0);
    if (excess <= 0) continue;
    const order = [...partitions].sort((a, b) => lost[a] - lost[b] || a - b);
    for (const i of order) {
      if (excess === 0) break;
      // Keep the preferred leader where possible: losing it costs a leadership move as well.
      if (current[i].replicas[0] === id && order.length - order.indexOf(i) > excess) continue;
      kept[i] = kept[i].filter((x) => x !== id);
      lost[i]++;
      excess--;
    }
  }
  return kept;
}

/** Fills each partition's freed slots, partitions that need most first. Mutates `kept` and `used`. */
function fillReplicas(
  current: readonly PlannedPartition[],
  kept: number[][],
  quota: ReadonlyMap<number, number>,
  used: Map<number, number>,
  rackOf: ReadonlyMap<number, string | undefined>,
): void {
  const order = current.map((_, i) => i).sort((a, b) => kept[a].length - current[a].replicas.length - (kept[b].length - current[b].replicas.length) || a - b);
  for (const i of order) {
    while (kept[i].length < current[i].replicas.length) {
      const racks = new Set(kept[i].map((id) => rackOf.get(id)));
      const candidates = [...quota.keys()].filter((id) => !kept[i].includes(id));
      // Brokers with room first, then those on a rack the partition lacks, then most room, then lowest id.
      const id = minBy(candidates, (id) => {
        const room = (quota.get(id) ?? 0) - (used.get(id) ?? 0);
        const rack = rackOf.get(id);
        return [room > 0 ? 0 : 1, rack !== undefined && racks.has(rack) ? 1 : 0, -room, id];
      }) as number;
      kept[i].push(id);
      used.set(id, (used.get(id) ?? 0) + 1);
    }
  }
}

/** Orders each partition's replicas with a balanced choice of preferred leader first. */
function chooseLeaders(current: readonly PlannedPartition[], sets: readonly number[][], ids: readonly number[]): number[][] {
  const share = Math.ceil(current.length / ids.length);
  const leads = new Map(ids.map((id) => [id, 0]));
  const leader = current.map((p, i) => {
    const old = p.replicas[0];
    const pick =
      sets[i].includes(old) && (leads.get(old) ?? 0) < share
        ? old
        : (minBy(sets[i], (id) => [leads.get(id) ?? 0, id]) as number);
    leads.set(pick, (leads.get(pick) ?? 0) + 1);
    return pick;
  });
  // Shift leaders from the busiest to the idlest broker while some partition has both as replicas.
  for (let moved = true; moved; ) {
    moved = false;
    const sorted = [...ids].sort((a, b) => (leads.get(b) ?? 0) - (leads.get(a) ?? 0) || a - b);
    for (const hi of sorted) {
      for (const lo of [...sorted].reverse()) {
        if ((leads.get(hi) ?? 0) - (leads.get(lo) ?? 0) <= 1) break;
        const i = leader.findIndex((l, k) => l === hi && sets[k].includes(lo));
        if (i < 0) continue;
        leader[i] = lo;
        leads.set(hi, (leads.get(hi) ?? 0) - 1);
        leads.set(lo, (leads.get(lo) ?? 0) + 1);
        moved = true;
        break;
      }
      if (moved) break;
    }
  }
  return sets.map((set, i) => [leader[i], ...set.filter((id) => id !== leader[i])]);
}
