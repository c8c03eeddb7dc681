/**
 * The replicas this broker hosts: the metadata log's (on controllers) and the data partitions', each
 * opened on the shared storage, router and ticker. A replica's produce/fetch subjects are subscribed
 * (queue group) exactly while it leads; a data replica's own replica-fetch subject (follower fetch)
 * as long as it is hosted; a `__consumer_offsets` replica's group subject while it leads, with its
 * group coordinator (GroupRequests), and no produce subject: only its coordinator writes to it.
 *
 * Reconcile: after applying records with events (and once caught up with the log), and every few
 * seconds, `reconcileReplicas` says which local replicas to start, remove, or retire. A replica's
 * directory is `<dir>/partitions/<topicId>-<partition>`: a re-created topic never reuses old data.
 */
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { CONSUMER_OFFSETS_TOPIC } from "../../protocol/groups.js";
import { subjects } from "../../protocol/subjects.js";
import { reconcileReplicas, sameMembers, type HostedPartition } from "../controller/index.js";
import type { GroupCommitter } from "../log/index.js";
import { PartitionReplica, type LeaderChange, type LearnerThrottle, type RaftRouter } from "../partition/index.js";
import type { StateStore } from "../state/index.js";
import type { MessageBus } from "../transport/index.js";
import type { BrokerRegistration } from "./broker-registration.js";
import type { LedPartition, LeaderMoveOrder } from "./controller-messages.js";
import type { GroupRequests } from "./group-requests.js";
import type { LocalPartition } from "./local-partition.js";
import { METADATA_TOPIC, type MetadataFollower } from "./metadata-follower.js";
import type { BrokerMetrics } from "./metrics.js";
import type { PartitionRequests } from "./partition-requests.js";
import type { SharedTicker } from "./shared-ticker.js";

/** The queue group of a partition's subjects: only its (single) leader subscribes. */
const LEADERS_QUEUE = "flotilla-leaders";
/** The LMDB namespace PartitionReplica keeps its checkpoint in (cleared when a replica is deleted). */
const REPLICA_CHECKPOINT_NS = "partition-replica";
/** A leader holds a partition this long before handing it to its preferred replica, and retries no sooner than the second. */
const PREFERRED_MOVE_AFTER_MS = 10_000;
const PREFERRED_MOVE_EVERY_MS = 60_000;

export interface HostedReplicasOptions {
  brokerId: number;
  /** The broker's data directory (`partitions/` below it). */
  dir: string;
  cluster: string;
  tickMs: number;
  heartbeatTicks: number;
  electionTicks: number;
  replicaLagMaxMs: number;
  committer: GroupCommitter;
  /** Appends to learners of every partition led here go through it. */
  learnerThrottle: LearnerThrottle;
  store: StateStore;
  router: RaftRouter;
  ticker: SharedTicker;
  bus: MessageBus;
  requests: PartitionRequests;
  groups: GroupRequests;
  metadata: MetadataFollower;
  metrics: BrokerMetrics;
  logger: Logger;
  stopping: () => boolean;
}

function keyOf(r: { topicId: string; partition: number }): string {
  return `${r.topicId}/${r.partition}`;
}

export class HostedReplicas {
  /** Data partitions by `topicId/partition`. */
  private readonly partitions = new Map<string, LocalPartition>();
  private metadataLog: LocalPartition | undefined;
  private reconcileChain: Promise<void> = Promise.resolve();
  private firstReconcile = true;

  constructor(private readonly options: HostedReplicasOptions) {}

  /** The data partitions' replicas (not the metadata log's). */
  data(): IterableIterator<LocalPartition> {
    return this.partitions.values();
  }

  /** Every hosted replica, the metadata log's last. */
  all(): LocalPartition[] {
    const all = [...this.partitions.values()];
    if (this.metadataLog) all.push(this.metadataLog);
    return all;
  }

  /** The data partitions this broker leads, as heartbeats report them. */
  ledPartitions(): LedPartition[] {
    const led: LedPartition[] = [];
    const now = Date.now();
    for (const l of this.partitions.values()) {
      const f = l.replica.leaderFigures(now);
      if (f) led.push([l.topic, l.partition, f.term, String(f.highWatermark), String(f.logStartOffset), f.isr]);
    }
    return led;
  }

