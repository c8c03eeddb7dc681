/**
 * The producer. One `send`, from the call to the acks:
 *
 * 1. `send` checks every message up front (value types, explicit partitions, sizes) and rejects the
 *    whole call before queueing anything when one is wrong.
 * 2. It learns the topic's partition count (MetadataCache) and, message by message in order, waits
 *    for room in the byte budget (back-pressure), picks the partition (explicit, murmur2 of the key
 *    as Kafka does, or sticky for null keys) and appends the record to that partition's open batch.
 * 3. A batch closes when the next record would not fit in `batchBytes` (itself capped by the
 *    server's max payload less the request overhead), or `lingerMs` after its first record. Closing
 *    encodes one Kafka RecordBatch v2 (protocol/record-batch.ts) with a fresh 16-byte UUID and,
 *    when idempotent with acks "all", the producer id, the partition's epoch and next sequence; the
 *    UUID never changes afterwards, nor do the bytes unless the sequence restarts (6.).
 * 4. Up to `maxInFlight` closed batches per partition are sent at once, in order, to the partition's
 *    produce subject (NATS routes to the leader). Each answer's base offset resolves the batch;
 *    message i of a batch is at baseOffset + i.
 * 5. A retriable error (no leader, not leader, timeout, no responders) is retried with backoff by
 *    retry.ts with the same UUID, so the broker's dedup index answers a repeat with the first
 *    write's offset instead of appending it again. While a batch of a partition is being retried, no
 *    new batch of that partition is sent, and a retried batch waits until the batch before it has
 *    settled, so retries go out in order. Other errors reject the messages of that batch with the
 *    typed FlotillaError. A BATCH_TOO_LARGE for a batch of several records (a broker whose limit is
 *    below ours) splits it in two, sent one after the other, as Kafka's producer does.
 * 6. Order with several batches in flight: the partition leader appends a producer's batches only
 *    in sequence order (broker/partition/producer-sequence.ts). When a request is lost, the batches
 *    sent behind it are refused with the retriable OUT_OF_ORDER_SEQUENCE and retried after it, so
 *    they land in the order they were sent, across leader changes too. A gap that nothing will
 *    fill (an earlier batch failed for good, or the partition forgot the producer: UNKNOWN_PRODUCER)
 *    shows as a sequence error that persists once every earlier batch has settled; the partition
 *    then restarts its numbering in a new epoch at this batch (Kafka's epoch bump), re-encoding the
 *    batches from it on, and a straggler of the old epoch can no longer land after them.
 *    Sequences are sent with acks "all" only: an acks "leader" batch may be lost in a leader change
 *    after its ack, which would leave such a gap behind every later batch (Kafka requires acks=all
 *    for idempotence for the same reason). Those batches keep their UUID dedup, not their order.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { FlotillaError } from "../protocol/errors.js";
import { encodeRecordBatch, RECORD_BATCH_HEADER_SIZE, type RecordInput } from "../protocol/record-batch.js";
import { maxProducedBatchBytes, type Acks } from "../protocol/requests.js";
import { topicNameProblem } from "../protocol/subjects.js";
import { AttemptTimeout } from "./attempt-timeout.js";
import { ByteBudget } from "./buffer-pool.js";
import { recordSizeBound, toBytes, toRecordHeaders } from "./bytes.js";
import type { ClientContext } from "./context.js";
import { MetadataCache } from "./metadata.js";
import { StickyPartitioner } from "./partitioner.js";
import { DEFAULT_RETRY, retry, retryOptionsProblems, type RetryOptions } from "./retry.js";
import { Rpc } from "./rpc.js";
import type { Message, ProducerConfig, ProducerRecord, RecordMetadata } from "./types.js";

export const PRODUCER_DEFAULTS = {
  acks: "all" as Acks,
  idempotent: true,
  lingerMs: 5,
  batchBytes: 512 * 1024,
  maxInFlight: 5,
  bufferBytes: 32 * 1024 * 1024,
  // Short on purpose: a request that reached a leader which then died gets no answer at all (NATS
  // cannot tell); an idempotent producer resends sooner (attempt-timeout.ts), others wait this out.
  timeoutMs: 5_000,
} as const;

export interface ResolvedProducerConfig {
  acks: Acks;
  idempotent: boolean;
  lingerMs: number;
  batchBytes: number;
  maxInFlight: number;
  bufferBytes: number;
  timeoutMs: number;
  retry: RetryOptions;
}

/** Checks a producer config and fills in defaults; throws one error naming every problem. */
export function resolveProducerConfig(c: ProducerConfig = {}, retryDefaults: RetryOptions = DEFAULT_RETRY): ResolvedProducerConfig {
  const problems: string[] = [];
  const acks = c.acks ?? PRODUCER_DEFAULTS.acks;
  if (acks !== "all" && acks !== "leader" && acks !== "none") problems.push(`acks ${JSON.stringify(c.acks)} must be "all", "leader" or "none"`);
  if (c.idempotent !== undefined && typeof c.idempotent !== "boolean") problems.push(`idempotent ${JSON.stringify(c.idempotent)} must be true or false`);
  const int = (k: "lingerMs" | "batchBytes" | "maxInFlight" | "bufferBytes" | "timeoutMs", min: number): number => {
    const v = c[k] ?? PRODUCER_DEFAULTS[k];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) problems.push(`${k} ${String(v)} must be an integer ≥ ${min}`);
    return v;
  };
  const lingerMs = int("lingerMs", 0);
  const batchBytes = int("batchBytes", RECORD_BATCH_HEADER_SIZE + 16);
  const maxInFlight = int("maxInFlight", 1);
  const bufferBytes = int("bufferBytes", 1);
  const timeoutMs = int("timeoutMs", 1);
  if (Number.isSafeInteger(bufferBytes) && Number.isSafeInteger(batchBytes) && bufferBytes < batchBytes) {
    problems.push(`bufferBytes ${bufferBytes} must be at least batchBytes ${batchBytes}`);
  }
  if (timeoutMs > 300_000) problems.push(`timeoutMs ${timeoutMs} must be at most 300000`);
  problems.push(...retryOptionsProblems(c.retry ?? {}));
  if (problems.length > 0) throw new FlotillaError("INVALID_CONFIG", `producer config: ${problems.join("; ")}`);
  return {
    acks,
    idempotent: c.idempotent ?? PRODUCER_DEFAULTS.idempotent,
    lingerMs,
    batchBytes,
    maxInFlight,
    bufferBytes,
    timeoutMs,
    retry: { ...retryDefaults, ...c.retry },
  };
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Where record `index` of a batch landed (-1n with acks "none"). */
type OffsetOf = (index: number) => bigint;

