/**
 * Following the metadata log: applies committed metadata records in order into this broker's
 * MetadataImage. Controllers read their own replica (fetch from the next offset, long-polled, up to
 * the high watermark = applied commit); other brokers (KRaft observers) fetch the same partition
 * from its leader over NATS on the ordinary fetch subject. A record that does not decode is a newer
 * version: applying stops there and the broker says to upgrade. The image is rebuilt by replaying
 * from offset 0 at every start (no metadata snapshots yet).
 */
import type { Logger } from "pino";
import { DecodeError } from "../../protocol/decode-error.js";
import { FlotillaError } from "../../protocol/errors.js";
import { decodeRecords, iterateBatches } from "../../protocol/record-batch.js";
import { MESSAGE_OVERHEAD_BYTES, decodeResponse, encodeRequest, type RequestLimits } from "../../protocol/requests.js";
import { subjects } from "../../protocol/subjects.js";
import { MetadataImage, decodeMetadataRecord, type ApplyResult, type MetadataEvent, type MetadataRecord } from "../controller/index.js";
import type { PartitionReplica } from "../partition/index.js";
import type { MessageBus } from "../transport/index.js";
import { natsRequestError } from "./request-errors.js";
import { sleep } from "./sleep.js";

/** What a metadata fetch, local or over the bus, gives the follower. */
type FetchedBatches = { highWatermark: bigint; batches: Uint8Array };

/** The internal topic whose partition 0 is the metadata log. */
export const METADATA_TOPIC = "__cluster_metadata";
export const METADATA_PARTITION = 0;
/** ApplyResults kept for proposers that come to read them after the apply loop passed. */
const KEPT_RESULTS = 4096;

export interface MetadataFollowerOptions {
  bus: MessageBus;
  cluster: string;
  limits: RequestLimits;
  logger: Logger;
  /** True once the broker is stopping: the loop ends. */
  stopping: () => boolean;
  /** Called once caught up with the log, and after that whenever applied records had events. */
  reconcile: () => void;
}

export class MetadataFollower {
  private imageApplied: MetadataImage = MetadataImage.EMPTY;
  /** Offset of the next metadata record to apply; the metadata index applied is this number. */
  private next = 0n;
  private halted: string | undefined;
  private caughtUpWithLog = false;
  private markCaughtUp!: () => void;
  /** Resolves once the image has caught up with the log since start. */
  readonly caughtUpOnce = new Promise<void>((resolve) => (this.markCaughtUp = resolve));
  private readonly results = new Map<number, ApplyResult>();
  /** The replicas each partition was created with, by `topicId/partition` (its group's bootstrapped voters). */
  private readonly createdWith = new Map<string, readonly number[]>();
  /** Brokers a cancelled reassignment left out, by `topicId/partition`, until the partition's next reassignment. */
  private readonly abandonedBy = new Map<string, readonly number[]>();
  private appliedWaiters: Array<{ index: number; resolve: (ok: boolean) => void; timer: NodeJS.Timeout }> = [];

  constructor(private readonly options: MetadataFollowerOptions) {}

  /** The image as applied here. */
  get image(): MetadataImage {
    return this.imageApplied;
  }

  /** The metadata index applied to this broker's image. */
  get appliedIndex(): number {
    return Number(this.next);
  }

  /** Whether the image has caught up with the log since start (reconciling before that would act on a partial replay). */
  get caughtUp(): boolean {
    return this.caughtUpWithLog;
  }

  /**
   * The replicas a partition was created with, if this broker applied its creation: the voters its
   * initial members bootstrap their logs with (see HostedReplicas.start).
   */
  createdReplicas(topicId: string, partition: number): readonly number[] | undefined {
    return this.createdWith.get(`${topicId}/${partition}`);
  }

  /**
   * Brokers the partition's last reassignment, cancelled, had added and then left out. Their
   * replicas may still count in the group until its leader has moved membership back, unlike
   * those a completed reassignment removed (completion is recorded only once the group has left
   * them out), so they are deleted only once their own group configuration says so.
   */
  abandonedReplicas(topicId: string, partition: number): readonly number[] {
    return this.abandonedBy.get(`${topicId}/${partition}`) ?? [];
  }

  /** The ApplyResult of metadata index `index`, while it is among the last KEPT_RESULTS. */
  result(index: number): ApplyResult | undefined {
    return this.results.get(index);
  }

