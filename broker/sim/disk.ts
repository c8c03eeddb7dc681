import type { Entry, HardState, Message, Snapshot } from "../../protocol/raft.js";
import type { MemoryStorage } from "../raft/memory-storage.js";
import type { Rng } from "./rng.js";

/** The writes of one Ready, waiting for their fsync. */
export interface PendingWrite {
  readyNumber: number;
  snapshot?: Snapshot;
  entries: Entry[];
  hardState?: HardState;
  /** Messages that promise these writes are durable: they leave only after the fsync. */
  persistedMessages: Message[];
  /** Tick at which the fsync completes. */
  at: number;
}

/**
 * A node's fake disk. The MemoryStorage it wraps is the DURABLE state: a write reaches it only when
 * its fsync completes, after a random delay, in the order the writes were queued (a real log device
 * does not reorder fsyncs). A crash throws away everything still queued, which is exactly the
 * window in which a node that replies before persisting (`no-persist-vote`) forgets its promises.
 */
export class FakeDisk {
  private queue: PendingWrite[] = [];
  private head = 0;
  private lastAt = 0;

  constructor(
    readonly storage: MemoryStorage,
    private readonly rng: Rng,
    /** Largest fsync delay in ticks (0 = the fsync completes within the tick). */
    private readonly maxDelay: number,
  ) {}

  get pending(): number {
    return this.queue.length - this.head;
  }

  write(w: Omit<PendingWrite, "at">, now: number): void {
    // FIFO: a later write never completes before an earlier one.
    const at = Math.max(this.lastAt, now + this.rng.range(0, this.maxDelay));
    this.lastAt = at;
    this.queue.push({ ...w, at });
  }

  /**
   * Completes, in order, every write whose fsync is due by `now`, applying it to the durable storage,
   * and returns them so the caller can send their persisted messages and report them to the core.
   */
  flush(now: number): PendingWrite[] {
    const done: PendingWrite[] = [];
    while (this.head < this.queue.length && this.queue[this.head].at <= now) {
      const w = this.queue[this.head++];
      if (w.snapshot !== undefined) this.storage.applySnapshot(w.snapshot);
      if (w.entries.length > 0) this.storage.append(w.entries);
      if (w.hardState !== undefined) this.storage.setHardState(w.hardState);
      done.push(w);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    return done;
  }

  /** Power loss: every write not yet fsynced is gone. Returns how many were lost. */
  crash(): number {
    const lost = this.pending;
    this.queue = [];
    this.head = 0;
    return lost;
  }
}
