/**
 * Broker: one Flotilla broker process — the wiring of every part under broker/ into a server on
 * NATS (or, in the embedded mode, on the in-process bus and transport it is handed). What it runs,
 * and where each part lives:
 *
 * - Network: a MessageBus for client and controller requests, and a Transport for Raft (traffic of
 *   every group, coalesced per destination) behind one RaftRouter — two NATS connections
 *   (connectBrokerNats), or `options.network`.
 * - Storage: one LMDB StateStore (`<dir>/state`), one GroupCommitter over a Piscina fsync pool,
 *   shared by every replica; one shared tick timer for all groups (shared-ticker.ts).
 * - KRaft metadata. The metadata log is partition 0 of the internal topic `__cluster_metadata`,
 *   a PartitionReplica like any other, whose voters are the `--controllers` brokers (fixed at
 *   bootstrap; it lives in `<dir>/metadata`). Its Raft leader is the controller leader. Metadata
 *   records (encodeMetadataRecord) are the values of Kafka records, one record per batch. The
 *   "metadata index" that MetadataImage, broker epochs and heartbeats speak of is the record's
 *   offset + 1 in that partition (0: nothing applied), the same number on every broker. A
 *   controller with a wiped directory opens it RECOVERING when the cluster shows that the log
 *   exists (metadata-log-existence.ts).
 * - Following the metadata log into the local MetadataImage, on every broker: MetadataFollower
 *   (metadata-follower.ts).
 * - The controller leader (register, heartbeat, forwarded topic writes, the runtime lookup;
 *   fencing by liveness): ControllerLeader (controller-leader.ts), on the controllers only.
 * - Registration and heartbeats to the controller leader: BrokerRegistration
 *   (broker-registration.ts). The partitions a heartbeat reports leading are "the lookup the
 *   leaders publish" that describe requests take leaders and high watermarks from
 *   (runtime-lookup.ts; at most one heartbeat old).
 * - The replicas this broker hosts, reconciled with the image, each serving its subjects while it
 *   leads, leadership moved to the preferred replica: HostedReplicas (hosted-replicas.ts).
 * - Reassignments, on the partitions this broker leads: learners, catch-up, the joint switch of
 *   voters, progress reported to the controller: ReassignmentMover (reassignment-mover.ts).
 * - Client requests: `admin` and `metadata` subjects in a queue group of all brokers
 *   (AdminRequests, admin-requests.ts: reads from the local image; writes forwarded to the
 *   controller leader); per-partition `produce` / `fetch` subjects subscribed, in a queue group,
 *   only while the local replica leads (PartitionRequests, partition-requests.ts).
 * - Consumer groups: the leader of each `__consumer_offsets` partition coordinates the groups that
 *   hash to it, on that partition's group subject (GroupRequests, group-requests.ts).
 * - Metrics (prom-client Registry of its own, GET /metrics), pino logs with broker/partition.
 * - Graceful stop: every led partition hands leadership away first (bounded), then everything closes.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import { REPLICATION_HEADROOM_BYTES, requestLimits } from "../../protocol/requests.js";
import { subjects } from "../../protocol/subjects.js";
import { MetadataImage } from "../controller/index.js";
import { GroupCommitter, ThreadPoolSyncer } from "../log/index.js";
import { LearnerThrottle, RaftRouter, type PartitionReplica } from "../partition/index.js";
import { StateStore } from "../state/index.js";
import { connectBrokerNats, type BusSubscription, type Transport } from "../transport/index.js";
import { AdminRequests } from "./admin-requests.js";
import { BrokerRegistration } from "./broker-registration.js";
import { ControllerClient } from "./controller-client.js";
import { ControllerLeader } from "./controller-leader.js";
import { FaultControl } from "./fault-control.js";
import { GroupRequests } from "./group-requests.js";
import { HostedReplicas } from "./hosted-replicas.js";
import { METADATA_PARTITION, METADATA_TOPIC, MetadataFollower } from "./metadata-follower.js";
import { metadataLogExisted } from "./metadata-log-existence.js";
import { BrokerMetrics } from "./metrics.js";
import { resolveBrokerOptions, type BrokerNetwork, type BrokerOptions, type ResolvedBrokerOptions } from "./options.js";
import { PartitionRequests } from "./partition-requests.js";
import { ReassignmentMover } from "./reassignment-mover.js";
import { SharedTicker } from "./shared-ticker.js";

/** The queue group of the admin/metadata subjects: every broker. */
const BROKERS_QUEUE = "flotilla-brokers";
const RECONCILE_EVERY_MS = 5000;
/** How often partition leaders take the next step of a reassignment (each step waits for the previous one to apply). */
const REASSIGNMENT_STEP_MS = 250;

export class Broker {
  readonly id: number;
  readonly options: ResolvedBrokerOptions;
  readonly logger: Logger;
  readonly metrics: BrokerMetrics;
  /** The port GET /metrics is served on, once started (undefined when not serving). */
  metricsPort: number | undefined;