/** A batch taking records. `bytes` bounds its encoded size from above. */
interface OpenBatch {
  records: RecordInput[];
  bytes: number;
  timer: NodeJS.Timeout | undefined;
  result: Deferred<OffsetOf>;
  /** Its linger is over, but the partition had no room to send: it closes when a slot frees. */
  lingered: boolean;
}

/** A closed batch: bytes and UUID fixed for every attempt. */
interface ClosedBatch {
  bytes: Uint8Array;
  /** Budget bytes held by its records, released when it settles. */
  held: number;
  id: Uint8Array;
  /** The epoch and first sequence the bytes carry (epoch -1: not sequenced). */
  epoch: number;
  sequence: number;
  /** The records and their timestamp, kept to split or renumber the batch. */
  records: RecordInput[];
  timestamp: bigint;
  result: Deferred<OffsetOf>;
  retrying: boolean;
}

/** Per topic-partition: the open batch, batches waiting to go, and the in-flight window. */
interface PartitionQueue {
  topic: string;
  partition: number;
  open: OpenBatch | undefined;
  ready: ClosedBatch[];
  inFlight: number;
  /** Batches of this partition in a retry: while any is, no new batch is sent. */
  retrying: number;
  /** Settles when every batch handed to the sender so far has settled (ok or not). */
  lastSettled: Promise<void>;
  /** The epoch and sequence of the next batch closed. */
  epoch: number;
  nextSequence: number;
  /** Restarts of the numbering: epoch → the sequence of that epoch that became 0 in the next one. */
  restarts: Map<number, number>;
  /** The topic's partition count when a record was last appended (for the sticky partitioner). */
  numPartitions: number;
}

/** A UUID (v4) as its 16 bytes. */
export function newBatchId(): Uint8Array {
  return Buffer.from(randomUUID().replaceAll("-", ""), "hex");
}

const INT32_MAX = 2 ** 31 - 1;
const SEQUENCE_SPACE = 2 ** 31;
/** Producer epochs are int16 in the batch header. */
const MAX_EPOCH = 2 ** 15 - 1;

