import { FlotillaError } from "../../protocol/errors.js";
import { minBy } from "./lists.js";
import { rackAware, type PlacementBroker } from "./placement.js";
import { REASSIGNMENT_PLAN_VERSION, type PlannedReplicas, type ReassignmentPlan } from "../../protocol/reassignment-plan.js";

/**
 * `flotilla reassign generate --topics T1,T2 --brokers 2,3,4`: new replica sets for the given
 * partitions, spread evenly over the given brokers, moving as few replicas as possible.
 *
 * Fewest moves. With T replicas in all on n brokers, an even spread gives each broker ⌊T/n⌋ or
 * ⌈T/n⌉. A replica can stay where it is only on a target broker under its quota, so at best
 * Σ min(current_b, quota_b) stay. Giving the ⌈T/n⌉ quotas to the brokers that hold the most now
 * maximizes that sum, and this plan reaches it: it keeps every replica it can and moves only the
 * excess of over-full brokers and the replicas on brokers that leave. (The bound counts replicas
 * per broker, not which partitions they are in; in rare layouts with a replication factor close to
 * the broker count it cannot be reached without two replicas of one partition on one broker, and
 * the plan then moves one replica more to stay even: about 1 plan in 20,000 random ones.)
 *
 * Which replicas of an over-full broker leave: one per partition as far as possible (the partition
 * that has lost fewest so far), so that no partition is left needing more new replicas than there
 * are brokers to take them. Each freed slot then goes to the broker with the most room left that
 * the partition is not on (preferring racks the partition is not on yet).
 *
 * Preferred leaders move no data, so they are re-balanced freely afterwards: a partition keeps its
 * preferred leader if that broker stays and is not over its share of leaders; otherwise the replica
 * with the fewest leaders takes it; then leadership is handed down chains of partitions from the
 * busiest brokers to the idlest until no chain helps (counts then differ by at most one whenever the
 * replica sets allow it).
 *
 * The plan's JSON is Kafka's reassignment JSON: `{"version": 1, "partitions": [{"topic", "partition",
 * "replicas"}]}`, so it reads the same to anyone who has moved Kafka partitions.
 */

/** New replica sets for `current` on `brokers`. Partitions whose set does not change are in the plan too. */
export function generateReassignment(current: readonly PlannedReplicas[], brokers: readonly PlacementBroker[]): ReassignmentPlan {
  const n = brokers.length;
  const ids = brokers.map((b) => b.id).sort((a, b) => a - b);
  if (new Set(ids).size !== n) throw new FlotillaError("INVALID_REQUEST", "the target brokers name a broker twice");
  const rackOf = new Map<number, string | undefined>(brokers.map((b) => [b.id, rackAware(brokers) ? b.rack : undefined]));
  for (const p of current) {
    if (p.replicas.length > n) {
      throw new FlotillaError("INVALID_REPLICATION_FACTOR", `${p.topic}-${p.partition} has ${p.replicas.length} replicas but only ${n} target brokers were given`);
    }
  }

  const shares = new Shares(current, ids);
  const kept = keepReplicas(current, shares);
  for (const set of kept) for (const id of set) shares.take(id);
  fillReplicas(current, kept, shares, rackOf);
  const replicas = chooseLeaders(current, kept, ids);
  return {
    version: REASSIGNMENT_PLAN_VERSION,
    partitions: current.map((p, i) => ({ topic: p.topic, partition: p.partition, replicas: replicas[i] })),
  };
}

/**
 * Each target broker's share of the T replicas: ⌊T/n⌋, and one more for T mod n of them. The extra
 * ones go first to brokers that already hold more than ⌊T/n⌋ (the most first), as that keeps the
 * most replicas in place; any extras left "float" and go to whichever brokers the fill needs. (Fixing
 * them up front by id can leave a partition with nowhere to go: a real case in the tests.)
 */
class Shares {
  private readonly quota = new Map<number, number>();
  private readonly used = new Map<number, number>();
  private readonly base: number;
  private floating: number;