  open(topic: string, partition: number, voters: readonly number[], dir: string, expectExisting = false, join = false): Promise<PartitionReplica> {
    const o = this.options;
    return PartitionReplica.open({
      expectExisting,
      join,
      topic,
      partition,
      brokerId: o.brokerId,
      voters: [...voters],
      dir,
      committer: o.committer,
      learnerThrottle: o.learnerThrottle,
      stateStore: o.store,
      router: o.router,
      logger: o.logger,
      tickMs: o.tickMs,
      heartbeatTick: o.heartbeatTicks,
      electionTick: o.electionTicks,
      replicaLagMaxMs: o.replicaLagMaxMs,
      // A controller serves the metadata image it builds from its own replica of the metadata log,
      // so a follower there must learn a commit within a round trip, not a heartbeat later (an
      // admin read right after a change may go to any controller). Data and group partitions'
      // followers serve nothing without a read index through the leader.
      lazyCommitPropagation: topic !== METADATA_TOPIC,
      ticker: (tick) => o.ticker.add(tick),
    });
  }

  /** Hosts the metadata log's replica; `onLeadership` hears its leadership changes (the controller role). */
  hostMetadata(l: { topic: string; partition: number; dir: string; replica: PartitionReplica }, onLeadership: (isLeader: boolean) => void): void {
    this.metadataLog = this.track({ ...l, topicId: "metadata" }, onLeadership);
  }

  /** Hooks leadership events: serve the partition's subjects exactly while the replica leads. */
  private track(l: Omit<LocalPartition, "subs" | "offLeader" | "leaderSince" | "lastPreferredMove">, onLeadership?: (isLeader: boolean) => void): LocalPartition {
    const local: LocalPartition = { ...l, subs: [], offLeader: () => undefined, leaderSince: 0, lastPreferredMove: 0 };
    local.offLeader = l.replica.onLeaderChange((e) => this.onLeaderChange(local, e, onLeadership));
    if (l.replica.isLeader) {
      local.leaderSince = Date.now();
      if (l.topic === CONSUMER_OFFSETS_TOPIC) this.options.groups.onLeadership(local, true);
      this.serve(local);
    }
    return local;
  }

  private onLeaderChange(l: LocalPartition, e: LeaderChange, onLeadership: ((isLeader: boolean) => void) | undefined): void {
    this.options.metrics.leaderChanges.inc();
    this.options.logger.debug({ group: e.group, leader: e.leader, term: e.term }, "leader changed");
    l.leaderSince = e.isLeader ? Date.now() : 0;
    if (l.topic === CONSUMER_OFFSETS_TOPIC) this.options.groups.onLeadership(l, e.isLeader);
    if (e.isLeader) this.serve(l);
    else this.unserve(l);
    onLeadership?.(e.isLeader);
  }

  private serve(l: LocalPartition): void {
    if (l.subs.length > 0 || this.options.stopping()) return;
    const { bus, cluster: c, requests, groups } = this.options;
    l.subs.push(bus.subscribe(subjects.fetch(c, l.topic, l.partition), { queue: LEADERS_QUEUE }, (msg) => void requests.handleFetch(l, msg)));
    if (l.topic === CONSUMER_OFFSETS_TOPIC) {
      l.subs.push(bus.subscribe(subjects.group(c, l.partition), { queue: LEADERS_QUEUE }, (msg) => void groups.handle(l, msg)));
    } else if (l !== this.metadataLog) {
      // Nobody produces to the metadata log but the controller leader itself.
      l.subs.push(bus.subscribe(subjects.produce(c, l.topic, l.partition), { queue: LEADERS_QUEUE }, (msg) => void requests.handleProduce(l, msg)));
    }
  }

  private unserve(l: LocalPartition): void {
    for (const s of l.subs) s.unsubscribe();
    l.subs = [];
  }

  /** Every subscription of the replica, leader or not (it is being closed). */
  private stopServing(l: LocalPartition): void {
    this.unserve(l);
    l.replicaFetch?.unsubscribe();
    l.replicaFetch = undefined;
  }

  scheduleReconcile(): void {
    if (this.options.stopping() || !this.options.metadata.caughtUp) return;
    this.reconcileChain = this.reconcileChain
      .then(() => this.reconcile())
      .catch((err: unknown) => this.options.logger.error({ err }, "reconcile failed; retrying on the next metadata change"));
  }