export class Producer {
  readonly config: ResolvedProducerConfig;
  private rpc: Rpc | undefined;
  private readonly metadata: MetadataCache;
  private readonly partitioner: StickyPartitioner;
  private readonly queues = new Map<string, PartitionQueue>();
  private readonly budget: ByteBudget;
  private readonly attemptTimeout: AttemptTimeout;
  /** A random producer id (no broker assigns one yet), sent with each batch's sequence. */
  readonly producerId: bigint;
  private state: "new" | "connected" | "disconnecting" | "disconnected" = "new";
  private pending = new Set<Promise<unknown>>();
  /** Flushes under way: while any is, batches are sent without lingering. */
  private flushing = 0;

  constructor(
    private readonly ctx: ClientContext,
    config: ProducerConfig = {},
    random: () => number = Math.random,
  ) {
    this.config = resolveProducerConfig(config, ctx.retry);
    this.metadata = new MetadataCache(() => this.connected("send"), ctx.requestTimeoutMs, undefined, ctx.env);
    this.partitioner = new StickyPartitioner(random);
    this.budget = new ByteBudget(this.config.bufferBytes);
    this.attemptTimeout = new AttemptTimeout(this.config.timeoutMs + 1000, this.config.idempotent);
    this.producerId = randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn;
  }

  async connect(): Promise<void> {
    if (this.state === "connected") return;
    if (this.state === "disconnecting") throw new FlotillaError("INVALID_REQUEST", "producer is disconnecting; create a new one");
    this.rpc = new Rpc(await this.ctx.connection.acquire(this), this.ctx.cluster);
    this.state = "connected";
  }

  /** Sends every open batch now and waits until every message sent so far is settled. Then releases the connection. */
  async disconnect(): Promise<void> {
    if (this.state !== "connected") return;
    this.state = "disconnecting";
    await this.flush();
    await this.ctx.connection.release(this);
    this.rpc = undefined;
    this.state = "disconnected";
  }

  /**
   * Sends every open batch now and waits until every `send` made so far has settled. Records that
   * such a send appends while the flush runs (it may still be looking up metadata) do not linger.
   */
  async flush(): Promise<void> {
    this.flushing++;
    try {
      for (const q of this.queues.values()) this.close(q);
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    } finally {
      this.flushing--;
    }
  }

  /** Bytes of messages queued or in flight (the back-pressure budget in use). */
  get bufferedBytes(): number {
    return this.budget.inUse;
  }

  /** The largest batch this producer builds: its batchBytes, within what a broker accepts on this server. */
  get maxBatchBytes(): number {
    const rpc = this.connected("send");
    return Math.min(this.config.batchBytes, maxProducedBatchBytes(rpc.requester.maxPayload));
  }

  /** Resolves with one `{ topic, partition, offset }` per message, in order. */
  send(record: ProducerRecord): Promise<RecordMetadata[]> {
    const p = this.doSend(record);
    this.pending.add(p);
    const done = (): void => void this.pending.delete(p);
    p.then(done, done);
    return p;
  }

  private async doSend({ topic, messages }: ProducerRecord): Promise<RecordMetadata[]> {
    if (this.state !== "connected") {
      throw new FlotillaError("INVALID_REQUEST", this.state === "new" ? "producer is not connected: call connect() first" : "producer is disconnected");
    }
    const problem = typeof topic === "string" ? topicNameProblem(topic) : "topic must be a string";
    if (problem) throw new FlotillaError("INVALID_TOPIC", problem);
    if (!Array.isArray(messages) || messages.length === 0) throw new FlotillaError("INVALID_REQUEST", "send: messages must be a non-empty array");

    const maxBatch = this.maxBatchBytes;
    const prepared = messages.map((m, i) => this.prepare(topic, m, i, maxBatch));
    const problems = prepared.filter((p): p is string => typeof p === "string");
    if (problems.length > 0) {
      const tooLarge = problems.some((p) => p.includes("too large"));
      throw new FlotillaError(tooLarge ? "BATCH_TOO_LARGE" : "INVALID_REQUEST", `send to ${topic}: ${problems.join("; ")}`);
    }
    const numPartitions = await this.metadata.partitions(topic);
    const bad = messages.map((m, i) => (m.partition !== undefined && m.partition >= numPartitions ? i : -1)).filter((i) => i >= 0);
    if (bad.length > 0) {
      throw new FlotillaError(
        "INVALID_PARTITION",
        `send to ${topic}: message${bad.length > 1 ? "s" : ""} ${bad.join(", ")} name${bad.length > 1 ? "" : "s"} partition ${messages[bad[0]].partition}, but the topic has ${numPartitions} (0..${numPartitions - 1})`,
      );
    }

    // One promise per batch, not per message: a message is only a slot in its batch.
    const slots: Array<{ partition: number; index: number; result: Promise<OffsetOf> }> = new Array(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const { record, size } = prepared[i] as { record: RecordInput; size: number };
      if (!this.budget.tryAcquire(size)) await this.budget.acquire(size);
      const partition = this.partitioner.partition(topic, record.key, numPartitions, messages[i].partition);
      slots[i] = { partition, ...this.append(topic, partition, numPartitions, record, size, maxBatch) };
    }
    const batches = [...new Set(slots.map((s) => s.result))];
    const position = new Map(batches.map((b, i) => [b, i]));
    const offsetOfs = await Promise.all(batches);
    return slots.map((s) => ({ topic, partition: s.partition, offset: offsetOfs[position.get(s.result)!](s.index) }));
  }

