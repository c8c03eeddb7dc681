/**
 * `flotilla.consumer({ groupId })`: a member of a consumer group, KafkaJS's shape (connect,
 * subscribe, run, commitOffsets, pause/resume/seek, disconnect).
 *
 * The coordinator (a broker) assigns partitions; GroupMembership heartbeats and applies its
 * answers; a PartitionReader per assigned partition fetches (with prefetch) and calls the
 * application's handler, at most `partitionsConsumedConcurrently` at a time. Delivery is
 * at-least-once: offsets are committed only for records whose handler returned — every
 * `autoCommitIntervalMs`, when a partition is given up, and on disconnect — so a crash or a lost
 * membership means the next owner reads again from the last commit, never past it.
 */
import { FlotillaError, isRetriable } from "../protocol/errors.js";
import type { PartitionOffset, TopicPartitions } from "../protocol/requests.js";
import { REQUEST_BOUNDS } from "../protocol/requests.js";
import { topicNameProblem } from "../protocol/subjects.js";
import type { ClientContext } from "./context.js";
import { fetchPartition, partitionBounds } from "./fetch.js";
import { groupCall } from "./group-requests.js";
import { GroupMembership } from "./group-membership.js";
import { Limiter } from "./limiter.js";
import { PartitionReader, type Deliver, type ReaderHost } from "./partition-reader.js";
import type { RetryOptions } from "./retry.js";
import { Rpc } from "./rpc.js";
import type { ConsumerConfig, ConsumerRunConfig, ConsumerSubscribeTopics, TopicPartitionOffset, TopicPartitionsSelection } from "./types.js";

export const CONSUMER_DEFAULTS = {
  sessionTimeoutMs: 10_000,
  rebalanceTimeoutMs: 30_000,
  maxBytesPerPartition: 1 << 20,
  maxWaitMs: 500,
  autoCommitIntervalMs: 5000,
} as const;

const key = (topic: string, partition: number): string => `${topic}:${partition}`;

/** Periodic commits, and commits on the way out of a lost membership: a couple of tries, then the records are read again. */
const QUICK_COMMIT_RETRY: RetryOptions = { retries: 2, initialRetryTimeMs: 100, maxRetryTimeMs: 500, multiplier: 2, factor: 0.2 };

function configProblems(c: ConsumerConfig): string[] {
  const problems: string[] = [];
  const id = c?.groupId;
  if (typeof id !== "string" || id.length === 0 || Buffer.byteLength(id) > REQUEST_BOUNDS.idBytes) problems.push(`groupId must be a string of 1 to ${REQUEST_BOUNDS.idBytes} bytes`);
  const intIn = (name: keyof ConsumerConfig, min: number, max: number): void => {
    const v = c?.[name];
    if (v !== undefined && (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max)) problems.push(`${name} ${String(v)} must be an integer in [${min}, ${max}]`);
  };
  intIn("sessionTimeoutMs", 1000, REQUEST_BOUNDS.maxSessionTimeoutMs);
  intIn("rebalanceTimeoutMs", 1000, REQUEST_BOUNDS.maxSessionTimeoutMs);
  intIn("maxBytesPerPartition", 1, 2 ** 31 - 1);
  intIn("maxWaitMs", 0, REQUEST_BOUNDS.maxTimeoutMs);
  return problems;
}

export class Consumer {
  private readonly config: Required<Omit<ConsumerConfig, "retry">>;
  private rpc: Rpc | undefined;
  /** Subscribed topics → read from the beginning when the group has no offset for a partition. */
  private readonly topics = new Map<string, boolean>();
  private readonly readers = new Map<string, PartitionReader>();
  private readonly pausedKeys = new Set<string>();
  private membership: GroupMembership | undefined;
  private deliver: ((topic: string, partition: number) => Deliver) | undefined;
  private autoCommit = true;
  private commitTimer: NodeJS.Timeout | undefined;
  /** Commits go out one after another, so an older one can never land after a newer one. */
  private commitChain: Promise<unknown> = Promise.resolve();
  private readonly readerHost: ReaderHost;
  /**
   * What partitions given up without reaching the coordinator had finished: committed with the old
   * membership once a coordinator answers again (a new one takes it during its takeover grace).
   */
  private stranded: PartitionOffset[] = [];

