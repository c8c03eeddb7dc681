import type { Message } from "../../protocol/raft.js";
import type { Rng } from "./rng.js";

/** How badly the network behaves. Every fault can be switched off on its own. */
export interface NetworkFaults {
  /** Probability that a message is lost. */
  loss: number;
  /** Probability that a message is delivered twice (the copy with its own delay). */
  dup: number;
  /**
   * Probability that a message ignores the order of its link. Real transports (TCP, NATS) are FIFO
   * per connection and reorder only around reconnects, so this is a minority of messages.
   */
  reorder: number;
  /** Largest ordinary delay in ticks (≥ 1); delays vary, but FIFO messages keep their link's order. */
  maxDelay: number;
  /** Probability that a message is held back far longer (stale votes and Apps arriving late). */
  longDelay: number;
  /** Largest long delay in ticks. */
  maxLongDelay: number;
}

export const RELIABLE: NetworkFaults = { loss: 0, dup: 0, reorder: 0, maxDelay: 1, longDelay: 0, maxLongDelay: 1 };

/**
 * A deterministic fake network: messages wait in per-tick buckets until their delivery tick; a
 * bucket keeps sending order, so a link stays FIFO unless a message is picked to jump the queue.
 * Partitions are sets of cut directed links, each with its own end, so a cut can be symmetric or
 * one-way and partitions can overlap; a link cut while a message is on it drops the message at
 * delivery, as a real partition would.
 */
export class Network {
  private readonly buckets = new Map<number, Message[]>();
  /** Cut links and the tick at which each heals. */
  private readonly cut = new Map<number, number>();
  /** Delivery tick of the last FIFO message on each link. */
  private readonly linkAt = new Map<number, number>();
  private faults: NetworkFaults;
  private pending = 0;

  constructor(
    private readonly rng: Rng,
    faults: NetworkFaults,
  ) {
    this.faults = faults;
  }

  setFaults(faults: NetworkFaults): void {
    this.faults = faults;
  }

  get inFlight(): number {
    return this.pending;
  }

  /** Puts `m` on the wire at tick `now`; it arrives at `now + 1` at the earliest. */
  send(m: Message, now: number): void {
    const f = this.faults;
    if (f.loss > 0 && this.rng.chance(f.loss)) return;
    if (this.rng.chance(f.reorder)) this.enqueue(m, now + this.outOfOrderDelay());
    else {
      const key = linkKey(m.from, m.to);
      const at = Math.max(now + this.rng.range(1, f.maxDelay), this.linkAt.get(key) ?? 0);
      this.linkAt.set(key, at);
      this.enqueue(m, at);
    }
    // The copy is a retransmission that overtakes or trails the original.
    if (this.rng.chance(f.dup)) this.enqueue(m, now + this.outOfOrderDelay());
  }

  /** Removes and returns the messages due at tick `now`, without those whose link is cut. */
  due(now: number): Message[] {
    const bucket = this.buckets.get(now);
    if (bucket === undefined) return [];
    this.buckets.delete(now);
    this.pending -= bucket.length;
    return this.cut.size === 0 ? bucket : bucket.filter((m) => !this.isCut(m.from, m.to));
  }

  /**
   * A node that loses power takes the messages still in its send buffers with it: drops every
   * message from `from` that has not been delivered yet.
   */
  dropInFlight(from: number): void {
    for (const [at, bucket] of this.buckets) {
      const kept = bucket.filter((m) => m.from !== from);
      this.pending -= bucket.length - kept.length;
      this.buckets.set(at, kept);
    }
  }

  isCut(from: number, to: number): boolean {
    return this.cut.has(linkKey(from, to));
  }

  /** Cuts the one-way link from → to until tick `until`. */
  cutLink(from: number, to: number, until: number): void {
    const key = linkKey(from, to);
    this.cut.set(key, Math.max(until, this.cut.get(key) ?? 0));
  }

  /** Cuts every link between nodes of different groups, both ways, until tick `until`. */
  partition(groups: readonly (readonly number[])[], until: number): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i]) for (const b of groups[j]) this.cutLink(a, b, until);
      }
    }
  }

  get partitioned(): boolean {
    return this.cut.size > 0;
  }

  /** Restores the links whose cut has ended by `now`; true if any was. */
  healExpired(now: number): boolean {
    let healed = false;
    for (const [key, until] of this.cut) {
      if (until > now) continue;
      this.cut.delete(key);
      healed = true;
    }
    return healed;
  }

  heal(): void {
    this.cut.clear();
  }

  private outOfOrderDelay(): number {
    const f = this.faults;
    if (this.rng.chance(f.longDelay)) return this.rng.range(f.maxDelay, Math.max(f.maxDelay, f.maxLongDelay));
    return this.rng.range(1, f.maxDelay + 2);
  }

  private enqueue(m: Message, at: number): void {
    let bucket = this.buckets.get(at);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(at, bucket);
    }
    bucket.push(m);
    this.pending++;
  }
}

function linkKey(from: number, to: number): number {
  return from * 65536 + to;
}
