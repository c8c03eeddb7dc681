/**
 * Broker: one Flotilla broker process — the wiring of every part under broker/ into a server on
 * NATS. What it runs:
 *
 * - Storage: one LMDB StateStore (`<dir>/state`), one GroupCommitter over a Piscina fsync pool,
 *   shared by every replica; one NatsTransport (Raft traffic of every group, coalesced per
 *   destination) behind one RaftRouter; one shared tick timer for all groups.
 * - KRaft metadata. The metadata log is partition 0 of the internal topic `__cluster_metadata`,
 *   a PartitionReplica like any other, whose voters are the `--controllers` brokers (fixed at
 *   bootstrap; it lives in `<dir>/metadata`). Its Raft leader is the controller leader. Metadata
 *   records (encodeMetadataRecord) are the values of Kafka records, one record per batch. The
 *   "metadata index" that MetadataImage, broker epochs and heartbeats speak of is the record's
 *   offset + 1 in that partition (0: nothing applied), the same number on every broker.
 * - Following the metadata log. Every broker applies committed metadata records in order into its
 *   MetadataImage: controllers read their own replica (fetch from the next offset, long-polled, up
 *   to the high watermark = applied commit); other brokers (KRaft observers) fetch the same
 *   partition from its leader over NATS on the ordinary fetch subject. A record that does not
 *   decode is a newer version: applying stops there and the broker says to upgrade. The image is
 *   rebuilt by replaying from offset 0 at every start (no metadata snapshots yet).
 * - The controller leader: serves the `controller` subject (register, heartbeat, forwarded topic
 *   create/delete, the runtime lookup), proposes records by producing to its own replica with
 *   acks=all, and answers from the ApplyResult once it has applied the record. A BrokerLiveness per
 *   term of leadership fences brokers whose heartbeats stop and unfences them when they are back.
 * - Registration and heartbeats: every broker registers (a fresh incarnation per process start)
 *   and heartbeats to the controller leader, reporting the partitions it leads with their term,
 *   high watermark and log start offset. That report is the "lookup the leaders publish": describe
 *   requests take leaders and high watermarks from it (at most one heartbeat old).
 * - Reconcile: after applying records with events (and once caught up with the log), and every few
 *   seconds, `reconcileReplicas` says which local replicas to start, remove, or retire. A replica's
 *   directory is `<dir>/partitions/<topicId>-<partition>`: a re-created topic never reuses old data.
 * - Client requests: `admin` and `metadata` subjects in a queue group of all brokers (reads from
 *   the local image; writes forwarded to the controller leader); per-partition `produce` / `fetch`
 *   subjects subscribed, in a queue group, only while the local replica leads.
 * - Metrics (prom-client Registry of its own, GET /metrics), pino logs with broker/partition.
 * - Graceful stop: every led partition hands leadership away first (bounded), then everything closes.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { connect, type Msg, type NatsConnection, type Subscription } from "nats";
import { pino, type Logger } from "pino";
import { DecodeError } from "../../protocol/decode-error.js";
import { FlotillaError } from "../../protocol/errors.js";
import { decodeRecords, encodeRecordBatch, iterateBatches } from "../../protocol/record-batch.js";
import {
  MESSAGE_OVERHEAD_BYTES,
  decodeRequest,
  decodeRequestOf,
  decodeResponse,
  encodeErrorResponse,
  encodeRequest,
  encodeResponse,
  requestLimits,
  type AnyRequest,
  type PartitionMetadata,
  type RequestLimits,
} from "../../protocol/requests.js";
import { subjects } from "../../protocol/subjects.js";
import {
  BrokerLiveness,
  MetadataImage,
  decodeMetadataRecord,
  describeCluster,
  describeTopic,
  encodeMetadataRecord,
  planCreateTopic,
  planDeleteTopic,
  planRegisterBroker,
  reconcileReplicas,
  type ApplyResult,
  type ClusterRuntime,
  type HostedPartition,
  type MetadataRecord,
  type PartitionRuntime,
} from "../controller/index.js";
import { GroupCommitter, PiscinaSyncer } from "../log/index.js";
import { PartitionReplica, RaftRouter, type FetchResult, type LeaderChange } from "../partition/index.js";
import { StateStore } from "../state/index.js";
import { NatsTransport } from "../transport/index.js";
import {
  decodeControllerReply,
  decodeControllerRequest,
  encodeControllerMessage,
  replyChecks,
  type ControllerRequest,
  type LedPartition,
} from "./controller-messages.js";
import { BrokerMetrics } from "./metrics.js";
import { resolveBrokerOptions, type BrokerOptions, type ResolvedBrokerOptions } from "./options.js";

/** The internal topic whose partition 0 is the metadata log. */
export const METADATA_TOPIC = "__cluster_metadata";
const METADATA_PARTITION = 0;
/** Queue groups: every broker for admin/metadata, the (single) leader for partition subjects. */
const BROKERS_QUEUE = "flotilla-brokers";
const LEADERS_QUEUE = "flotilla-leaders";
/** The LMDB namespace PartitionReplica keeps its checkpoint in (cleared when a replica is deleted). */
const REPLICA_CHECKPOINT_NS = "partition-replica";
/** ApplyResults kept for proposers that come to read them after the apply loop passed. */
const KEPT_RESULTS = 4096;
const RECONCILE_EVERY_MS = 5000;
/** A leader holds a partition this long before handing it to its preferred replica, and retries no sooner than the second. */
const PREFERRED_MOVE_AFTER_MS = 10_000;
const PREFERRED_MOVE_EVERY_MS = 60_000;

