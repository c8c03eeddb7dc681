/**
 * What a benchmark measures, kept exactly: every latency sample (milliseconds, in a growing
 * Float64Array: 8 bytes a record, fine at the record counts we run), and records completed per
 * time bin for the throughput-over-time chart. Percentiles are nearest-rank over the sorted
 * samples; the histogram buckets are log-spaced, since latencies span four orders of magnitude.
 */

/** The q-quantile (0 < q ≤ 1) of ascending `sorted` by nearest rank; 0 when empty. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export class LatencyRecorder {
  private samples = new Float64Array(1024);
  private n = 0;
  private sorted: Float64Array | undefined;

  record(ms: number): void {
    if (this.n === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.n++] = ms;
    this.sorted = undefined;
  }

  /** `count` samples of the same latency (a batch of records acknowledged together). */
  recordMany(ms: number, count: number): void {
    for (let i = 0; i < count; i++) this.record(ms);
  }

  get count(): number {
    return this.n;
  }

  /** Samples in ascending order (cached until the next record). */
  ascending(): Float64Array {
    this.sorted ??= this.samples.slice(0, this.n).sort();
    return this.sorted;
  }

  percentile(q: number): number {
    return percentile(this.ascending(), q);
  }
}

/** Records completed per `binMs` since `start` (performance.now() time). */
export class Timeline {
  readonly counts: number[] = [];

  constructor(
    readonly start: number,
    readonly binMs: number,
  ) {}

  add(at: number, records: number): void {
    const bin = Math.max(0, Math.floor((at - this.start) / this.binMs));
    while (this.counts.length <= bin) this.counts.push(0);
    this.counts[bin] += records;
  }

  /** Records per second in each bin. */
  ratePerSec(): number[] {
    return this.counts.map((c) => (c * 1000) / this.binMs);
  }
}

export interface HistogramBucket {
  /** Upper bound of the bucket in ms (the lower bound is the previous bucket's). */
  upToMs: number;
  count: number;
}

/**
 * Log-spaced buckets, `perDecade` per power of ten, from the one holding the smallest sample to
 * the one holding the largest. The first bucket also holds everything at or below its bound.
 */
export function logHistogram(sorted: Float64Array, perDecade = 10): HistogramBucket[] {
  if (sorted.length === 0) return [];
  const floorMs = 0.01;
  const index = (ms: number): number => Math.max(0, Math.ceil(Math.log10(Math.max(ms, floorMs) / floorMs) * perDecade - 1e-9));
  const first = index(sorted[0]);
  const last = index(sorted[sorted.length - 1]);
  const buckets: HistogramBucket[] = [];
  for (let i = first; i <= last; i++) buckets.push({ upToMs: floorMs * 10 ** (i / perDecade), count: 0 });
  for (const ms of sorted) buckets[index(ms) - first].count++;
  return buckets;
}