  /** The apply loop, until the broker stops: from `local` (a controller's own replica) or, without one, from the leader over NATS. */
  async run(local: PartitionReplica | undefined): Promise<void> {
    const maxBytes = this.options.limits.maxMessageBytes - MESSAGE_OVERHEAD_BYTES.fetchResponse;
    let reconcilePending = false;
    let readIndexed = false;
    while (!this.options.stopping()) {
      if (this.halted) {
        await sleep(1000);
        continue;
      }
      try {
        let res: FetchedBatches;
        if (local) {
          res = await local.fetch({ offset: this.next, maxBytes, maxWaitMs: 500 });
        } else {
          res = await this.fetchRemote(maxBytes);
        }
        if (this.options.stopping()) return;
        if (this.apply(res.batches)) reconcilePending = true;
        // Reconcile from an image that is caught up, not from every step of a long replay.
        if (this.next >= res.highWatermark) {
          if (!this.caughtUpWithLog && local && !readIndexed) {
            // A controller's own replica may be behind the group (just restarted, its commit
            // index from before): caught up means up to a read index from the leader.
            await local.readIndex(5000);
            readIndexed = true;
            continue;
          }
          if (!this.caughtUpWithLog) {
            this.caughtUpWithLog = true;
            this.markCaughtUp();
            this.options.logger.info({ appliedIndex: this.appliedIndex }, "caught up with the metadata log");
            reconcilePending = true;
          }
          if (reconcilePending) this.options.reconcile();
          reconcilePending = false;
        }
      } catch (err) {
        if (this.options.stopping()) return;
        this.options.logger.debug({ err }, "metadata fetch failed; retrying");
        await sleep(200);
      }
    }
  }

  /** An observer's fetch of the metadata log from its leader, over the bus (the ordinary fetch subject). */
  private async fetchRemote(maxBytes: number): Promise<FetchedBatches> {
    const request = encodeRequest(
      "fetch",
      { topic: METADATA_TOPIC, partition: METADATA_PARTITION, offset: this.next, maxBytes, minBytes: 1, maxWaitMs: 1000, consistency: "leader" },
      this.options.limits,
    );
    let reply: Uint8Array;
    try {
      reply = await this.options.bus.request(subjects.fetch(this.options.cluster, METADATA_TOPIC, METADATA_PARTITION), request, 5000);
    } catch (e) {
      throw natsRequestError(e, "metadata fetch");
    }
    const res = decodeResponse("fetch", reply, this.options.limits);
    if (res.error) throw FlotillaError.fromWire(res.error);
    return { highWatermark: res.highWatermark, batches: res.batches };
  }

  /** Applies the records of `batches` past the applied point, in order. Returns whether any had events. */
  private apply(batches: Uint8Array): boolean {
    let events = false;
    for (const span of iterateBatches(batches)) {
      for (const rec of decodeRecords(batches.subarray(span.at, span.at + span.size))) {
        if (rec.offset < this.next) continue;
        if (rec.offset !== this.next) throw new Error(`metadata log: record at offset ${rec.offset}, expected ${this.next}`);
        const index = Number(rec.offset) + 1;
        let record: MetadataRecord;
        try {
          if (rec.value === null) throw new DecodeError("metadata record without a value");
          record = decodeMetadataRecord(rec.value);
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          this.halted = `metadata index ${index} does not decode (${err.message}): a newer broker wrote it; upgrade this broker`;
          this.options.logger.error({ index, err }, this.halted);
          return events;
        }
        const result = this.imageApplied.apply(record, index);
        this.imageApplied = result.image;
        this.next = rec.offset + 1n;
        this.results.set(index, result);
        if (this.results.size > KEPT_RESULTS) this.results.delete(this.results.keys().next().value!);
        for (const e of result.events) this.remember(e);
        if (result.events.length > 0) events = true;
        if (result.rejected) this.options.logger.debug({ index, type: record.type, rejected: result.rejected }, "metadata record rejected");
        else this.options.logger.debug({ index, type: record.type }, "metadata record applied");
      }
    }
    const applied = this.appliedIndex;
    this.appliedWaiters = this.appliedWaiters.filter((w) => {
      if (w.index > applied) return true;
      clearTimeout(w.timer);
      w.resolve(true);
      return false;
    });
    return events;
  }

  /** Keeps what the image forgets but replicas need: how a partition started, and who a cancel left out. */
  private remember(e: MetadataEvent): void {
    if (e.type !== "partitionAdded" && e.type !== "partitionRemoved" && e.type !== "reassignmentStarted" && e.type !== "reassignmentCancelled") return;
    const key = `${e.topicId}/${e.partition}`;
    if (e.type === "partitionAdded") this.createdWith.set(key, e.replicas);
    else if (e.type === "partitionRemoved") this.createdWith.delete(key);
    if (e.type === "reassignmentCancelled") this.abandonedBy.set(key, e.abandoned);
    else this.abandonedBy.delete(key);
  }

  /** Resolves true once this broker has applied metadata index `index`, false after `ms`. */
  waitApplied(index: number, ms: number): Promise<boolean> {
    if (this.appliedIndex >= index) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = {
        index,
        resolve,
        timer: setTimeout(() => {
          this.appliedWaiters = this.appliedWaiters.filter((x) => x !== w);
          resolve(false);
        }, ms),
      };
      this.appliedWaiters.push(w);
    });
  }

  /** Stopping: every waiter resolves false now. */
  close(): void {
    for (const w of this.appliedWaiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.appliedWaiters = [];
  }
}
