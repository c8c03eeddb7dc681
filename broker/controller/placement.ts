import { FlotillaError } from "../../protocol/errors.js";
import type { MetadataImage } from "./metadata-image.js";
import { minBy } from "./lists.js";

/**
 * Replica placement for new topics: which brokers hold each partition, and in which order (the
 * first replica is the preferred leader, the one `leader rebalance` moves leadership to).
 *
 * The layout. Put the brokers on a ring and lay the topic's replicas out along it, partition after
 * partition, RF consecutive ring positions each: partition p starts at position p·RF. Consecutive
 * slots hit every broker equally, so for any partition count the replica counts per broker differ
 * by at most one. Leaders sit at the starts, p·RF mod n; when RF and n share a factor g those
 * starts only visit n/g positions, so every n/g partitions the layout steps one extra position
 * ("round"): each round covers lcm(RF, n) slots — a whole number of laps, so still even — and g
 * rounds in a row put a leader on every broker once. Leader counts then differ by at most one too.
 * (Kafka's layout — leader round-robin, followers at a shifting offset — is even only per full lap
 * of n partitions: 2 partitions RF 3 on 5 brokers give one broker 2 replicas and another 0.)
 *
 * Where the ring starts. Kafka picks a random broker so that many small topics do not all lead on
 * broker 1. We may not use randomness (every controller must compute the same thing), and we can do
 * better: the ring starts at the broker that leads the fewest partitions cluster-wide, so topic
 * after topic, leadership goes where there is least of it.
 *
 * Racks. When every broker names a rack, the ring alternates racks (a1 b1 c1 a2 b2 c2 ...), so RF
 * consecutive positions are on RF different racks whenever the racks are equally large; when they
 * are not, a partition skips along the ring to brokers of racks it does not have yet. A partition is
 * always on min(RF, racks) racks. When some broker has no rack, racks are ignored (as Kafka refuses
 * to mix, but a placement that works beats a refusal for a cluster being labelled one by one).
 *
 * Only the brokers passed in are used: the caller passes the unfenced ones.
 */

export interface PlacementBroker {
  readonly id: number;
  readonly rack?: string;
}

/** How much a broker already holds: partitions it is the preferred leader of, and replicas. */
export interface BrokerLoad {
  readonly leaders: number;
  readonly replicas: number;
}

export interface PlacementRequest {
  readonly brokers: readonly PlacementBroker[];
  readonly partitions: number;
  readonly replicationFactor: number;
  /** Existing load, to start the ring at the least-loaded broker. Brokers absent here hold nothing. */
  readonly load?: ReadonlyMap<number, BrokerLoad>;
}

/** Replica lists for partitions 0..partitions-1, preferred leader first. */
export function placeReplicas(request: PlacementRequest): number[][] {
  const { brokers, partitions, replicationFactor: rf } = request;
  const n = brokers.length;
  if (!Number.isInteger(rf) || rf < 1 || rf > n) {
    throw new FlotillaError("INVALID_REPLICATION_FACTOR", `replication factor ${rf} is not possible with ${n} unfenced brokers`);
  }
  const racks = rackAware(brokers);
  const ring = racks ? rackAlternated(brokers) : [...brokers].sort((a, b) => a.id - b.id);
  const start = leastLoadedPosition(ring, request.load);
  const g = gcd(rf, n);
  const perRound = n / g;
  const out: number[][] = [];
  for (let p = 0; p < partitions; p++) {
    const base = start + p * rf + Math.floor(p / perRound);
    out.push(racks ? takeRackDiverse(ring, base, rf) : Array.from({ length: rf }, (_, j) => ring[(base + j) % n].id));
  }
  return out;
}

/** Preferred-leader and replica counts per registered broker, over every topic in `image`. */
export function brokerLoads(image: MetadataImage): Map<number, BrokerLoad> {
  const leaders = new Map<number, number>();
  const replicas = new Map<number, number>();
  for (const t of image.topics()) {
    for (const p of t.partitions) {
      leaders.set(p.replicas[0], (leaders.get(p.replicas[0]) ?? 0) + 1);
      for (const id of p.replicas) replicas.set(id, (replicas.get(id) ?? 0) + 1);
    }
  }
  const out = new Map<number, BrokerLoad>();
  for (const b of image.brokers()) out.set(b.id, { leaders: leaders.get(b.id) ?? 0, replicas: replicas.get(b.id) ?? 0 });
  return out;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export function rackAware(brokers: readonly PlacementBroker[]): boolean {
  return brokers.length > 0 && brokers.every((b) => b.rack !== undefined);
}

/** One broker of each rack in turn (racks by name, brokers by id within a rack). */
function rackAlternated(brokers: readonly PlacementBroker[]): PlacementBroker[] {
  const byRack = new Map<string, PlacementBroker[]>();
  for (const b of [...brokers].sort((x, y) => x.id - y.id)) {
    const rack = b.rack as string;
    const list = byRack.get(rack);
    if (list) list.push(b);
    else byRack.set(rack, [b]);
  }
  const lists = [...byRack.keys()].sort().map((r) => byRack.get(r) as PlacementBroker[]);
  const out: PlacementBroker[] = [];
  for (let i = 0; out.length < brokers.length; i++) {
    for (const list of lists) if (i < list.length) out.push(list[i]);
  }
  return out;
}

/** The ring position of the broker with the fewest leaders (then replicas, then lowest id). */
function leastLoadedPosition(ring: readonly PlacementBroker[], load: ReadonlyMap<number, BrokerLoad> | undefined): number {
  const key = (i: number): number[] => {
    const l = load?.get(ring[i].id);
    return [l?.leaders ?? 0, l?.replicas ?? 0, ring[i].id];
  };
  return minBy(ring.keys(), key) ?? 0;
}

/**
 * `rf` brokers walking the ring from `base`: first only brokers of racks not yet used, then (when
 * there are fewer racks than replicas) any not yet taken. On an evenly alternated ring this takes
 * exactly the next `rf` positions.
 */
function takeRackDiverse(ring: readonly PlacementBroker[], base: number, rf: number): number[] {
  const n = ring.length;
  const taken: number[] = [];
  const racks = new Set<string>();
  for (let k = 0; k < n && taken.length < rf; k++) {
    const b = ring[(base + k) % n];
    if (!racks.has(b.rack as string)) {
      taken.push(b.id);
      racks.add(b.rack as string);
    }
  }
  for (let k = 0; k < n && taken.length < rf; k++) {
    const b = ring[(base + k) % n];
    if (!taken.includes(b.id)) taken.push(b.id);
  }
  return taken;
}