  private async reconcile(): Promise<void> {
    if (this.options.stopping()) return;
    const { brokerId } = this.options;
    if (this.firstReconcile) await this.adoptLeftovers();
    const changes = reconcileReplicas(this.options.metadata.image, brokerId, this.partitions.values());
    for (const r of changes.remove) await this.remove(keyOf(r), "its topic was deleted");
    for (const r of changes.retire) {
      // A completed reassignment was recorded after the group left this replica out; it may not
      // have heard so itself (the group stops replicating to it). A cancelled one left it out of
      // the image only: a learner counts in no quorum and may go, but a replica its own
      // configuration lists as a voter (joint included) waits until that says otherwise.
      if (!this.options.metadata.abandonedReplicas(r.topicId, r.partition).includes(brokerId)) {
        await this.remove(keyOf(r), "a completed reassignment moved the partition off this broker");
        continue;
      }
      const conf = this.partitions.get(keyOf(r))?.replica.membership().confState;
      const voter = conf && [...conf.voters, ...conf.votersOutgoing].includes(brokerId);
      if (conf && !voter) await this.remove(keyOf(r), "a cancelled reassignment left this broker out, and the group does not count it as a voter");
    }
    // Opening is mostly I/O; a few at a time keeps a 1,000-partition topic from taking long.
    const queue = [...changes.start];
    // The first reconcile after start-up opens partitions that existed before this process: an
    // empty directory for one of them means a lost disk, and the replica must not vote as if it
    // had its old log (PartitionReplica's RECOVERING). Later ones are partitions created since.
    const existedBefore = this.firstReconcile;
    this.firstReconcile = false;
    const worker = async (): Promise<void> => {
      for (let h = queue.shift(); h && !this.options.stopping(); h = queue.shift()) await this.start(h, existedBefore);
    };
    await Promise.all(Array.from({ length: Math.min(8, queue.length) }, worker));
  }

  /**
   * At start-up, replica directories the image no longer hosts here: left by a reassignment that
   * completed or was cancelled while this broker was down. Those of existing partitions are opened,
   * so the retire rules above decide when to delete them (a cancelled one may still count in its
   * group); those of deleted topics are deleted now.
   */
  private async adoptLeftovers(): Promise<void> {
    const { brokerId, metadata, logger } = this.options;
    const root = join(this.options.dir, "partitions");
    const hosted = new Set(metadata.image.hostedPartitions(brokerId).map((h) => `${h.topicId}-${h.partition}`));
    for (const name of await readdir(root)) {
      if (hosted.has(name)) continue;
      const at = name.lastIndexOf("-");
      const topicId = name.slice(0, at);
      const partition = Number(name.slice(at + 1));
      const topic = metadata.image.topicById(topicId);
      const dir = join(root, name);
      if (!topic || !Number.isSafeInteger(partition) || partition >= topic.partitions.length) {
        await rm(dir, { recursive: true, force: true });
        logger.info({ dir }, "deleted the directory of a replica whose topic is gone");
        continue;
      }
      const replica = await this.open(topic.name, partition, [brokerId], dir, true, true);
      this.partitions.set(keyOf({ topicId, partition }), this.track({ topic: topic.name, topicId, partition, dir, replica }));
    }
  }

  private async start(h: HostedPartition, existedBefore: boolean): Promise<void> {
    const dir = join(this.options.dir, "partitions", `${h.topicId}-${h.partition}`);
    // A new replica bootstraps the group only as one of the members it was created with, while
    // those are still its replicas: then every initial member writes the same entry 1. Anything
    // else (a reassignment target, a group that has moved since) joins empty and learns the
    // membership from the leader's log — never a second, different entry 1.
    const created = this.options.metadata.createdReplicas(h.topicId, h.partition);
    const bootstraps = created !== undefined && created.includes(this.options.brokerId) && sameMembers(created, h.replicas);
    const replica = await this.open(h.topic, h.partition, bootstraps ? created : h.replicas, dir, existedBefore, !bootstraps);
    if (this.options.stopping()) {
      await replica.close();
      return;
    }
    const l = this.track({ topic: h.topic, topicId: h.topicId, partition: h.partition, dir, replica });
    const { bus, cluster, requests, brokerId } = this.options;
    l.replicaFetch = bus.subscribe(subjects.replicaFetch(cluster, h.topic, h.partition, brokerId), {}, (msg) => void requests.handleFetch(l, msg, "replica"));
    this.partitions.set(keyOf(h), l);
    this.options.logger.info({ topic: h.topic, partition: h.partition, replicas: h.replicas }, "replica started");
  }