  /** The record for message `i`, with its size bound, or what is wrong with it. */
  private prepare(topic: string, m: Message, i: number, maxBatch: number): { record: RecordInput; size: number } | string {
    if (m === null || typeof m !== "object") return `message ${i} is not an object`;
    const isBytes = (v: unknown): boolean => v === null || v === undefined || typeof v === "string" || v instanceof Uint8Array;
    const problems: string[] = [];
    if (!isBytes(m.key)) problems.push("key must be a Buffer, a string or null");
    if (m.value === undefined || !isBytes(m.value)) problems.push("value must be a Buffer, a string or null");
    if (m.partition !== undefined && !(Number.isInteger(m.partition) && m.partition >= 0 && m.partition <= INT32_MAX)) {
      problems.push(`partition ${String(m.partition)} must be an integer ≥ 0`);
    }
    if (m.timestamp !== undefined && !(Number.isSafeInteger(m.timestamp) && m.timestamp >= 0)) problems.push(`timestamp ${String(m.timestamp)} must be milliseconds since the epoch`);
    if (m.headers !== undefined && (m.headers === null || typeof m.headers !== "object")) problems.push("headers must be an object");
    if (problems.length > 0) return `message ${i}: ${problems.join(", ")}`;
    const record: RecordInput = { key: toBytes(m.key), value: toBytes(m.value), headers: toRecordHeaders(m.headers) };
    if (m.timestamp !== undefined) record.timestamp = BigInt(m.timestamp);
    const size = recordSizeBound(record.key, record.value, record.headers!);
    if (RECORD_BATCH_HEADER_SIZE + size > maxBatch) {
      return `message ${i} is too large: ${size} bytes, a batch to ${topic} holds at most ${maxBatch - RECORD_BATCH_HEADER_SIZE} bytes of records (batchBytes, or the NATS max payload)`;
    }
    return { record, size };
  }

  private queue(topic: string, partition: number): PartitionQueue {
    const k = `${topic}\u0000${partition}`;
    let q = this.queues.get(k);
    if (!q) {
      q = { topic, partition, open: undefined, ready: [], inFlight: 0, retrying: 0, lastSettled: Promise.resolve(), epoch: 0, nextSequence: 0, restarts: new Map(), numPartitions: 1 };
      this.queues.set(k, q);
    }
    return q;
  }

  /** Adds the record to the partition's open batch; its offset comes from `result` at `index`. */
  private append(topic: string, partition: number, numPartitions: number, record: RecordInput, size: number, maxBatch: number): { index: number; result: Promise<OffsetOf> } {
    const q = this.queue(topic, partition);
    q.numPartitions = numPartitions;
    if (q.open && q.open.bytes + size > maxBatch) this.close(q);
    if (!q.open) {
      const open: OpenBatch = { records: [], bytes: RECORD_BATCH_HEADER_SIZE, timer: undefined, result: deferred(), lingered: false };
      // A batch can fail while the send that filled it still waits for budget to append more:
      // its failure reaches that send through Promise.all later, and must not count as unhandled now.
      open.result.promise.catch(() => undefined);
      q.open = open;
      // As Kafka's accumulator does: a batch whose linger is over but that could not be sent yet
      // keeps taking records until the window has room. Closing it at once would queue many small
      // batches behind the in-flight ones, and at a steady rate the throughput would then be
      // maxInFlight small batches per round trip.
      const linger = (): void => {
        if (q.open !== open) return;
        if (this.canSend(q)) this.close(q);
        else open.lingered = true;
      };
      const lingerMs = this.flushing > 0 ? 0 : this.config.lingerMs;
      open.timer = lingerMs === 0 ? undefined : setTimeout(linger, lingerMs);
      if (lingerMs === 0) setImmediate(linger);
    }
    const batch = q.open;
    const index = batch.records.length;
    batch.records.push(record);
    batch.bytes += size;
    if (batch.bytes + 16 > maxBatch) this.close(q); // no room for even a tiny record
    return { index, result: batch.result.promise };
  }

