/**
 * The in-flight window of one follower in replicate state: the last index of every App message
 * sent and not yet acknowledged, with its size. Full when either `maxCount` messages or
 * `maxBytes` bytes are outstanding (bytes is a soft limit: one message may overshoot it).
 *
 * Invariant: `indexes` is strictly increasing (App messages are sent in log order).
 */
export class Inflights {
  private indexes: number[] = [];
  private sizes: number[] = [];
  /** Position of the oldest outstanding entry in the arrays; compacted when it passes half. */
  private start = 0;
  private bytes = 0;

  constructor(
    readonly maxCount: number,
    readonly maxBytes: number,
  ) {}

  add(index: number, bytes: number): void {
    this.indexes.push(index);
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  /** Frees every message whose last index is ≤ `index` (acknowledged). */
  freeLE(index: number): void {
    let i = this.start;
    while (i < this.indexes.length && this.indexes[i] <= index) {
      this.bytes -= this.sizes[i];
      i++;
    }
    this.start = i;
    if (this.start === this.indexes.length) this.reset();
    else if (this.start > 64 && this.start * 2 > this.indexes.length) {
      this.indexes = this.indexes.slice(this.start);
      this.sizes = this.sizes.slice(this.start);
      this.start = 0;
    }
  }

  full(): boolean {
    return this.count() >= this.maxCount || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  count(): number {
    return this.indexes.length - this.start;
  }

  reset(): void {
    this.indexes = [];
    this.sizes = [];
    this.start = 0;
    this.bytes = 0;
  }
}