  constructor(
    private readonly ctx: ClientContext,
    config: ConsumerConfig,
  ) {
    const problems = configProblems(config);
    if (problems.length > 0) throw new FlotillaError("INVALID_CONFIG", `consumer config: ${problems.join("; ")}`);
    this.config = { ...CONSUMER_DEFAULTS, ...config };
    this.readerHost = this.makeReaderHost();
  }

  async connect(): Promise<void> {
    if (!this.rpc) this.rpc = new Rpc(await this.ctx.connection.acquire(this), this.ctx.cluster);
  }

  async subscribe(s: ConsumerSubscribeTopics): Promise<void> {
    if (this.membership) throw new FlotillaError("INVALID_REQUEST", "subscribe before run(): the group's membership is already running");
    const topics = s?.topics ?? (s?.topic !== undefined ? [s.topic] : []);
    if (topics.length === 0) throw new FlotillaError("INVALID_REQUEST", "subscribe: give a topic or topics");
    for (const t of topics) {
      const problem = typeof t === "string" ? topicNameProblem(t) : "topic must be a string";
      if (problem) throw new FlotillaError("INVALID_TOPIC", `subscribe: ${problem}`);
      this.topics.set(t, s.fromBeginning === true);
    }
  }

  /** Joins the group and starts consuming; resolves once joined (consumption goes on in the background). */
  async run(r: ConsumerRunConfig): Promise<void> {
    const rpc = this.connected("run");
    if (this.membership) throw new FlotillaError("INVALID_REQUEST", "run() was called already");
    if (this.topics.size === 0) throw new FlotillaError("INVALID_REQUEST", "run: subscribe to a topic first");
    if (typeof r?.eachMessage !== "function" && typeof r?.eachBatch !== "function") throw new FlotillaError("INVALID_REQUEST", "run: give eachMessage or eachBatch");
    const concurrency = r.partitionsConsumedConcurrently ?? 1;
    const interval = r.autoCommitIntervalMs ?? this.config.autoCommitIntervalMs;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new FlotillaError("INVALID_REQUEST", `run: partitionsConsumedConcurrently ${concurrency} must be an integer ≥ 1`);
    if (!Number.isSafeInteger(interval) || interval < 1) throw new FlotillaError("INVALID_REQUEST", `run: autoCommitIntervalMs ${interval} must be an integer ≥ 1`);
    this.autoCommit = r.autoCommit !== false;
    const limiter = new Limiter(concurrency);
    const { eachMessage, eachBatch } = r;
    this.deliver = (topic, partition) =>
      eachBatch
        ? { kind: "batch", call: (messages, highWatermark, isCurrent) => limiter.run(() => eachBatch({ batch: { topic, partition, highWatermark, messages }, isRunning: isCurrent, isStale: () => !isCurrent() })) }
        : { kind: "message", call: (message) => limiter.run(() => eachMessage!({ topic, partition, message })) };
    this.membership = new GroupMembership(
      this.ctx,
      rpc,
      { groupId: this.config.groupId, topics: [...this.topics.keys()], sessionTimeoutMs: this.config.sessionTimeoutMs, rebalanceTimeoutMs: this.config.rebalanceTimeoutMs },
      { owned: () => this.owned(), assign: (a) => this.assign(a), stopAll: () => this.stopAll(this.autoCommit, QUICK_COMMIT_RETRY) },
    );
    try {
      await this.membership.start();
    } catch (e) {
      this.membership = undefined;
      throw e;
    }
    // Quick tries only: the next interval tries again, and a commit stuck retrying would hold up the ones behind it.
    if (this.autoCommit) this.commitTimer = setInterval(() => void this.commitFinished([...this.readers.values()], QUICK_COMMIT_RETRY).catch(() => undefined), interval);
  }

