/**
 * What the chaos run saw, and the checker that judges it.
 *
 * Every produced value is a unique id, so a value names one `send` of one message. The history
 * keeps: the acknowledgements (value → partition and offset the broker answered), the first value
 * seen at each (partition, offset) by any reader, the offsets where a later read saw another value
 * (divergence: two readers disagree about committed history), and the offsets readers jumped over.
 * At the end the checker compares it with a full read of every partition:
 *
 * - lost: acknowledged values not in the final log;
 * - misplaced: acknowledged values in the final log, but not at the offset the ack named;
 * - duplicated: extra copies of a value in the final log (a retried batch appended twice);
 * - divergent: offsets two reads (live readers or the final read) saw with different values;
 * - skipped: offsets a live reader jumped over, and offsets missing from the final log (below the
 *   high watermark, every offset from the log start holds a record: no compaction or retention here);
 * - groupSkipped: records a consumer group moved past without delivering.
 */

/** One record as read: its offset and value (the produced id). */
export interface ReadRecord {
  offset: bigint;
  value: string;
}

/** A whole partition read at the end. */
export interface FinalRead {
  logStartOffset: bigint;
  highWatermark: bigint;
  records: ReadRecord[];
}

export interface CheckResult {
  /** Records in the final logs. */
  read: number;
  lost: number;
  misplaced: number;
  duplicated: number;
  divergent: number;
  skipped: number;
  groupSkipped: number;
  /** A few examples of each problem, for people. */
  examples: string[];
}

const MAX_EXAMPLES = 20;

export class History {
  private readonly acks = new Map<string, { partition: number; offset: bigint }>();
  /** partition → offset → the first value read there. */
  private readonly seen = new Map<number, Map<bigint, string>>();
  private readonly divergentOffsets = new Set<string>();
  /** partition → the high watermark of its first final read, and who led it. */
  private readonly finalEnds = new Map<number, { end: bigint; leader: number }>();
  private skippedCount = 0;
  private groupSkippedCount = 0;
  readonly examples: string[] = [];

  get acked(): number {
    return this.acks.size;
  }

  ack(value: string, partition: number, offset: bigint): void {
    this.acks.set(value, { partition, offset });
  }

  /** A value read at (partition, offset), by a live reader or the final read. */
  observe(partition: number, offset: bigint, value: string, reader: string): void {
    let log = this.seen.get(partition);
    if (!log) this.seen.set(partition, (log = new Map()));
    const earlier = log.get(offset);
    if (earlier === undefined) log.set(offset, value);
    else if (earlier !== value && !this.divergentOffsets.has(`${partition}/${offset}`)) {
      this.divergentOffsets.add(`${partition}/${offset}`);
      this.example(`divergent: partition ${partition} offset ${offset} read as ${earlier} and, by ${reader}, as ${value}`);
    }
  }

  /**
   * A full linearizable read of a partition at the end, through `leader`. With the load stopped,
   * every leader must return the same records up to the same high watermark: the offsets one read
   * has and another lacks count as divergent.
   */
  observeFinal(partition: number, read: FinalRead, leader: number): void {
    for (const r of read.records) this.observe(partition, r.offset, r.value, `the final read led by broker ${leader}`);
    const earlier = this.finalEnds.get(partition);
    if (earlier === undefined) {
      this.finalEnds.set(partition, { end: read.highWatermark, leader });
      return;
    }
    if (earlier.end === read.highWatermark) return;
    const [lo, hi] = earlier.end < read.highWatermark ? [earlier.end, read.highWatermark] : [read.highWatermark, earlier.end];
    for (let o = lo; o < hi; o++) this.divergentOffsets.add(`${partition}/${o}`);
    this.example(`divergent: partition ${partition} read to ${earlier.end} led by broker ${earlier.leader}, to ${read.highWatermark} led by broker ${leader}`);
  }

  /** A live reader at `expected` got `got` next: anything in between was jumped over. */
  readerMoved(partition: number, expected: bigint, got: bigint, reader: string): void {
    if (got === expected) return;
    if (got > expected) this.skippedCount += Number(got - expected);
    this.example(`${reader}: partition ${partition} expected offset ${expected} next, got ${got}`);
  }

  groupSkipped(count: number, what: string): void {
    this.groupSkippedCount += count;
    this.example(`consumer group skipped ${count}: ${what}`);
  }

  /** Judges the history against the final read of every partition. */
  check(finals: ReadonlyMap<number, FinalRead>): CheckResult {
    const where = new Map<string, Array<{ partition: number; offset: bigint }>>();
    let read = 0;
    let skipped = this.skippedCount;
    for (const [partition, final] of finals) {
      let next = final.logStartOffset;
      for (const r of final.records) {
        read++;
        this.observe(partition, r.offset, r.value, "the final read");
        if (r.offset !== next) {
          skipped += r.offset > next ? Number(r.offset - next) : 0;
          this.example(`final read: partition ${partition} offset ${r.offset} where ${next} was expected`);
        }
        next = r.offset + 1n;
        const at = where.get(r.value);
        if (at) at.push({ partition, offset: r.offset });
        else where.set(r.value, [{ partition, offset: r.offset }]);
      }
      if (next < final.highWatermark) {
        skipped += Number(final.highWatermark - next);
        this.example(`final read: partition ${partition} ends at ${next}, below its high watermark ${final.highWatermark}`);
      }
    }
    let duplicated = 0;
    for (const [value, at] of where) {
      if (at.length < 2) continue;
      duplicated += at.length - 1;
      this.example(`duplicated: ${value} at ${at.map((a) => `${a.partition}/${a.offset}`).join(", ")}`);
    }
    let lost = 0;
    let misplaced = 0;
    for (const [value, ack] of this.acks) {
      const at = where.get(value);
      if (!at) {
        lost++;
        this.example(`lost: ${value}, acknowledged at ${ack.partition}/${ack.offset}`);
      } else if (!at.some((a) => a.partition === ack.partition && a.offset === ack.offset)) {
        misplaced++;
        this.example(`misplaced: ${value}, acknowledged at ${ack.partition}/${ack.offset}, found at ${at.map((a) => `${a.partition}/${a.offset}`).join(", ")}`);
      }
    }
    return { read, lost, misplaced, duplicated, divergent: this.divergentOffsets.size, skipped, groupSkipped: this.groupSkippedCount, examples: this.examples };
  }

  private example(line: string): void {
    if (this.examples.length < MAX_EXAMPLES) this.examples.push(line);
  }
}