  constructor(current: readonly PlannedReplicas[], ids: readonly number[]) {
    const total = current.reduce((sum, p) => sum + p.replicas.length, 0);
    const holding = new Map(ids.map((id) => [id, 0]));
    for (const p of current) for (const id of p.replicas) if (holding.has(id)) holding.set(id, (holding.get(id) ?? 0) + 1);
    this.base = Math.floor(total / ids.length);
    this.floating = total % ids.length;
    for (const id of [...ids].sort((a, b) => (holding.get(b) ?? 0) - (holding.get(a) ?? 0) || a - b)) {
      const extra = this.floating > 0 && (holding.get(id) ?? 0) > this.base ? 1 : 0;
      this.floating -= extra;
      this.quota.set(id, this.base + extra);
      this.used.set(id, 0);
    }
  }

  ids(): IterableIterator<number> {
    return this.quota.keys();
  }

  has(id: number): boolean {
    return this.quota.has(id);
  }

  /** How many of its current replicas a broker may keep. */
  keepLimit(id: number): number {
    return this.quota.get(id) ?? 0;
  }

  /** How many more replicas the broker may take (a floating extra counts). */
  room(id: number): number {
    const quota = this.quota.get(id) ?? 0;
    return quota - (this.used.get(id) ?? 0) + (this.floating > 0 && quota === this.base ? 1 : 0);
  }

  take(id: number): void {
    const used = (this.used.get(id) ?? 0) + 1;
    this.used.set(id, used);
    if (used > (this.quota.get(id) ?? 0)) {
      this.quota.set(id, used);
      this.floating = Math.max(0, this.floating - 1);
    }
  }
}

/** Per partition, the current replicas that stay: on target brokers, within their quota. */
function keepReplicas(current: readonly PlannedReplicas[], shares: Shares): number[][] {
  const kept = current.map((p) => p.replicas.filter((id) => shares.has(id)));
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
    let excess = partitions.length - shares.keepLimit(id);
    if (excess <= 0) continue;
    const order = [...partitions].sort((a, b) => lost[a] - lost[b] || a - b);
    for (let k = 0; k < order.length && excess > 0; k++) {
      const i = order[k];
      // Keep the preferred leader where possible (losing it costs a leadership move as well), as
      // long as enough partitions remain after this one to give up the rest of the excess.
      if (current[i].replicas[0] === id && order.length - k > excess) continue;
      kept[i] = kept[i].filter((x) => x !== id);
      lost[i]++;
      excess--;
    }
  }
  return kept;
}

/**
 * Fills each partition's freed slots, partitions that need most first. Mutates `kept` and `shares`.
 *
 * Near the end the only brokers with room left may all be in the partition being filled already.
 * Then brokers trade places along a chain of partitions this plan already added replicas to (see
 * `trade`); only when no chain exists does a broker go over its share.
 */