  /** Closes the open batch of `q`, encodes it and queues it to be sent. */
  private close(q: PartitionQueue): void {
    const open = q.open;
    if (!open) return;
    q.open = undefined;
    clearTimeout(open.timer);
    this.partitioner.batchClosed(q.topic, q.partition, q.numPartitions);
    const sequence = q.nextSequence;
    q.nextSequence = (q.nextSequence + open.records.length) % SEQUENCE_SPACE;
    let batch: ClosedBatch;
    try {
      batch = this.encode(q, open.records, q.epoch, sequence, BigInt(Date.now()), open.bytes - RECORD_BATCH_HEADER_SIZE, open.result);
    } catch (e) {
      this.budget.release(open.bytes - RECORD_BATCH_HEADER_SIZE);
      open.result.reject(e);
      return;
    }
    q.ready.push(batch);
    this.dispatch(q);
  }

  /** Whether batches carry the producer id and sequences (see 6. above). */
  private get sequenced(): boolean {
    return this.config.idempotent && this.config.acks === "all";
  }

  private encode(
    q: PartitionQueue,
    records: RecordInput[],
    epoch: number,
    sequence: number,
    timestamp: bigint,
    held: number,
    result: Deferred<OffsetOf>,
  ): ClosedBatch {
    const batch: ClosedBatch = { bytes: new Uint8Array(0), held, id: newBatchId(), epoch: -1, sequence, records, timestamp, result, retrying: false };
    this.encodeBytes(q, batch, epoch, sequence);
    return batch;
  }

  /** (Re-)encodes the batch's bytes with this epoch and sequence; the records and UUID stay. */
  private encodeBytes(q: PartitionQueue, batch: ClosedBatch, epoch: number, sequence: number): void {
    const ids = this.sequenced ? { producerId: this.producerId, producerEpoch: epoch, baseSequence: sequence } : {};
    try {
      batch.bytes = encodeRecordBatch(batch.records, { ...ids, timestamp: batch.timestamp });
    } catch (e) {
      throw new FlotillaError("INVALID_REQUEST", `could not encode a batch for ${q.topic}/${q.partition}: ${(e as Error).message}`, { cause: e });
    }
    batch.epoch = this.sequenced ? epoch : -1;
    batch.sequence = sequence;
  }

  /** Brings a batch numbered in an older epoch to the partition's current numbering. */
  private renumber(q: PartitionQueue, batch: ClosedBatch): void {
    if (batch.epoch < 0 || batch.epoch === q.epoch) return;
    let { epoch, sequence } = batch;
    while (epoch < q.epoch) {
      sequence = (sequence - q.restarts.get(epoch)! + SEQUENCE_SPACE) % SEQUENCE_SPACE;
      epoch++;
    }
    this.encodeBytes(q, batch, epoch, sequence);
  }

  /**
   * Every batch before `batch` has settled and the partition still refuses its sequence: nothing
   * will fill the gap. Numbering restarts at 0 in a new epoch at this batch (and the later ones
   * follow it there, renumbered before their next attempt).
   */
  private restartSequence(q: PartitionQueue, batch: ClosedBatch, cause: FlotillaError): void {
    if (q.epoch >= MAX_EPOCH) throw new FlotillaError(cause.code, `${cause.message} (the producer ran out of epochs for ${q.topic}/${q.partition}; create a new producer)`, { cause });
    q.restarts.set(q.epoch, batch.sequence);
    q.nextSequence = (q.nextSequence - batch.sequence + SEQUENCE_SPACE) % SEQUENCE_SPACE;
    q.epoch++;
    this.renumber(q, batch);
  }