  /** Handed in (options.network) or connected in start(); closed by stop() either way. */
  private network: BrokerNetwork | undefined;
  private store!: StateStore;
  private committer!: GroupCommitter;
  /** The network's transport as Raft uses it (wrapped when fault control is on; closing it closes the network's). */
  private transport: Transport | undefined;
  /** Only with the test-only `faultControl` option. */
  private faultControl: FaultControl | undefined;
  private readonly ticker = new SharedTicker();
  private readonly clientSubs: BusSubscription[] = [];

  // The parts, created once connected (undefined before, or when start failed early).
  private metadata: MetadataFollower | undefined;
  private replicas: HostedReplicas | undefined;
  private registration: BrokerRegistration | undefined;
  private groups: GroupRequests | undefined;
  /** Only on the brokers listed in `--controllers`. */
  private controller: ControllerLeader | undefined;

  private reconcileTimer: NodeJS.Timeout | undefined;
  private moverTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private loops: Promise<void>[] = [];

  constructor(options: BrokerOptions) {
    this.options = resolveBrokerOptions(options);
    this.id = this.options.id;
    const base = this.options.logger ?? pino({ level: process.env.FLOTILLA_LOG_LEVEL ?? "info" });
    this.logger = base.child({ component: "broker", broker: this.id });
    this.network = this.options.network;
    this.metrics = new BrokerMetrics(this.id, {
      replicas: () => (this.replicas?.all() ?? []).map((l) => {
        const s = l.replica.status();
        return { topic: l.topic, partition: l.partition, term: s.term, commit: s.commit, applied: s.applied, isLeader: s.role === "leader", replicas: s.voters.length + s.learners.length, isr: s.isr, followers: s.followers };
      }),
      metadataAppliedIndex: () => this.metadataAppliedIndex,
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
    return this.controller?.isLeader ?? false;
  }

  /** The metadata index applied to this broker's image. */
  get metadataAppliedIndex(): number {
    return this.metadata?.appliedIndex ?? 0;
  }

  /** The image as applied here (tests, tools). */
  get metadataImage(): MetadataImage {
    return this.metadata?.image ?? MetadataImage.EMPTY;
  }

  /** The replicas this broker runs, by `topic/partition` (tests). */
  replicaStatus(): Array<{ topic: string; partition: number; role: string; leader: number; highWatermark: bigint; recovering: boolean }> {
    return [...(this.replicas?.data() ?? [])].map((l) => {
      const s = l.replica.status();
      return { topic: l.topic, partition: l.partition, role: s.role, leader: s.leader, highWatermark: s.highWatermark, recovering: s.recovering };
    });
  }

  private async start(): Promise<void> {
    const o = this.options;
    await mkdir(join(o.dir, "partitions"), { recursive: true });
    this.store = StateStore.open({ path: join(o.dir, "state") });
    this.committer = new GroupCommitter(new ThreadPoolSyncer({ threads: 2 }), {
      onCycle: (c) => {
        this.metrics.fsyncSeconds.observe(c.durationMs / 1000);
        this.metrics.fsyncBatchFiles.observe(c.files);
        this.metrics.fsyncBatchRequests.observe(c.requests);
      },
    });
    const network = (this.network ??= await connectBrokerNats({
      servers: o.nats,
      user: o.natsUser,
      pass: o.natsPassword,
      cluster: o.cluster,
      brokerId: this.id,
      logger: this.logger,
    }));
    if (o.faultControl) this.faultControl = new FaultControl({ inner: network.transport, bus: network.bus, cluster: o.cluster, brokerId: this.id, logger: this.logger });
    const transport = (this.transport = this.faultControl?.transport ?? network.transport);
    const bus = network.bus;
    const router = new RaftRouter(transport);
    const maxPayload = bus.maxPayload;
    const limits = requestLimits({ maxMessageBytes: maxPayload, maxBatchBytes: Math.min(maxPayload, transport.maxBatchBytes - REPLICATION_HEADROOM_BYTES) });
    this.ticker.start(o.tickMs);

    const stopping = (): boolean => this.stopping;
    const { id: brokerId, logger, metrics } = this;
    const controllerClient = new ControllerClient(bus, o.cluster);
    const metadata = new MetadataFollower({ bus, cluster: o.cluster, limits, logger, stopping, reconcile: () => replicas.scheduleReconcile() });
    const learnerThrottle = new LearnerThrottle();
    const groups = new GroupRequests({ brokerId, limits, metadata, metrics, logger });
    const replicas = new HostedReplicas({
      brokerId,
      dir: o.dir,
      cluster: o.cluster,
      tickMs: o.tickMs,
      heartbeatTicks: o.heartbeatTicks,
      electionTicks: o.electionTicks,
      replicaLagMaxMs: o.replicaLagMaxMs,
      committer: this.committer,
      learnerThrottle,
      store: this.store,
      router,
      ticker: this.ticker,
      bus,
      requests: new PartitionRequests(brokerId, limits, metrics, logger, bus),
      groups,
      metadata,
      metrics,
      logger,
      stopping,
    });
    const registration = new BrokerRegistration({
      brokerId,
      controller: controllerClient,
      metadata,
      ledPartitions: () => replicas.ledPartitions(),
      onLeaderMoves: (moves) => replicas.transferLeaders(moves),
      heartbeatMs: o.heartbeatMs,
      sessionTimeoutMs: o.sessionTimeoutMs,
      logger,
      stopping,
    });
    const admin = new AdminRequests({ brokerId, limits, metrics, logger, metadata, controller: controllerClient, localReplicas: () => replicas.data(), knownBrokers: o.controllers.length });
    const mover = new ReassignmentMover({ brokerId, metadata, controller: controllerClient, logger, partitions: () => replicas.data(), throttle: learnerThrottle });
    this.metadata = metadata;
    this.replicas = replicas;
    this.groups = groups;
    this.registration = registration;

    if (o.metricsPort !== undefined) this.metricsPort = await this.metrics.listen(o.metricsPort);

    // Admin and metadata requests are answered from the image: a broker still replaying the
    // metadata log (just started) would answer from the past, so it joins the queue group only
    // once caught up, and the bus sends those requests to the others meanwhile.
    void metadata.caughtUpOnce.then(() => {
      if (this.stopping) return;
      for (const subject of [subjects.admin(o.cluster), subjects.metadata(o.cluster)]) {
        this.clientSubs.push(bus.subscribe(subject, { queue: BROKERS_QUEUE }, (msg) => void admin.handle(msg)));
      }
    });
    await bus.flush();
    await transport.flush();

    let metadataReplica: PartitionReplica | undefined;
    if (o.controllers.includes(this.id)) {
      const dir = join(o.dir, "metadata");
      const group = `${METADATA_TOPIC}/${METADATA_PARTITION}`;
      const existed = await metadataLogExisted({ bus, cluster: o.cluster, store: this.store, group, dir, timeoutMs: 2000 });
      metadataReplica = await replicas.open(METADATA_TOPIC, METADATA_PARTITION, o.controllers, dir, existed);
      const controller = new ControllerLeader({
        brokerId,
        bus,
        cluster: o.cluster,
        sessionTimeoutMs: o.sessionTimeoutMs,
        heartbeatMs: o.heartbeatMs,
        logger,
        metrics,
        replica: metadataReplica,
        metadata,
        stopping,
      });
      this.controller = controller;
      replicas.hostMetadata({ topic: METADATA_TOPIC, partition: METADATA_PARTITION, dir, replica: metadataReplica }, (isLeader) => controller.onLeadership(isLeader));
    }
    this.loops.push(metadata.run(metadataReplica), registration.run());
    this.reconcileTimer = setInterval(() => {
      replicas.scheduleReconcile();
      replicas.moveToPreferredLeaders(registration);
    }, RECONCILE_EVERY_MS);
    this.moverTimer = setInterval(() => mover.step(), REASSIGNMENT_STEP_MS);
    this.logger.info(
      { controllers: o.controllers, nats: o.network ? "in-process" : o.nats, cluster: o.cluster, metricsPort: this.metricsPort, controller: metadataReplica !== undefined },
      "broker started",
    );
  }

  /**
   * Stops the broker. Graceful (default): tells the controller it is shutting down, hands every
   * led partition's leadership to another replica (waiting up to `shutdownHandOffMs`), then closes
   * replicas (checkpoints written), the transport, the bus, the fsync pool and LMDB.
   */
  stop(options: { handOff?: boolean } = {}): Promise<void> {
    this.stopped ??= this.doStop(options.handOff !== false);
    return this.stopped;
  }

  private async doStop(handOff: boolean): Promise<void> {
    if (handOff && this.network && !this.network.bus.isClosed() && this.replicas) {
      const started = Date.now();
      // Ask to be fenced, so nothing is moved onto this broker meanwhile (not worth registering for).
      if (this.registration?.registered) await this.registration.heartbeat(true).catch(() => undefined);
      const moved = await this.replicas.handOffLeadership(this.options.shutdownHandOffMs);
      this.logger.info({ led: moved.length, movedAway: moved.filter(Boolean).length, ms: Date.now() - started }, "leadership handed off");
    }
    this.stopping = true;
    clearInterval(this.reconcileTimer);
    clearInterval(this.moverTimer);
    this.controller?.close();
    this.metadata?.close();
    this.groups?.close();
    this.faultControl?.close();
    for (const s of this.clientSubs) s.unsubscribe();
    await this.replicas?.close();
    this.ticker.stop();
    await Promise.all(this.loops.map((p) => p.catch(() => undefined)));
    await (this.transport ?? this.network?.transport)?.close().catch(() => undefined);
    await this.network?.bus.close().catch(() => undefined);
    await this.committer?.close().catch(() => undefined);
    await this.store?.close().catch(() => undefined);
    await this.metrics.close();
    this.logger.info("broker stopped");
  }
}