function fillReplicas(
  current: readonly PlannedReplicas[],
  kept: number[][],
  shares: Shares,
  rackOf: ReadonlyMap<number, string | undefined>,
): void {
  const room = (id: number) => shares.room(id);
  const missing = (i: number) => current[i].replicas.length - kept[i].length;
  /** Per partition, the brokers this plan added to it. */
  const added = current.map(() => new Set<number>());
  const add = (i: number, id: number) => {
    kept[i].push(id);
    added[i].add(id);
    shares.take(id);
  };
  const order = current.map((_, i) => i).sort((a, b) => missing(b) - missing(a) || a - b);
  for (const i of order) {
    while (missing(i) > 0) {
      const racks = new Set(kept[i].map((id) => rackOf.get(id)));
      const candidates = [...shares.ids()].filter((id) => !kept[i].includes(id));
      // A new rack first, then the most room, then the lowest id.
      const best = minBy(
        candidates.filter((id) => room(id) > 0),
        (id) => {
          const rack = rackOf.get(id);
          return [rack !== undefined && racks.has(rack) ? 1 : 0, -room(id), id];
        },
      );
      if (best !== undefined) add(i, best);
      else if (!trade(i, false) && !trade(i, true)) add(i, minBy(candidates, (id) => [-room(id), id]) as number);
    }
  }

  /**
   * Gives partition `i` a full broker b1 that is not in it, and makes room on b1: some partition
   * this plan added b1 to takes a broker b2 instead, and so on, until a broker with room is reached.
   * Every partition on the chain still gets exactly as many new replicas as before. Only when there
   * is no such chain may the chain pass through replicas that were to stay (`moveKept`): each costs
   * one more move, which an even spread is worth.
   */
  function trade(i: number, moveKept: boolean): boolean {
    const via = new Map<number, { broker: number; partition: number }>();
    const seenPartitions = new Set([i]);
    const queue: number[] = [];
    for (const b of shares.ids()) {
      if (kept[i].includes(b)) continue;
      via.set(b, { broker: -1, partition: i });
      queue.push(b);
    }
    while (queue.length > 0) {
      const b = queue.shift() as number;
      if (room(b) > 0) {
        shares.take(b);
        // Walk back: each partition on the chain swaps the broker it had for the next one.
        for (let to = b; ; ) {
          const step = via.get(to) as { broker: number; partition: number };
          const j = step.partition;
          // A broker going back to a partition it was dropped from is not a move.
          if (!current[j].replicas.includes(to)) added[j].add(to);
          if (step.broker === -1) {
            kept[j].push(to);
            return true;
          }
          kept[j][kept[j].indexOf(step.broker)] = to;
          added[j].delete(step.broker);
          to = step.broker;
        }
      }
      for (let j = 0; j < current.length; j++) {
        if (seenPartitions.has(j) || !(added[j].has(b) || (moveKept && kept[j].includes(b)))) continue;
        seenPartitions.add(j);
        for (const c of shares.ids()) {
          if (kept[j].includes(c) || via.has(c)) continue;
          via.set(c, { broker: b, partition: j });
          queue.push(c);
        }
      }
    }
    return false;
  }
}

/** Orders each partition's replicas with a balanced choice of preferred leader first. */
function chooseLeaders(current: readonly PlannedReplicas[], sets: readonly number[][], ids: readonly number[]): number[][] {
  const share = Math.ceil(current.length / ids.length);
  const leads = new Map(ids.map((id) => [id, 0]));
  // Partitions whose preferred leader stays keep it, up to the share; the rest take the replica
  // leading least. Two passes, so a staying leader is never crowded out by a partition before it.
  const leader: number[] = new Array(current.length);
  current.forEach((p, i) => {
    const old = p.replicas[0];
    if (sets[i].includes(old) && (leads.get(old) ?? 0) < share) {
      leader[i] = old;
      leads.set(old, (leads.get(old) ?? 0) + 1);
    }
  });
  current.forEach((_, i) => {
    if (leader[i] !== undefined) return;
    leader[i] = minBy(sets[i], (id) => [leads.get(id) ?? 0, id]) as number;
    leads.set(leader[i], (leads.get(leader[i]) ?? 0) + 1);
  });
  // Then even out: while some busiest broker can hand a leadership down a chain of partitions
  // (b1 leads p1, which b2 replicates; b2 leads p2, ...) to a broker two or more below it, do so.
  // Each hand-down lowers the sum of squared counts, so this ends; it stops only when no chain
  // exists, which is when the counts are as even as these replica sets allow.
  const count = (id: number) => leads.get(id) ?? 0;
  const handDown = (from: number): boolean => {
    const via = new Map<number, { broker: number; partition: number }>([[from, { broker: from, partition: -1 }]]);
    for (const queue = [from]; queue.length > 0; ) {
      const u = queue.shift() as number;
      if (count(u) <= count(from) - 2) {
        for (let v = u; v !== from; ) {
          const step = via.get(v) as { broker: number; partition: number };
          leader[step.partition] = v;
          v = step.broker;
        }
        leads.set(from, count(from) - 1);
        leads.set(u, count(u) + 1);
        return true;
      }
      leader.forEach((l, k) => {
        if (l !== u) return;
        for (const v of sets[k]) {
          if (via.has(v)) continue;
          via.set(v, { broker: u, partition: k });
          queue.push(v);
        }
      });
    }
    return false;
  };
  for (let moved = true; moved; ) moved = [...ids].sort((a, b) => count(b) - count(a) || a - b).some(handDown);
  return sets.map((set, i) => [leader[i], ...set.filter((id) => id !== leader[i])]);
}