  private dispatch(q: PartitionQueue): void {
    while (q.ready.length > 0 && q.inFlight < this.config.maxInFlight && q.retrying === 0) {
      const batch = q.ready.shift()!;
      q.inFlight++;
      const previous = q.lastSettled;
      const settled = this.sendBatch(q, batch, previous);
      q.lastSettled = Promise.all([previous, settled]).then(() => undefined);
    }
    if (q.open?.lingered && this.canSend(q)) this.close(q);
  }

  /** Whether a batch closed now would be sent at once. */
  private canSend(q: PartitionQueue): boolean {
    return q.ready.length === 0 && q.inFlight < this.config.maxInFlight && q.retrying === 0;
  }

  private async sendBatch(q: PartitionQueue, batch: ClosedBatch, previous: Promise<void>): Promise<void> {
    try {
      // The first retry (or split) of this batch holds back the partition's later batches.
      const retrying = (): void => {
        if (batch.retrying) return;
        batch.retrying = true;
        q.retrying++;
      };
      batch.result.resolve(await this.deliver(q, batch, previous, retrying));
    } catch (e) {
      batch.result.reject(e);
    } finally {
      if (batch.retrying) q.retrying--;
      q.inFlight--;
      this.budget.release(batch.held);
      this.dispatch(q);
    }
  }

  /** Sends one batch with retries; splits it when the broker finds it too large. */
  private async deliver(q: PartitionQueue, batch: ClosedBatch, previous: Promise<void>, retrying: () => void): Promise<OffsetOf> {
    let base: bigint;
    /** A sequence error that came back after every earlier batch had settled: a gap for good. */
    let gap: FlotillaError | undefined;
    try {
      base = await retry(
        async (attempt) => {
          if (attempt > 0) {
            retrying();
            await previous; // retries go out in the partition's order
          }
          this.renumber(q, batch);
          if (gap) this.restartSequence(q, batch, gap);
          gap = undefined;
          try {
            return await this.produceOnce(q, batch, attempt);
          } catch (e) {
            if (attempt > 0 && e instanceof FlotillaError && (e.code === "OUT_OF_ORDER_SEQUENCE" || e.code === "UNKNOWN_PRODUCER")) gap = e;
            throw e;
          }
        },
        this.config.retry,
        {
          onRetry: (e) => {
            if (e.refreshMetadata) this.metadata.invalidate(q.topic);
          },
        },
        this.ctx.env,
      );
    } catch (e) {
      if (!(e instanceof FlotillaError && e.code === "BATCH_TOO_LARGE" && batch.records.length > 1)) throw e;
      // Nothing was appended: send the two halves in order, each with its own UUID.
      retrying();
      await previous;
      const k = Math.ceil(batch.records.length / 2);
      this.renumber(q, batch);
      const first = this.encode(q, batch.records.slice(0, k), batch.epoch, batch.sequence, batch.timestamp, 0, batch.result);
      const second = this.encode(q, batch.records.slice(k), batch.epoch, (batch.sequence + k) % SEQUENCE_SPACE, batch.timestamp, 0, batch.result);
      const a = await this.deliver(q, first, Promise.resolve(), retrying);
      const b = await this.deliver(q, second, Promise.resolve(), retrying);
      return (i) => (i < k ? a(i) : b(i - k));
    }
    return (i) => (base < 0n ? -1n : base + BigInt(i));
  }

  private async produceOnce(q: PartitionQueue, batch: ClosedBatch, attempt: number): Promise<bigint> {
    const rpc = this.connected(`produce to ${q.topic}/${q.partition}`);
    const target = rpc.partitionTarget("produce", q.topic, q.partition);
    const request = {
      topic: q.topic,
      partition: q.partition,
      acks: this.config.acks,
      timeoutMs: this.config.timeoutMs,
      // Idempotent: the same UUID on every attempt, so the broker appends the batch once.
      batchId: this.config.idempotent ? batch.id : newBatchId(),
      ...(batch.epoch >= 0 && { producerId: this.producerId, sequence: batch.sequence }),
      batch: batch.bytes,
    };
    if (this.config.acks === "none") {
      rpc.publish("produce", target, request);
      return -1n;
    }
    const sent = Date.now();
    const res = await rpc.call("produce", target, request, this.attemptTimeout.forAttempt(attempt));
    this.attemptTimeout.answered(Date.now() - sent);
    return res.baseOffset;
  }

  private connected(what: string): Rpc {
    if (!this.rpc) throw new FlotillaError("INVALID_REQUEST", `${what}: the producer is not connected`);
    return this.rpc;
  }
}
