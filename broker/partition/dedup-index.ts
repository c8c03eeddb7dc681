/**
 * DedupIndex: batch UUID → where that batch sits in the log, for the most recent `window` batches,
 * and per idempotent producer its batches among them (the last one is what `checkSequence` checks
 * the producer's next batch against: producer-sequence.ts).
 *
 * It is derived from the log only, so every replica has it, not just the leader: an entry is added
 * when it enters the log (the leader at propose time, every replica when a Ready hands the entry
 * over, at open for the log's tail), committed or not, and removed when a truncation removes the
 * entry. A new leader therefore already knows the batches its predecessor appended, including the
 * uncommitted ones it inherited, and a restarted replica rebuilds the index from its log tail.
 * A truncation that removes a producer's last batch makes its batch before that the last again.
 *
 * Invariant: `order` lists the indexed entries by Raft index; `byId` maps each batch id to the
 * latest of them (a batch id appears at most once in a log the leader wrote, since the leader checks
 * the index before proposing); `byProducer` lists each producer's entries of `order`, in order.
 */
import { batchIdKey } from "./entry-codec.js";
import type { ProducerBatch } from "./producer-sequence.js";

export interface DedupEntry {
  index: number;
  term: number;
  baseOffset: number;
  /** Offset after the batch's last record. */
  nextOffset: number;
  /** The batch's idempotent producer, if it has one. */
  producer?: ProducerBatch;
}

export class DedupIndex {
  private readonly byId = new Map<string, DedupEntry>();
  private readonly byProducer = new Map<bigint, DedupEntry[]>();
  private order: Array<{ key: string; entry: DedupEntry }> = [];
  private head = 0;

  constructor(private readonly window: number) {}

  get size(): number {
    return this.byId.size;
  }

  /** Producers with a batch in the window. */
  get producers(): number {
    return this.byProducer.size;
  }

  lookup(batchId: Uint8Array): DedupEntry | undefined {
    return this.byId.get(batchIdKey(batchId));
  }

  /** The producer's last batch in the log (within the window). */
  lastOfProducer(producerId: bigint): ProducerBatch | undefined {
    const list = this.byProducer.get(producerId);
    return list?.[list.length - 1].producer;
  }

  /** Records an entry entering the log (idempotent for the same index and term). */
  add(batchId: Uint8Array, entry: DedupEntry): void {
    const key = batchIdKey(batchId);
    const known = this.byId.get(key);
    if (known && known.index === entry.index && known.term === entry.term) return;
    const lastIndex = this.order.length > this.head ? this.order[this.order.length - 1].entry.index : 0;
    if (entry.index <= lastIndex) this.truncateFrom(entry.index);
    this.byId.set(key, entry);
    this.order.push({ key, entry });
    if (entry.producer) {
      const list = this.byProducer.get(entry.producer.producerId);
      if (list) list.push(entry);
      else this.byProducer.set(entry.producer.producerId, [entry]);
    }
    while (this.order.length - this.head > this.window) {
      const old = this.order[this.head++];
      if (this.byId.get(old.key) === old.entry) this.byId.delete(old.key);
      this.forgetProducerEntry(old.entry, "first");
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }

  /** Forgets every entry at Raft index `from` or above (a truncated suffix). */
  truncateFrom(from: number): void {
    while (this.order.length > this.head && this.order[this.order.length - 1].entry.index >= from) {
      const e = this.order.pop()!;
      if (this.byId.get(e.key) === e.entry) this.byId.delete(e.key);
      this.forgetProducerEntry(e.entry, "last");
    }
  }

  /** Drops `entry` from its producer's list, where it is the oldest (window) or the newest (truncation). */
  private forgetProducerEntry(entry: DedupEntry, end: "first" | "last"): void {
    if (!entry.producer) return;
    const id = entry.producer.producerId;
    const list = this.byProducer.get(id);
    if (!list) return;
    if (end === "first" && list[0] === entry) list.shift();
    else if (end === "last" && list[list.length - 1] === entry) list.pop();
    if (list.length === 0) this.byProducer.delete(id);
  }
}