interface LocalPartition {
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
  readonly dir: string;
  readonly replica: PartitionReplica;
  subs: Subscription[];
  offLeader: () => void;
  /** When this replica last became leader (0: it does not lead), and when it last handed leadership to the preferred replica. */
  leaderSince: number;
  lastPreferredMove: number;
}

function keyOf(r: { topicId: string; partition: number }): string {
  return `${r.topicId}/${r.partition}`;
}

function runtimeKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Any error as the FlotillaError a client gets; anything not ours is INTERNAL. */
function asFlotillaError(e: unknown): FlotillaError {
  if (e instanceof FlotillaError) return e;
  if (e instanceof DecodeError) return new FlotillaError("INVALID_REQUEST", e.message, { cause: e });
  return new FlotillaError("INTERNAL", `internal error: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

/** NATS request failures as FlotillaErrors: nobody listening means no controller leader right now. */
function natsRequestError(e: unknown, what: string): FlotillaError {
  if (e instanceof FlotillaError) return e;
  const code = String((e as { code?: unknown })?.code ?? "");
  const message = (e as Error)?.message ?? String(e);
  if (code === "503" || /no responders/i.test(message)) return new FlotillaError("NOT_CONTROLLER", `${what}: no controller leader is reachable right now`);
  if (code === "TIMEOUT" || /timeout/i.test(message)) return new FlotillaError("TIMEOUT", `${what}: timed out`);
  return new FlotillaError("INTERNAL", `${what}: ${message}`, { cause: e });
}

export class Broker {
  readonly id: number;
  readonly options: ResolvedBrokerOptions;
  readonly logger: Logger;
  readonly metrics: BrokerMetrics;
  /** The port GET /metrics is served on, once started (undefined when not serving). */
  metricsPort: number | undefined;

  private nc!: NatsConnection;
  private raftNc!: NatsConnection;
  private store!: StateStore;
  private committer!: GroupCommitter;
  private transport!: NatsTransport;
  private router!: RaftRouter;
  private limits!: RequestLimits;
  private readonly clientSubs: Subscription[] = [];

  // Metadata, as applied here.
  private image: MetadataImage = MetadataImage.EMPTY;
  /** Offset of the next metadata record to apply; the metadata index applied is this number. */
  private metadataNext = 0n;
  private metadataHalted: string | undefined;
  private metadataCaughtUp = false;
  private readonly results = new Map<number, ApplyResult>();
  private appliedWaiters: Array<{ index: number; resolve: (ok: boolean) => void; timer: NodeJS.Timeout }> = [];
  private metadata: LocalPartition | undefined;

  // Registration.
  private readonly incarnation = randomBytes(16).toString("hex");
  private epoch = 0;
  private registeredAt = 0;
  private fenced = true;

  // Controller leader state (only while the local metadata replica leads).
  private liveness: BrokerLiveness | undefined;
  private controllerSub: Subscription | undefined;
  private controllerTimer: NodeJS.Timeout | undefined;
  private deciding = false;
  private readonly ledReports = new Map<number, LedPartition[]>();

  // Partitions.
  private readonly partitions = new Map<string, LocalPartition>();
  private reconcileChain: Promise<void> = Promise.resolve();
  private reconcileTimer: NodeJS.Timeout | undefined;
  private firstReconcile = true;
  private readonly tickers = new Set<() => void>();
  private tickTimer: NodeJS.Timeout | undefined;

  private stopping = false;
  private stopped: Promise<void> | undefined;
  private loops: Promise<void>[] = [];

  constructor(options: BrokerOptions) {
    this.options = resolveBrokerOptions(options);
    this.id = this.options.id;
    const base = this.options.logger ?? pino({ level: process.env.FLOTILLA_LOG_LEVEL ?? "info" });
    this.logger = base.child({ component: "broker", broker: this.id });
    this.metrics = new BrokerMetrics(this.id, {
      replicas: () => this.allReplicas().map((l) => {
        const s = l.replica.status();
        return { topic: l.topic, partition: l.partition, term: s.term, commit: s.commit, applied: s.applied, isLeader: s.role === "leader" };
      }),
      metadataAppliedIndex: () => Number(this.metadataNext),
      transport: () => this.transport?.stats() ?? { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0, decodeFailures: 0 },
    });
  }

  /** Creates and starts a broker. */
  static async start(options: BrokerOptions): Promise<Broker> {
    const b = new Broker(options);
    try {
      await b.start();
    } catch (e) {
      await b.stop({ handOff: false }).catch(() => undefined);
      throw e;
    }
    return b;
  }

  get isControllerLeader(): boolean {
    return this.liveness !== undefined;
  }

  /** The metadata index applied to this broker's image. */
  get metadataAppliedIndex(): number {
    return Number(this.metadataNext);
  }

  /** The image as applied here (tests, tools). */
  get metadataImage(): MetadataImage {
    return this.image;
  }

  /** The replicas this broker runs, by `topic/partition` (tests). */
  replicaStatus(): Array<{ topic: string; partition: number; role: string; leader: number; highWatermark: bigint; recovering: boolean }> {
    return [...this.partitions.values()].map((l) => {
      const s = l.replica.status();
      return { topic: l.topic, partition: l.partition, role: s.role, leader: s.leader, highWatermark: s.highWatermark, recovering: s.recovering };
    });
  }

  private async start(): Promise<void> {
    const o = this.options;
    await mkdir(join(o.dir, "partitions"), { recursive: true });
    this.store = StateStore.open({ path: join(o.dir, "state") });
    this.committer = new GroupCommitter(new PiscinaSyncer({ threads: 2 }), {
      onCycle: (c) => {
        this.metrics.fsyncSeconds.observe(c.durationMs / 1000);
        this.metrics.fsyncBatchFiles.observe(c.files);
        this.metrics.fsyncBatchRequests.observe(c.requests);
      },
    });
    const connectOptions = {
      servers: o.nats,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...(o.natsUser !== undefined && { user: o.natsUser }),
      ...(o.natsPassword !== undefined && { pass: o.natsPassword }),
    };
    try {
      // Raft gets a connection of its own so bulk client traffic cannot delay heartbeats.
      this.nc = await connect({ ...connectOptions, name: `flotilla-broker-${this.id}` });
      this.raftNc = await connect({ ...connectOptions, name: `flotilla-broker-${this.id}-raft` });
    } catch (e) {
      throw new Error(`broker ${this.id}: cannot connect to NATS at ${o.nats} (${(e as Error).message}); start nats-server or pass --nats URL`, { cause: e });
    }
    this.transport = new NatsTransport({ connection: this.raftNc, cluster: o.cluster, localId: this.id, logger: this.logger });
    this.router = new RaftRouter(this.transport);
    const maxPayload = this.nc.info?.max_payload ?? 1 << 20;
    this.limits = requestLimits({ maxMessageBytes: maxPayload, maxBatchBytes: Math.min(maxPayload, this.transport.maxBatchBytes - 64 * 1024) });
    this.tickTimer = setInterval(() => {
      for (const t of this.tickers) t();
    }, o.tickMs);

    if (o.metricsPort !== undefined) this.metricsPort = await this.metrics.listen(o.metricsPort);

    for (const subject of [subjects.admin(o.cluster), subjects.metadata(o.cluster)]) {
      this.clientSubs.push(this.nc.subscribe(subject, { queue: BROKERS_QUEUE, callback: (err, msg) => (err ? undefined : void this.handleAdmin(msg)) }));
    }
    await this.nc.flush();
    await this.raftNc.flush();

    if (o.controllers.includes(this.id)) {
      const replica = await this.openReplica(METADATA_TOPIC, METADATA_PARTITION, o.controllers, join(o.dir, "metadata"));
      this.metadata = this.track({ topic: METADATA_TOPIC, topicId: "metadata", partition: METADATA_PARTITION, dir: join(o.dir, "metadata"), replica });
    }
    this.loops.push(this.followMetadata(), this.heartbeatLoop());
    this.reconcileTimer = setInterval(() => {
      this.scheduleReconcile();
      this.moveToPreferredLeaders();
    }, RECONCILE_EVERY_MS);
    this.logger.info(
      { controllers: o.controllers, nats: o.nats, cluster: o.cluster, metricsPort: this.metricsPort, controller: this.metadata !== undefined },
      "broker started",
    );
  }

  // ------------------------------------------------------------------ replicas

  private allReplicas(): LocalPartition[] {
    const all = [...this.partitions.values()];
    if (this.metadata) all.push(this.metadata);
    return all;
  }

  private openReplica(topic: string, partition: number, voters: readonly number[], dir: string, expectExisting = false): Promise<PartitionReplica> {
    return PartitionReplica.open({
      expectExisting,
      topic,
      partition,
      brokerId: this.id,
      voters: [...voters],
      dir,
      committer: this.committer,
      stateStore: this.store,
      router: this.router,
      logger: this.logger,
      tickMs: this.options.tickMs,
      heartbeatTick: this.options.heartbeatTicks,
      electionTick: this.options.electionTicks,
      ticker: (tick) => {
        this.tickers.add(tick);
        return () => this.tickers.delete(tick);
      },
    });
  }

  /** Hooks leadership events: serve the partition's subjects exactly while the replica leads. */
  private track(l: Omit<LocalPartition, "subs" | "offLeader" | "leaderSince" | "lastPreferredMove">): LocalPartition {
    const local: LocalPartition = { ...l, subs: [], offLeader: () => undefined, leaderSince: 0, lastPreferredMove: 0 };
    local.offLeader = l.replica.onLeaderChange((e) => this.onLeaderChange(local, e));
    if (l.replica.isLeader) {
      local.leaderSince = Date.now();
      this.serve(local);
    }
    return local;
  }

  private onLeaderChange(l: LocalPartition, e: LeaderChange): void {
    this.metrics.leaderChanges.inc();
    this.logger.debug({ group: e.group, leader: e.leader, term: e.term }, "leader changed");
    l.leaderSince = e.isLeader ? Date.now() : 0;
    if (e.isLeader) this.serve(l);
    else this.unserve(l);
    if (l === this.metadata) this.onControllerLeadership(e.isLeader);
  }

  private serve(l: LocalPartition): void {
    if (l.subs.length > 0 || this.stopping) return;
    const c = this.options.cluster;
    l.subs.push(this.nc.subscribe(subjects.fetch(c, l.topic, l.partition), { queue: LEADERS_QUEUE, callback: (err, msg) => (err ? undefined : void this.handleFetch(l, msg)) }));
    // Nobody produces to the metadata log but the controller leader itself.
    if (l !== this.metadata) {
      l.subs.push(this.nc.subscribe(subjects.produce(c, l.topic, l.partition), { queue: LEADERS_QUEUE, callback: (err, msg) => (err ? undefined : void this.handleProduce(l, msg)) }));
    }
  }

  private unserve(l: LocalPartition): void {
    for (const s of l.subs) s.unsubscribe();
    l.subs = [];
  }

  private scheduleReconcile(): void {
    if (this.stopping || !this.metadataCaughtUp) return;
    this.reconcileChain = this.reconcileChain
      .then(() => this.reconcile())
      .catch((err: unknown) => this.logger.error({ err }, "reconcile failed; retrying on the next metadata change"));
  }

  private async reconcile(): Promise<void> {
    if (this.stopping) return;
    const changes = reconcileReplicas(this.image, this.id, this.partitions.values());
    for (const r of changes.remove) await this.removeReplica(keyOf(r), "its topic was deleted");
    for (const r of changes.retire) {
      const l = this.partitions.get(keyOf(r));
      const s = l?.replica.status();
      if (s && !s.voters.includes(this.id) && !s.learners.includes(this.id)) await this.removeReplica(keyOf(r), "the partition's group no longer lists this broker");
    }
    // Opening is mostly I/O; a few at a time keeps a 1,000-partition topic from taking long.
    const queue = [...changes.start];
    // The first reconcile after start-up opens partitions that existed before this process: an
    // empty directory for one of them means a lost disk, and the replica must not vote as if it
    // had its old log (PartitionReplica's RECOVERING). Later ones are partitions created since.
    const existedBefore = this.firstReconcile;
    this.firstReconcile = false;
    const worker = async (): Promise<void> => {
      for (let h = queue.shift(); h && !this.stopping; h = queue.shift()) await this.startReplica(h, existedBefore);
    };
    await Promise.all(Array.from({ length: Math.min(8, queue.length) }, worker));
  }

  /**
   * Leadership spread: Raft elects whoever times out first, so leaders bunch up after a failure or
   * a burst of creates. A partition led here for a while, whose preferred replica (the first in
   * its replica set: placement spreads those evenly) is another unfenced broker in the group, hands
   * leadership to it — at most once per PREFERRED_MOVE_EVERY_MS, so a preferred replica that cannot
   * take over costs one aborted transfer now and then, never a flapping leader.
   */
  private moveToPreferredLeaders(): void {
    if (this.stopping) return;
    const now = Date.now();
    // A broker the controller fenced (it stopped hearing our heartbeats) should lead nothing: hand
    // leadership to the most caught-up live voter. Not in the first session after registering,
    // when every broker starts fenced until it has caught up with the metadata log.
    const me = this.image.broker(this.id);
    const fencedHere = this.epoch !== 0 && me?.epoch === this.epoch && me.fenced && now - this.registeredAt > this.options.sessionTimeoutMs;
    for (const l of this.partitions.values()) {
      if (fencedHere && l.leaderSince !== 0 && now - l.lastPreferredMove >= PREFERRED_MOVE_AFTER_MS) {
        l.lastPreferredMove = now;
        this.logger.warn({ topic: l.topic, partition: l.partition }, "fenced by the controller: handing leadership away");
        void l.replica.handOffLeadership().catch(() => undefined);
        continue;
      }
      if (l.leaderSince === 0 || now - l.leaderSince < PREFERRED_MOVE_AFTER_MS || now - l.lastPreferredMove < PREFERRED_MOVE_EVERY_MS) continue;
      const preferred = this.image.topic(l.topic)?.partitions[l.partition]?.replicas[0];
      if (preferred === undefined || preferred === this.id || this.image.broker(preferred)?.fenced !== false) continue;
      if (!l.replica.status().voters.includes(preferred)) continue;
      l.lastPreferredMove = now;
      this.logger.info({ topic: l.topic, partition: l.partition, to: preferred }, "moving leadership to the preferred replica");
      l.replica.transferLeader(preferred);
    }
  }

  private async startReplica(h: HostedPartition, existedBefore: boolean): Promise<void> {
    const dir = join(this.options.dir, "partitions", `${h.topicId}-${h.partition}`);
    const replica = await this.openReplica(h.topic, h.partition, h.replicas, dir, existedBefore);
    if (this.stopping) {
      await replica.close();
      return;
    }
    this.partitions.set(keyOf(h), this.track({ topic: h.topic, topicId: h.topicId, partition: h.partition, dir, replica }));
    this.logger.info({ topic: h.topic, partition: h.partition, replicas: h.replicas }, "replica started");
  }

  private async removeReplica(key: string, why: string): Promise<void> {
    const l = this.partitions.get(key);
    if (!l) return;
    this.partitions.delete(key);
    this.unserve(l);
    l.offLeader();
    await l.replica.close();
    await rm(l.dir, { recursive: true, force: true });
    // A later topic of the same name is the same Raft group name: it must start from nothing.
    await this.store.removeGroup(l.replica.group);
    await this.store.put(REPLICA_CHECKPOINT_NS, l.replica.group, undefined);
    this.logger.info({ topic: l.topic, partition: l.partition, why }, "replica deleted");
  }

  // ------------------------------------------------------------------ following the metadata log

  private async followMetadata(): Promise<void> {
    const maxBytes = this.limits.maxMessageBytes - MESSAGE_OVERHEAD_BYTES.fetchResponse;
    let reconcilePending = false;
    while (!this.stopping) {
      if (this.metadataHalted) {
        await sleep(1000);
        continue;
      }
      try {
        let res: FetchResult;
        if (this.metadata) {
          res = await this.metadata.replica.fetch({ offset: this.metadataNext, maxBytes, maxWaitMs: 500 });
        } else {
          res = await this.fetchMetadataRemote(maxBytes);
        }
        if (this.stopping) return;
        if (this.applyMetadata(res.batches)) reconcilePending = true;
        // Reconcile from an image that is caught up, not from every step of a long replay.
        if (this.metadataNext >= res.highWatermark) {
          if (!this.metadataCaughtUp) {
            this.metadataCaughtUp = true;
            this.logger.info({ appliedIndex: this.metadataAppliedIndex }, "caught up with the metadata log");
            reconcilePending = true;
          }
          if (reconcilePending) this.scheduleReconcile();
          reconcilePending = false;
        }
      } catch (err) {
        if (this.stopping) return;
        this.logger.debug({ err }, "metadata fetch failed; retrying");
        await sleep(200);
      }
    }
  }

  /** An observer's fetch of the metadata log from its leader, over NATS (the ordinary fetch subject). */
  private async fetchMetadataRemote(maxBytes: number): Promise<FetchResult> {
    const request = encodeRequest(
      "fetch",
      { topic: METADATA_TOPIC, partition: METADATA_PARTITION, offset: this.metadataNext, maxBytes, minBytes: 1, maxWaitMs: 1000, consistency: "leader" },
      this.limits,
    );
    let reply: Msg;
    try {
      reply = await this.nc.request(subjects.fetch(this.options.cluster, METADATA_TOPIC, METADATA_PARTITION), request, { timeout: 5000 });
    } catch (e) {
      throw natsRequestError(e, "metadata fetch");
    }
    const res = decodeResponse("fetch", reply.data, this.limits);
    if (res.error) throw FlotillaError.fromWire(res.error);
    return { highWatermark: res.highWatermark, logStartOffset: res.logStartOffset, batches: res.batches };
  }

  /** Applies the records of `batches` past the applied point, in order. Returns whether any had events. */
  private applyMetadata(batches: Uint8Array): boolean {
    let events = false;
    for (const span of iterateBatches(batches)) {
      for (const rec of decodeRecords(batches.subarray(span.at, span.at + span.size))) {
        if (rec.offset < this.metadataNext) continue;
        if (rec.offset !== this.metadataNext) throw new Error(`metadata log: record at offset ${rec.offset}, expected ${this.metadataNext}`);
        const index = Number(rec.offset) + 1;
        let record: MetadataRecord;
        try {
          if (rec.value === null) throw new DecodeError("metadata record without a value");
          record = decodeMetadataRecord(rec.value);
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          this.metadataHalted = `metadata index ${index} does not decode (${err.message}): a newer broker wrote it; upgrade this broker`;
          this.logger.error({ index, err }, this.metadataHalted);
          return events;
        }
        const result = this.image.apply(record, index);
        this.image = result.image;
        this.metadataNext = rec.offset + 1n;
        this.results.set(index, result);
        if (this.results.size > KEPT_RESULTS) this.results.delete(this.results.keys().next().value!);
        if (result.events.length > 0) events = true;
        if (result.rejected) this.logger.debug({ index, type: record.type, rejected: result.rejected }, "metadata record rejected");
        else this.logger.debug({ index, type: record.type }, "metadata record applied");
      }
    }
    const applied = this.metadataAppliedIndex;
    this.appliedWaiters = this.appliedWaiters.filter((w) => {
      if (w.index > applied) return true;
      clearTimeout(w.timer);
      w.resolve(true);
      return false;
    });
    return events;
  }

  /** Resolves true once this broker has applied metadata index `index`, false after `ms`. */
  private waitApplied(index: number, ms: number): Promise<boolean> {
    if (this.metadataAppliedIndex >= index) return Promise.resolve(true);
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

  // ------------------------------------------------------------------ the controller leader

  private onControllerLeadership(isLeader: boolean): void {
    if (isLeader && !this.liveness && !this.stopping) {
      this.liveness = new BrokerLiveness(this.options.sessionTimeoutMs, Date.now());
      this.ledReports.clear();
      this.controllerSub = this.nc.subscribe(subjects.controller(this.options.cluster), {
        callback: (err, msg) => (err ? undefined : void this.handleController(msg)),
      });
      this.controllerTimer = setInterval(() => void this.decideLiveness(), this.options.heartbeatMs);
      this.logger.info({ appliedIndex: this.metadataAppliedIndex }, "became the controller leader");
    } else if (!isLeader && this.liveness) {
      this.liveness = undefined;
      this.controllerSub?.unsubscribe();
      this.controllerSub = undefined;
      clearInterval(this.controllerTimer);
      this.controllerTimer = undefined;
      this.logger.info("no longer the controller leader");
    }
  }

  /**
   * Proposes one metadata record (acks=all on the local metadata replica) and resolves with its
   * index and ApplyResult once applied here.
   */
  private async propose(record: MetadataRecord): Promise<{ index: number; result: ApplyResult }> {
    const m = this.metadata;
    if (!m || !this.liveness) throw new FlotillaError("NOT_CONTROLLER", `broker ${this.id} is not the controller leader`);
    const batch = encodeRecordBatch([{ key: null, value: encodeMetadataRecord(record) }]);
    const { baseOffset } = await m.replica.produce({ batch, batchId: randomBytes(16), acks: "all" });
    const index = Number(baseOffset) + 1;
    if (!(await this.waitApplied(index, 10_000))) throw new FlotillaError("TIMEOUT", `metadata index ${index} committed but not applied within 10 s`);
    const result = this.results.get(index);
    if (!result) throw new FlotillaError("INTERNAL", `metadata index ${index} applied but its result was forgotten`);
    return { index, result };
  }

  private async decideLiveness(): Promise<void> {
    const liveness = this.liveness;
    if (!liveness || this.deciding || this.stopping) return;
    this.deciding = true;
    try {
      for (const record of liveness.decide(this.image, Date.now())) {
        const { result } = await this.propose(record);
        this.logger.info({ record, rejected: result.rejected }, record.type === "fenceBroker" ? "fenced a broker" : "unfenced a broker");
      }
    } catch (err) {
      this.logger.debug({ err }, "liveness round failed");
    } finally {
      this.deciding = false;
    }
  }

  private async handleController(msg: Msg): Promise<void> {
    const started = process.hrtime.bigint();
    let type = "controller";
    try {
      const req = decodeControllerRequest(msg.data);
      type = `controller.${req.type}`;
      msg.respond(encodeControllerMessage(await this.answerController(req)));
      this.metrics.observe(type, "ok", started);
    } catch (e) {
      const fe = asFlotillaError(e);
      if (fe.code === "INTERNAL") this.logger.error({ err: e }, "controller request failed");
      msg.respond(encodeControllerMessage({ error: fe.toWire() }));
      this.metrics.observe(type, fe.code, started);
    }
  }

  private async answerController(req: ControllerRequest): Promise<object> {
    const liveness = this.liveness;
    if (!liveness) throw new FlotillaError("NOT_CONTROLLER", `broker ${this.id} is not the controller leader`);
    switch (req.type) {
      case "register": {
        const record = planRegisterBroker(this.image, { brokerId: req.brokerId, incarnation: req.incarnation });
        if (record) {
          const { result } = await this.propose(record);
          if (result.rejected) throw new FlotillaError(result.rejected.code, result.rejected.reason);
        }
        const b = this.image.broker(req.brokerId);
        if (!b || b.incarnation !== req.incarnation) throw new FlotillaError("NOT_CONTROLLER", `registration of broker ${req.brokerId} was overtaken; register again`);
        this.logger.info({ brokerId: req.brokerId, epoch: b.epoch }, "broker registered");
        return { epoch: b.epoch };
      }
      case "heartbeat": {
        const reply = liveness.heartbeat(this.image, req, Date.now());
        if (reply.type === "accepted") this.ledReports.set(req.brokerId, req.led);
        return reply;
      }
      case "createTopic": {
        const record = planCreateTopic(
          this.image,
          { topic: req.topic, partitions: req.partitions, replicationFactor: req.replicationFactor, configs: req.configs },
          randomUUID(),
        );
        const { index, result } = await this.propose(record);
        if (result.rejected) throw new FlotillaError(result.rejected.code, result.rejected.reason);
        this.logger.info({ topic: req.topic, partitions: req.partitions, replicationFactor: req.replicationFactor }, "topic created");
        return { appliedIndex: index };
      }
      case "deleteTopic": {
        const { index, result } = await this.propose(planDeleteTopic(this.image, req.topic));
        if (result.rejected) throw new FlotillaError(result.rejected.code, result.rejected.reason);
        this.logger.info({ topic: req.topic }, "topic deleted");
        return { appliedIndex: index };
      }
      case "runtime": {
        const now = Date.now();
        const alive = this.image.brokers().filter((b) => liveness.isAlive(this.image, b.id, now)).map((b) => b.id);
        // The newest term wins where two brokers still claim a partition.
        const best = new Map<string, { topic: string; partition: number; leader: number; term: number; hw: string; lso: string }>();
        for (const [brokerId, led] of this.ledReports) {
          if (!alive.includes(brokerId)) continue;
          for (const [topic, partition, term, hw, lso] of led) {
            const k = runtimeKey(topic, partition);
            const cur = best.get(k);
            if (!cur || cur.term < term) best.set(k, { topic, partition, leader: brokerId, term, hw, lso });
          }
        }
        return { controllerLeader: this.id, alive, partitions: [...best.values()].map((p) => [p.topic, p.partition, p.leader, p.hw, p.lso]) };
      }
    }
  }

  /** A request to the controller leader over NATS. */
  private async controllerCall<T>(message: ControllerRequest, check: (o: Record<string, unknown>) => T, timeoutMs = 5000): Promise<T> {
    let reply: Msg;
    try {
      reply = await this.nc.request(subjects.controller(this.options.cluster), encodeControllerMessage(message), { timeout: timeoutMs });
    } catch (e) {
      throw natsRequestError(e, `controller ${message.type}`);
    }
    return decodeControllerReply(reply.data, check);
  }

  // ------------------------------------------------------------------ registration and heartbeats

  private ledPartitions(): LedPartition[] {
    const led: LedPartition[] = [];
    for (const l of this.partitions.values()) {
      if (!l.replica.isLeader) continue;
      const s = l.replica.status();
      led.push([l.topic, l.partition, s.term, String(s.highWatermark), String(s.logStartOffset)]);
    }
    return led;
  }

  private async heartbeat(shuttingDown: boolean): Promise<void> {
    if (this.epoch === 0) {
      const r = await this.controllerCall({ type: "register", brokerId: this.id, incarnation: this.incarnation }, replyChecks.register, 15_000);
      this.epoch = r.epoch;
      this.registeredAt = Date.now();
      this.logger.info({ epoch: r.epoch }, "registered with the controller");
    }
    const reply = await this.controllerCall(
      { type: "heartbeat", brokerId: this.id, brokerEpoch: this.epoch, appliedIndex: this.metadataAppliedIndex, shuttingDown, led: this.ledPartitions() },
      replyChecks.heartbeat,
    );
    if (reply.type === "register") {
      this.logger.warn({ reason: reply.reason }, "the controller asks this broker to register again");
      this.epoch = 0;
    } else if (reply.fenced !== this.fenced) {
      this.fenced = reply.fenced;
      this.logger.info({ fenced: reply.fenced }, reply.fenced ? "fenced by the controller" : "unfenced by the controller");
    }
  }

  private async heartbeatLoop(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.heartbeat(false);
      } catch (err) {
        if (this.stopping) return;
        this.logger.debug({ err }, "heartbeat failed");
      }
      await sleep(this.options.heartbeatMs);
    }
  }

  // ------------------------------------------------------------------ client requests: produce and fetch

  /**
   * Produce, from the NATS message to the answer: decode and check the request (protocol/requests.ts:
   * sizes, types, topic), check it names this subject's partition, hand the batch to the replica
   * (which validates the batch, dedups by batch id, stamps offsets, proposes to Raft), and answer
   * with the base offset once `acks` is met. acks=none gets no answer. Bad input is answered with
   * an error; nothing is appended.
   */
  private async handleProduce(l: LocalPartition, msg: Msg): Promise<void> {
    const started = process.hrtime.bigint();
    let acksNone = false;
    try {
      const req = decodeRequestOf("produce", msg.data, this.limits);
      acksNone = req.acks === "none";
      this.checkPartition(l, req.topic, req.partition);
      this.metrics.bytesIn.inc({ type: "produce" }, req.batch.length);
      const produced = l.replica.produce({ batch: req.batch, batchId: req.batchId, acks: req.acks });
      const result = req.timeoutMs > 0 ? await withTimeout(produced, req.timeoutMs, `produce to ${l.topic}/${l.partition}`) : await produced;
      if (!acksNone) msg.respond(encodeResponse("produce", { baseOffset: result.baseOffset }, this.limits));
      this.metrics.observe("produce", "ok", started);
    } catch (e) {
      const fe = this.clientError(e, "produce");
      if (!acksNone) msg.respond(encodeErrorResponse(fe));
      this.metrics.observe("produce", fe.code, started);
    }
  }

  private async handleFetch(l: LocalPartition, msg: Msg): Promise<void> {
    const started = process.hrtime.bigint();
    try {
      const req = decodeRequestOf("fetch", msg.data, this.limits);
      this.checkPartition(l, req.topic, req.partition);
      if (!l.replica.isLeader) {
        const leader = l.replica.status().leader;
        throw new FlotillaError("NOT_LEADER", `broker ${this.id} no longer leads ${l.topic}/${l.partition}`, leader > 0 ? { leader } : {});
      }
      if (req.consistency === "linearizable") await l.replica.readIndex(Math.max(1000, req.maxWaitMs));
      const maxBytes = Math.min(req.maxBytes, this.limits.maxMessageBytes - MESSAGE_OVERHEAD_BYTES.fetchResponse);
      const res = await l.replica.fetch({ offset: req.offset, maxBytes, maxWaitMs: req.maxWaitMs, minBytes: req.minBytes });
      this.metrics.bytesOut.inc({ type: "fetch" }, res.batches.length);
      msg.respond(encodeResponse("fetch", res, this.limits));
      this.metrics.observe("fetch", "ok", started);
    } catch (e) {
      const fe = this.clientError(e, "fetch");
      if (fe.code === "OFFSET_OUT_OF_RANGE") {
        // The offsets say where the valid range is.
        const s = l.replica.status();
        msg.respond(encodeResponse("fetch", { error: fe.toWire(), highWatermark: s.highWatermark, logStartOffset: s.logStartOffset }, this.limits));
      } else msg.respond(encodeErrorResponse(fe));
      this.metrics.observe("fetch", fe.code, started);
    }
  }

  private checkPartition(l: LocalPartition, topic: string, partition: number): void {
    if (topic !== l.topic || partition !== l.partition) {
      throw new FlotillaError("INVALID_REQUEST", `the request names ${topic}/${partition} but was sent to the subject of ${l.topic}/${l.partition}`);
    }
  }

  private clientError(e: unknown, what: string): FlotillaError {
    const fe = asFlotillaError(e);
    if (fe.code === "INTERNAL") this.logger.error({ err: e }, `${what} failed`);
    return fe;
  }

  // ------------------------------------------------------------------ client requests: metadata and admin

  private async handleAdmin(msg: Msg): Promise<void> {
    const started = process.hrtime.bigint();
    let type = "unknown";
    try {
      const req = decodeRequest(msg.data, this.limits);
      type = req.type;
      msg.respond(await this.answerAdmin(req));
      this.metrics.observe(type, "ok", started);
    } catch (e) {
      const fe = this.clientError(e, type);
      msg.respond(encodeErrorResponse(fe));
      this.metrics.observe(type, fe.code, started);
    }
  }

  private async answerAdmin(req: AnyRequest): Promise<Uint8Array> {
    switch (req.type) {
      case "createTopic": {
        const r = req.request;
        const { appliedIndex } = await this.controllerCall(
          { type: "createTopic", topic: r.topic, partitions: r.partitions, replicationFactor: r.replicationFactor, configs: r.configs },
          replyChecks.write,
          15_000,
        );
        // Read your writes: a describe sent to this broker next sees the topic.
        await this.waitApplied(appliedIndex, 5000);
        return encodeResponse("createTopic", {}, this.limits);
      }
      case "deleteTopic": {
        const { appliedIndex } = await this.controllerCall({ type: "deleteTopic", topic: req.request.topic }, replyChecks.write, 15_000);
        await this.waitApplied(appliedIndex, 5000);
        return encodeResponse("deleteTopic", {}, this.limits);
      }
      case "listTopics":
        return encodeResponse("listTopics", { topics: this.image.topics().map((t) => t.name) }, this.limits);
      case "describeTopic": {
        const d = describeTopic(this.image, req.request.topic, await this.runtime());
        return encodeResponse("describeTopic", { description: { topic: d.topic, configs: d.configs, partitions: d.partitions.map(wirePartition) } }, this.limits);
      }
      case "describeCluster": {
        const d = describeCluster(this.image, await this.runtime());
        return encodeResponse(
          "describeCluster",
          {
            ...(d.controllerLeader !== undefined && { controllerLeader: d.controllerLeader }),
            brokers: d.brokers.map((b) => ({ id: b.id, alive: b.alive, fenced: b.fenced, leaders: b.leaders, replicas: b.replicas })),
            partitions: d.partitions,
            underReplicated: d.underReplicated,
          },
          this.limits,
        );
      }
      case "metadata": {
        const rt = await this.runtime();
        const names = req.request.topics ?? this.image.topics().map((t) => t.name);
        return encodeResponse(
          "metadata",
          {
            ...(rt.controllerLeader !== undefined && { controllerLeader: rt.controllerLeader }),
            brokers: this.image.brokers().map((b) => ({ id: b.id, alive: rt.isAlive(b.id), fenced: b.fenced })),
            topics: names.map((name) => {
              if (!this.image.topic(name)) {
                return { topic: name, error: new FlotillaError("UNKNOWN_TOPIC", `topic ${name} does not exist`).toWire(), partitions: [] };
              }
              return { topic: name, partitions: describeTopic(this.image, name, rt).partitions.map(wirePartition) };
            }),
          },
          this.limits,
        );
      }
      case "produce":
      case "fetch":
        throw new FlotillaError("INVALID_REQUEST", `${req.type} requests go to the partition's subject (p.<topic>.<partition>.${req.type}), not to admin/metadata`);
      default:
        throw new FlotillaError("INVALID_REQUEST", `${req.type} is not served by this broker yet (consumer groups are not built)`);
    }
  }

  /**
   * Leaders, high watermarks and liveness for describe requests: the controller leader's view
   * (from heartbeats), with this broker's own led replicas taking precedence (they are fresher).
   * Without a reachable controller: only what this broker knows itself.
   */
  private async runtime(): Promise<ClusterRuntime> {
    const parts = new Map<string, PartitionRuntime>();
    let controllerLeader: number | undefined;
    let alive = new Set<number>([this.id]);
    try {
      const rt = await this.controllerCall({ type: "runtime" }, replyChecks.runtime, 2000);
      controllerLeader = rt.controllerLeader;
      alive = new Set(rt.alive);
      for (const [topic, partition, leader, hw, lso] of rt.partitions) {
        parts.set(runtimeKey(topic, partition), { leader, highWatermark: BigInt(hw), logStartOffset: BigInt(lso) });
      }
    } catch (err) {
      this.logger.debug({ err }, "runtime lookup at the controller failed; describing from local knowledge");
    }
    for (const l of this.partitions.values()) {
      const s = l.replica.status();
      const k = runtimeKey(l.topic, l.partition);
      if (s.role === "leader" || !parts.has(k)) {
        parts.set(k, { ...(s.leader > 0 && { leader: s.leader }), highWatermark: s.highWatermark, logStartOffset: s.logStartOffset });
      }
    }
    return {
      ...(controllerLeader !== undefined && { controllerLeader }),
      isAlive: (id) => alive.has(id),
      partition: (topic, partition) => parts.get(runtimeKey(topic, partition)) ?? { highWatermark: 0n, logStartOffset: 0n },
    };
  }

  // ------------------------------------------------------------------ stopping

  /**
   * Stops the broker. Graceful (default): tells the controller it is shutting down, hands every
   * led partition's leadership to another replica (waiting up to `shutdownHandOffMs`), then closes
   * replicas (checkpoints written), the transport, NATS, the fsync pool and LMDB.
   */
  stop(options: { handOff?: boolean } = {}): Promise<void> {
    this.stopped ??= this.doStop(options.handOff !== false);
    return this.stopped;
  }

  private async doStop(handOff: boolean): Promise<void> {
    if (handOff && this.nc && !this.nc.isClosed()) {
      const started = Date.now();
      // Ask to be fenced, so nothing is moved onto this broker meanwhile (not worth registering for).
      if (this.epoch !== 0) await this.heartbeat(true).catch(() => undefined);
      // Data partitions first, the metadata group last: moving leaders may still need the controller.
      const led = [...this.partitions.values()].filter((l) => l.replica.isLeader);
      const moved = await Promise.all(led.map((l) => l.replica.handOffLeadership(this.options.shutdownHandOffMs).catch(() => false)));
      if (this.metadata?.replica.isLeader) moved.push(await this.metadata.replica.handOffLeadership(this.options.shutdownHandOffMs).catch(() => false));
      this.logger.info({ led: moved.length, movedAway: moved.filter(Boolean).length, ms: Date.now() - started }, "leadership handed off");
    }
    this.stopping = true;
    clearInterval(this.reconcileTimer);
    clearInterval(this.controllerTimer);
    for (const w of this.appliedWaiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.appliedWaiters = [];
    this.controllerSub?.unsubscribe();
    for (const s of this.clientSubs) s.unsubscribe();
    await this.reconcileChain.catch(() => undefined);
    const all = this.allReplicas();
    for (const l of all) this.unserve(l);
    await Promise.all(all.map((l) => l.replica.close().catch((err: unknown) => this.logger.warn({ err, topic: l.topic, partition: l.partition }, "replica close failed"))));
    clearInterval(this.tickTimer);
    await Promise.all(this.loops.map((p) => p.catch(() => undefined)));
    await this.transport?.close().catch(() => undefined);
    for (const c of [this.nc, this.raftNc]) if (c && !c.isClosed()) await c.drain().catch(() => c.close());
    await this.committer?.close().catch(() => undefined);
    await this.store?.close().catch(() => undefined);
    await this.metrics.close();
    this.logger.info("broker stopped");
  }
}

function wirePartition(p: { partition: number; leader?: number; replicas: number[]; isr: number[]; highWatermark: bigint; logStartOffset: bigint }): PartitionMetadata {
  return {
    partition: p.partition,
    ...(p.leader !== undefined && { leader: p.leader }),
    replicas: p.replicas,
    isr: p.isr,
    highWatermark: p.highWatermark,
    logStartOffset: p.logStartOffset < p.highWatermark ? p.logStartOffset : p.highWatermark,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new FlotillaError("TIMEOUT", `${what}: not acknowledged within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e as Error);
      },
    );
  });
}