  private async remove(key: string, why: string): Promise<void> {
    const l = this.partitions.get(key);
    if (!l) return;
    this.partitions.delete(key);
    this.stopServing(l);
    l.offLeader();
    await l.replica.close();
    await rm(l.dir, { recursive: true, force: true });
    // A later topic of the same name is the same Raft group name: it must start from nothing.
    await this.options.store.removeGroup(l.replica.group);
    await this.options.store.put(REPLICA_CHECKPOINT_NS, l.replica.group, undefined);
    this.options.logger.info({ topic: l.topic, partition: l.partition, why }, "replica deleted");
  }

  /**
   * Leadership spread: Raft elects whoever times out first, so leaders bunch up after a failure or
   * a burst of creates. A partition led here for a while, whose preferred replica (the first in
   * its replica set: placement spreads those evenly) is another unfenced broker in the group, hands
   * leadership to it — at most once per PREFERRED_MOVE_EVERY_MS, so a preferred replica that cannot
   * take over costs one aborted transfer now and then, never a flapping leader.
   */
  moveToPreferredLeaders(registration: BrokerRegistration): void {
    if (this.options.stopping()) return;
    const now = Date.now();
    const { brokerId, logger } = this.options;
    const image = this.options.metadata.image;
    // A broker the controller fenced should lead nothing: hand leadership to the most caught-up live voter.
    const fencedHere = registration.fencedByController(image, now);
    for (const l of this.partitions.values()) {
      if (fencedHere && l.leaderSince !== 0 && now - l.lastPreferredMove >= PREFERRED_MOVE_AFTER_MS) {
        l.lastPreferredMove = now;
        logger.warn({ topic: l.topic, partition: l.partition }, "fenced by the controller: handing leadership away");
        void l.replica.handOffLeadership().catch(() => undefined);
        continue;
      }
      if (l.leaderSince === 0 || now - l.leaderSince < PREFERRED_MOVE_AFTER_MS || now - l.lastPreferredMove < PREFERRED_MOVE_EVERY_MS) continue;
      const state = image.topic(l.topic)?.partitions[l.partition];
      // A partition being reassigned gets its leader from the reassignment (hand-off off leaving replicas).
      if (state?.reassignment) continue;
      const preferred = state?.replicas[0];
      if (preferred === undefined || preferred === brokerId || image.broker(preferred)?.fenced !== false) continue;
      if (!l.replica.status().voters.includes(preferred)) continue;
      l.lastPreferredMove = now;
      logger.info({ topic: l.topic, partition: l.partition, to: preferred }, "moving leadership to the preferred replica");
      l.replica.transferLeader(preferred);
    }
  }

  /** The moves the controller asked for (leader transfer, rebalance): each partition still led here hands leadership on now. */
  transferLeaders(moves: readonly LeaderMoveOrder[]): void {
    for (const [topic, partition, to] of moves) {
      for (const l of this.partitions.values()) {
        if (l.topic !== topic || l.partition !== partition || !l.replica.isLeader) continue;
        this.options.logger.info({ topic, partition, to }, "moving leadership as the controller asked");
        l.lastPreferredMove = Date.now();
        l.replica.transferLeader(to);
      }
    }
  }

  /** Hands every led partition's leadership to another replica (up to `ms` each); resolves with whether each moved. */
  async handOffLeadership(ms: number): Promise<boolean[]> {
    // Data partitions first, the metadata group last: moving leaders may still need the controller.
    const led = [...this.partitions.values()].filter((l) => l.replica.isLeader);
    const moved = await Promise.all(led.map((l) => l.replica.handOffLeadership(ms).catch(() => false)));
    if (this.metadataLog?.replica.isLeader) moved.push(await this.metadataLog.replica.handOffLeadership(ms).catch(() => false));
    return moved;
  }

  /** Stopping (after `stopping()` turned true): waits out a running reconcile, then closes every replica (checkpoints written). */
  async close(): Promise<void> {
    await this.reconcileChain.catch(() => undefined);
    const all = this.all();
    for (const l of all) this.stopServing(l);
    await Promise.all(all.map((l) => l.replica.close().catch((err: unknown) => this.options.logger.warn({ err, topic: l.topic, partition: l.partition }, "replica close failed"))));
  }
}