  /** Commits offsets (the next offset to read, as a string: KafkaJS's shape) for partitions this member owns. */
  async commitOffsets(offsets: TopicPartitionOffset[]): Promise<void> {
    this.connected("commitOffsets");
    const parsed: PartitionOffset[] = (offsets ?? []).map((o) => ({ topic: o.topic, partition: o.partition, offset: parseOffset(o.offset) }));
    await this.commit(parsed);
    for (const o of parsed) {
      const r = this.readers.get(key(o.topic, o.partition));
      if (r) r.committed = o.offset;
    }
  }

  pause(selection: TopicPartitionsSelection[]): void {
    for (const k of this.select(selection)) this.pausedKeys.add(k);
  }

  resume(selection: TopicPartitionsSelection[]): void {
    for (const k of this.select(selection)) {
      this.pausedKeys.delete(k);
      this.readers.get(k)?.wake();
    }
  }

  paused(): TopicPartitions[] {
    return byTopic([...this.pausedKeys].map((k) => ({ topic: k.slice(0, k.lastIndexOf(":")), partition: Number(k.slice(k.lastIndexOf(":") + 1)) })));
  }

  /** Reads the partition from `offset` next (it must be assigned to this member now). */
  seek(s: TopicPartitionOffset): void {
    const r = this.readers.get(key(s.topic, s.partition));
    if (!r || r.stopping) throw new FlotillaError("INVALID_REQUEST", `seek: ${s.topic}/${s.partition} is not assigned to this consumer now`);
    r.seek(parseOffset(s.offset));
  }

  /** The partitions this member consumes now. */
  assignment(): TopicPartitions[] {
    return this.owned();
  }

  /** Stops consuming, commits what was finished (auto-commit), leaves the group, and lets go of the connection. */
  async disconnect(): Promise<void> {
    if (!this.rpc) return;
    clearInterval(this.commitTimer);
    if (this.membership) {
      // Heartbeats first: an answer arriving later must not start partitions again.
      await this.membership.stop();
      await this.stopAll(this.autoCommit);
      await this.membership.leave();
      this.membership = undefined;
    }
    this.rpc = undefined;
    await this.ctx.connection.release(this);
  }

  private connected(what: string): Rpc {
    if (!this.rpc) throw new FlotillaError("INVALID_REQUEST", `${what}: the consumer is not connected; call connect() first`);
    return this.rpc;
  }

  private owned(): TopicPartitions[] {
    return byTopic([...this.readers.values()]);
  }

  private assign(assignment: TopicPartitions[]): void {
    const wanted = new Set<string>();
    for (const tp of assignment) {
      for (const partition of tp.partitions) {
        const k = key(tp.topic, partition);
        wanted.add(k);
        if (!this.readers.has(k)) this.readers.set(k, new PartitionReader(tp.topic, partition, this.readerHost, this.deliver!(tp.topic, partition)));
      }
    }
    for (const [k, r] of this.readers) if (!wanted.has(k) && !r.stopping) void this.giveUp(k, r, this.autoCommit);
  }

  /** Stops a partition, commits what the application finished of it (when `commit`), and lets the coordinator know. */
  private async giveUp(k: string, r: PartitionReader, commit: boolean, retry?: RetryOptions): Promise<void> {
    await r.stop();
    if (commit) {
      await this.commitFinished([r], retry).catch(() => {
        if (r.finished !== undefined) this.stranded.push({ topic: r.topic, partition: r.partition, offset: r.finished });
      });
    }
    if (this.readers.get(k) === r) this.readers.delete(k);
    this.membership?.poke();
  }

