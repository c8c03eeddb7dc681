/**
 * One timer that ticks every Raft group this broker hosts: a thousand partitions cost one
 * setInterval, not a thousand.
 */
export class SharedTicker {
  private readonly ticks = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;

  /** Adds a group's tick; returns what removes it (PartitionReplica's `ticker` option). */
  add(tick: () => void): () => void {
    this.ticks.add(tick);
    return () => this.ticks.delete(tick);
  }

  start(everyMs: number): void {
    this.timer = setInterval(() => {
      for (const t of this.ticks) t();
    }, everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
