/**
 * One assigned partition of a group consumer: fetches from its position (the next fetch already
 * under way while the application handles the current records: prefetch), hands records to the
 * application one at a time or a batch at a time, and tracks `finished`, the offset after the last
 * record the application finished — the only offset a commit may record, so a record is never
 * committed before its handler returned.
 *
 * Nothing is skipped: a handler that throws gets the same record (batch) again after a backoff; a fetch
 * that fails is retried from the same position; an offset out of range (retention deleted it, or
 * a reset moved past the end) moves to the nearest offset that exists.
 */
import { FlotillaError } from "../protocol/errors.js";
import { retryDelay, type RetryOptions } from "./retry.js";
import type { FetchedRecord, FetchResult } from "./types.js";

/** The application's handler, bound to one partition: a record at a time, or a batch. */
export type Deliver =
  | { kind: "message"; call(record: FetchedRecord): Promise<void> }
  | { kind: "batch"; call(records: FetchedRecord[], highWatermark: bigint, isCurrent: () => boolean): Promise<void> };

export interface ReaderHost {
  retry: RetryOptions;
  random(): number;
  /** Where to start: the group's committed offset, else per the subscription's fromBeginning. */
  startOffset(topic: string, partition: number): Promise<bigint>;
  /** Where to go after OFFSET_OUT_OF_RANGE at `offset`. */
  offsetInRange(topic: string, partition: number, offset: bigint): Promise<bigint>;
  fetch(topic: string, partition: number, offset: bigint): Promise<FetchResult>;
  isPaused(topic: string, partition: number): boolean;
}

const STOPPED = Symbol("stopped");

export class PartitionReader {
  /** Offset after the last record the application finished; undefined before the first. */
  finished: bigint | undefined;
  /** The last offset committed for this partition by this consumer. */
  committed: bigint | undefined;
  /** Set once the partition is being given up (revoked, or the consumer stops). */
  stopping = false;
  readonly done: Promise<void>;

  private position: bigint | undefined;
  private prefetched: { from: bigint; result: Promise<FetchResult> } | undefined;
  /** Moves on every seek, so records fetched before it are not handed out after it. */
  private seeks = 0;
  private signalStop!: () => void;
  private readonly stopSignal = new Promise<typeof STOPPED>((resolve) => (this.signalStop = () => resolve(STOPPED)));
  private wakeUp: (() => void) | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly host: ReaderHost,
    private readonly deliver: Deliver,
  ) {
    this.done = this.loop();
  }

  /** Reads from `offset` next (records already fetched past it are dropped). */
  seek(offset: bigint): void {
    this.position = offset;
    this.prefetched = undefined;
    this.seeks++;
    this.wake();
  }

  /** A paused partition resumed, or a seek: go on at once. */
  wake(): void {
    this.wakeUp?.();
  }

  /** Stops fetching and waits for the handler call under way, if any; `finished` is then final. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.signalStop();
    await this.done;
  }

  private async loop(): Promise<void> {
    for (let failures = 0; !this.stopping; ) {
      try {
        if (this.position === undefined) {
          const start = await this.untilStopped(this.host.startOffset(this.topic, this.partition));
          if (start === STOPPED) return;
          this.position ??= start;
        }
        if (this.host.isPaused(this.topic, this.partition)) {
          await this.untilStopped(new Promise<void>((resolve) => (this.wakeUp = resolve)));
          continue;
        }
        await this.step();
        failures = 0;
      } catch (e) {
        if (this.stopping) return;
        if (e instanceof FlotillaError && e.code === "OFFSET_OUT_OF_RANGE" && this.position !== undefined) {
          this.seek(await this.host.offsetInRange(this.topic, this.partition, this.position).catch(() => this.position!));
        }
        await this.untilStopped(sleep(retryDelay(this.host.retry, failures++, e, this.host.random())));
      }
    }
  }

  /** One fetch (or the prefetched one) and its records through the handler. */
  private async step(): Promise<void> {
    const from = this.position!;
    const seeks = this.seeks;
    const pending = this.prefetched?.from === from ? this.prefetched.result : this.host.fetch(this.topic, this.partition, from);
    this.prefetched = undefined;
    const res = await this.untilStopped(pending);
    if (res === STOPPED || seeks !== this.seeks || res.records.length === 0) return;
    const next = res.records[res.records.length - 1].offset + 1n;
    if (!this.host.isPaused(this.topic, this.partition)) {
      const result = this.host.fetch(this.topic, this.partition, next);
      result.catch(() => undefined); // a prefetch nobody takes (seek, stop) must not be an unhandled rejection
      this.prefetched = { from: next, result };
    }
    const current = (): boolean => !this.stopping && seeks === this.seeks;
    const d = this.deliver;
    if (d.kind === "batch") {
      if (!(await this.attempt(() => d.call(res.records, res.highWatermark, current)))) return;
      this.finished = next;
    } else {
      for (const r of res.records) {
        if (!current() || !(await this.attempt(() => d.call(r)))) return;
        this.finished = r.offset + 1n;
      }
    }
    if (current()) this.position = next;
  }

  /** Runs a handler call until it succeeds (the same records again after a backoff), or the reader stops: false. */
  private async attempt(call: () => Promise<void>): Promise<boolean> {
    for (let n = 0; ; n++) {
      try {
        await call();
        return true;
      } catch (e) {
        if (this.stopping) return false;
        if ((await this.untilStopped(sleep(retryDelay(this.host.retry, n, e, this.host.random())))) === STOPPED) return false;
      }
    }
  }

  private untilStopped<T>(p: Promise<T>): Promise<T | typeof STOPPED> {
    return Promise.race([p, this.stopSignal]);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
