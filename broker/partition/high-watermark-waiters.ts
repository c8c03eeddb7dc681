/** HighWatermarkWaiters: the fetches long-polling for the high watermark to move. */
interface FetchWaiter {
  wake: () => void;
}

export class HighWatermarkWaiters {
  private readonly waiters = new Set<FetchWaiter>();

  /** Resolves when woken (the high watermark moved, or the replica stopped) or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const w: FetchWaiter = {
        wake: () => {
          this.waiters.delete(w);
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(w.wake, ms);
      this.waiters.add(w);
    });
  }

  wakeAll(): void {
    for (const f of [...this.waiters]) f.wake();
  }

  /** How many fetches are waiting now. */
  get size(): number {
    return this.waiters.size;
  }
}