  private async stopAll(commit: boolean, retry?: RetryOptions): Promise<void> {
    const stranded = this.stranded;
    this.stranded = [];
    // Kept while no coordinator answers; a refusal (the partitions moved on) drops them.
    if (commit && stranded.length > 0) await this.commit(stranded, retry).catch((e: unknown) => isRetriable(e) && this.stranded.push(...stranded));
    await Promise.all([...this.readers].map(([k, r]) => this.giveUp(k, r, commit, retry)));
  }

  private async commitFinished(readers: PartitionReader[], retry?: RetryOptions): Promise<void> {
    const due = readers.filter((r) => r.finished !== undefined && r.finished !== r.committed);
    if (due.length === 0) return;
    const offsets = due.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.finished! }));
    await this.commit(offsets, retry);
    due.forEach((r, i) => (r.committed = offsets[i].offset));
  }

  private commit(offsets: PartitionOffset[], retry?: RetryOptions): Promise<void> {
    const rpc = this.connected("commit");
    const m = this.membership;
    const { groupId } = this.config;
    const member = m?.memberId !== undefined ? { memberId: m.memberId, generation: m.generation } : {};
    const p = this.commitChain.then(() => groupCall(this.ctx, rpc, "commitOffsets", groupId, { groupId, ...member, offsets }, { retry }));
    this.commitChain = p.catch(() => undefined);
    return p.then(() => undefined);
  }

  private select(selection: TopicPartitionsSelection[]): string[] {
    const out: string[] = [];
    for (const s of selection ?? []) {
      const partitions = s.partitions ?? [...this.readers.values()].filter((r) => r.topic === s.topic).map((r) => r.partition);
      for (const p of partitions) out.push(key(s.topic, p));
    }
    return out;
  }

  private makeReaderHost(): ReaderHost {
    return {
    retry: this.ctx.retry,
    random: () => this.ctx.env.random(),
    isPaused: (topic, partition) => this.pausedKeys.has(key(topic, partition)),
    fetch: (topic, partition, offset) =>
      fetchPartition(this.ctx, this.connected("fetch"), { topic, partition, offset, maxBytes: this.config.maxBytesPerPartition, maxWaitMs: this.config.maxWaitMs }),
    startOffset: async (topic, partition) => {
      const { groupId } = this.config;
      const res = await groupCall(this.ctx, this.connected("fetchOffsets"), "fetchOffsets", groupId, { groupId, partitions: [{ topic, partitions: [partition] }] });
      const committed = res.offsets.find((o) => o.topic === topic && o.partition === partition);
      if (committed) return committed.offset;
      const bounds = await partitionBounds(this.ctx, this.connected("fetch"), topic, partition);
      return this.topics.get(topic) ? bounds.logStartOffset : bounds.highWatermark;
    },
    offsetInRange: async (topic, partition, offset) => {
      const { logStartOffset, highWatermark } = await partitionBounds(this.ctx, this.connected("fetch"), topic, partition);
      return offset < logStartOffset ? logStartOffset : offset > highWatermark ? highWatermark : offset;
    },
    };
  }
}

function byTopic(list: Array<{ topic: string; partition: number }>): TopicPartitions[] {
  const out = new Map<string, number[]>();
  for (const { topic, partition } of list) out.set(topic, [...(out.get(topic) ?? []), partition]);
  return [...out].map(([topic, partitions]) => ({ topic, partitions: partitions.sort((a, b) => a - b) }));
}

function parseOffset(v: string | bigint | number): bigint {
  let o = -1n;
  if (typeof v === "bigint") o = v;
  else if (typeof v === "number" && Number.isSafeInteger(v)) o = BigInt(v);
  else if (typeof v === "string" && /^(0|[1-9][0-9]*)$/.test(v)) o = BigInt(v);
  if (o < 0n || o > 2n ** 63n - 1n) throw new FlotillaError("INVALID_REQUEST", `offset ${JSON.stringify(String(v))} must be a non-negative integer (a string such as "42")`);
  return o;
}
