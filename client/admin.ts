/**
 * Admin: topics, the cluster, and consumer groups. Topic and cluster requests go to the cluster's
 * admin subject (any broker answers; writes are forwarded to the controller leader); group
 * requests to the group's coordinator (group-requests.ts). All are retried by retry.ts on
 * retriable errors (no controller leader or coordinator yet, timeouts, no broker answering yet).
 */
import { FlotillaError } from "../protocol/errors.js";
import { CONSUMER_OFFSETS_PARTITIONS } from "../protocol/groups.js";
import type { DescribeGroupResponse, GroupSummary, LeaderMove, PartitionMetadata, PartitionOffset, PartitionReplicas, RequestMap, RequestType, ResponseMap } from "../protocol/requests.js";
import { topicNameProblem } from "../protocol/subjects.js";
import type { ClientContext } from "./context.js";
import { partitionBounds } from "./fetch.js";
import { coordinatorCall, groupCall } from "./group-requests.js";
import { retry } from "./retry.js";
import { Rpc } from "./rpc.js";
import { REASSIGNMENT_PLAN_VERSION, parseReassignmentPlan, type PlannedReplicas, type ReassignmentPlan } from "../protocol/reassignment-plan.js";
import type { ClusterDescription, CreateTopicOptions, PartitionDescription, ReassignmentStatus, ResetOffsetsOptions, TopicDescription } from "./types.js";

function partitionOut(p: PartitionMetadata): PartitionDescription {
  return {
    partition: p.partition,
    replicas: p.replicas,
    ...(p.leader !== undefined && { leader: p.leader }),
    ...(p.isr !== undefined && { isr: p.isr }),
    ...(p.highWatermark !== undefined && { highWatermark: p.highWatermark }),
    ...(p.logStartOffset !== undefined && { logStartOffset: p.logStartOffset }),
  };
}

/** How often transferLeader looks whether the move happened, and asks again every this many looks. */
const TRANSFER_POLL_MS = 200;
const TRANSFER_ASK_EVERY_POLLS = 15;

function wirePlan(partitions: readonly PlannedReplicas[]): PartitionReplicas[] {
  return partitions.map((p) => ({ topic: p.topic, partition: p.partition, replicas: [...p.replicas] }));
}

function checkTopic(topic: unknown): asserts topic is string {
  const problem = typeof topic === "string" ? topicNameProblem(topic) : "topic must be a string";
  if (problem) throw new FlotillaError("INVALID_TOPIC", problem);
}

export class Admin {
  private rpc: Rpc | undefined;

  constructor(private readonly ctx: ClientContext) {}

  async connect(): Promise<void> {
    if (!this.rpc) this.rpc = new Rpc(await this.ctx.connection.acquire(this), this.ctx.cluster);
  }

  async disconnect(): Promise<void> {
    if (!this.rpc) return;
    this.rpc = undefined;
    await this.ctx.connection.release(this);
  }

  /**
   * Creates a topic. Resolves once the broker that answered has applied it (a describe next sees
   * it). A retry after a timeout that then finds the topic existing counts as created.
   */
  async createTopic(o: CreateTopicOptions): Promise<void> {
    checkTopic(o?.topic);
    const problems: string[] = [];
    if (!Number.isInteger(o.partitions) || o.partitions < 1) problems.push(`partitions ${String(o.partitions)} must be an integer ≥ 1`);
    if (!Number.isInteger(o.replicationFactor) || o.replicationFactor < 1) problems.push(`replicationFactor ${String(o.replicationFactor)} must be an integer ≥ 1`);
    if (problems.length > 0) throw new FlotillaError("INVALID_REQUEST", `createTopic ${o.topic}: ${problems.join("; ")}`);
    let timedOut = false;
    try {
      await this.call(
        "createTopic",
        { topic: o.topic, partitions: o.partitions, replicationFactor: o.replicationFactor, configs: o.configs ?? {} },
        (e) => (timedOut ||= e.code === "TIMEOUT"),
      );
    } catch (e) {
      if (timedOut && e instanceof FlotillaError && e.code === "TOPIC_EXISTS") return;
      throw e;
    }
  }

  async deleteTopic(topic: string): Promise<void> {
    checkTopic(topic);
    await this.call("deleteTopic", { topic });
  }

  /** Each partition's replicas, leader, high watermark and log start offset, and the topic's configs. */
  async describeTopic(topic: string): Promise<TopicDescription> {
    checkTopic(topic);
    const { description: d } = await this.call("describeTopic", { topic });
    return { topic: d.topic, partitions: d.partitions.map(partitionOut), configs: d.configs };
  }

  async listTopics(): Promise<string[]> {
    return (await this.call("listTopics", {})).topics;
  }

  /** Brokers (alive, fenced, leaders and replicas each), the controller leader, partition counts. */
  async describeCluster(): Promise<ClusterDescription> {
    const d = await this.call("describeCluster", {});
    return {
      ...(d.controllerLeader !== undefined && { controllerLeader: d.controllerLeader }),
      brokers: d.brokers,
      partitions: d.partitions,
      underReplicated: d.underReplicated,
    };
  }

  /**
   * Spreads the topics' replicas evenly over `brokers`, moving as few as possible. Returns the plan
   * only; `reassignPartitions` executes it.
   */
  async generateReassignment(o: { topics: string[]; brokers: number[] }): Promise<ReassignmentPlan> {
    for (const t of o?.topics ?? []) checkTopic(t);
    const { partitions } = await this.call("generateReassignment", { topics: o.topics, brokers: o.brokers });
    return { version: REASSIGNMENT_PLAN_VERSION, partitions };
  }

  /**
   * Starts moving each partition of the plan to its replicas (partitions already there, or on their
   * way, are left alone; executing a plan twice is harmless). Resolves once the moves are recorded;
   * `reassignmentStatus` follows them. `throttleMbps` caps the megabytes (10^6 bytes) per second each
   * broker sends to replicas catching up.
   */
  async reassignPartitions(plan: ReassignmentPlan, options: { throttleMbps?: number } = {}): Promise<void> {
    const { partitions } = parseReassignmentPlan(plan);
    const mbps = options.throttleMbps;
    if (mbps !== undefined && !(Number.isFinite(mbps) && mbps > 0)) throw new FlotillaError("INVALID_REQUEST", `throttleMbps ${String(mbps)} must be a number > 0`);
    await this.call("reassignPartitions", { partitions: wirePlan(partitions), ...(mbps !== undefined && { throttleBytesPerSec: Math.max(1, Math.round(mbps * 1e6)) }) });
  }

  /** Where each partition of the plan stands; `complete` only when every one has its planned replicas. */
  async reassignmentStatus(plan: ReassignmentPlan): Promise<ReassignmentStatus> {
    const { partitions } = await this.call("reassignmentStatus", { partitions: wirePlan(parseReassignmentPlan(plan).partitions) });
    return { complete: partitions.every((p) => p.status === "complete"), partitions };
  }

  /** Cancels the reassignments in progress of the plan's partitions (or of the given ones): each goes back to its replicas. */
  async cancelReassignment(partitions: ReassignmentPlan | ReadonlyArray<{ topic: string; partition: number }>): Promise<void> {
    const list = "version" in partitions ? parseReassignmentPlan(partitions).partitions : partitions;
    const byTopic = new Map<string, number[]>();
    for (const { topic, partition } of list) {
      checkTopic(topic);
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
    }
    await this.call("cancelReassignment", { partitions: [...byTopic].map(([topic, ps]) => ({ topic, partitions: ps })) });
  }

  /**
   * Makes `to` lead the partition (and its preferred leader, so leadership stays there). Resolves
   * once `to` leads it, or throws TIMEOUT if it does not within `timeoutMs` (default 15 s).
   */
  async transferLeader(o: { topic: string; partition: number; to: number }, timeoutMs = 15_000): Promise<void> {
    checkTopic(o?.topic);
    const request = { topic: o.topic, partition: o.partition, to: o.to };
    const deadline = Date.now() + timeoutMs;
    for (let polls = 0; ; polls++) {
      // Asked again now and then: Raft gives up a transfer whose target does not catch up within
      // an election timeout, and an order in flight is lost with a controller that fails.
      if (polls % TRANSFER_ASK_EVERY_POLLS === 0) await this.call("transferLeader", request);
      const p = (await this.describeTopic(o.topic)).partitions.find((x) => x.partition === o.partition);
      if (p?.leader === o.to) return;
      if (Date.now() >= deadline) throw new FlotillaError("TIMEOUT", `${o.topic}-${o.partition} is still led by ${p?.leader ?? "nobody"}, not ${o.to}`);
      await this.ctx.env.sleep(TRANSFER_POLL_MS);
    }
  }

  /** Moves every partition's leadership to its preferred replica (where that one is live and caught up); returns the moves asked for. */
  async rebalanceLeaders(): Promise<LeaderMove[]> {
    return (await this.call("rebalanceLeaders", {})).moves;
  }

  /**
   * Decommissions a broker: the first call starts moving every replica off it; once it hosts
   * nothing, a call fences it for good (until it registers again). Returns the moves under way.
   */
  async decommissionBroker(brokerId: number): Promise<{ partitions: PlannedReplicas[]; fenced: boolean }> {
    return this.call("decommissionBroker", { brokerId });
  }

  /** Every group any coordinator knows (with members, or with committed offsets). */
  async listGroups(): Promise<GroupSummary[]> {
    const rpc = this.connected("listGroups");
    const parts = await Promise.all(
      Array.from({ length: CONSUMER_OFFSETS_PARTITIONS }, (_, n) => coordinatorCall(this.ctx, rpc, "listGroups", n, `the groups of offsets partition ${n}`, {})),
    );
    return parts.flatMap((p) => p.groups).sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
  }

  /** The group's state, generation and members (each with its partitions), and its committed offsets. */
  async describeGroup(groupId: string): Promise<DescribeGroupResponse & { offsets: PartitionOffset[] }> {
    const rpc = this.connected("describeGroup");
    const d = await groupCall(this.ctx, rpc, "describeGroup", groupId, { groupId });
    const { offsets } = await groupCall(this.ctx, rpc, "fetchOffsets", groupId, { groupId });
    return { ...d, offsets };
  }

  /**
   * Moves a group's committed offsets for a topic (every partition, or those given) to each
   * partition's first offset, its end, or `offset`. The group must have no members running.
   * Resolves with the offsets committed.
   */
  async resetOffsets(o: ResetOffsetsOptions): Promise<PartitionOffset[]> {
    const rpc = this.connected("resetOffsets");
    checkTopic(o?.topic);
    if (o.to !== "earliest" && o.to !== "latest" && o.to !== "offset") throw new FlotillaError("INVALID_REQUEST", `resetOffsets: to must be "earliest", "latest" or "offset", got ${JSON.stringify(o.to)}`);
    if ((o.to === "offset") !== (o.offset !== undefined)) throw new FlotillaError("INVALID_REQUEST", `resetOffsets: give offset exactly when to is "offset"`);
    const partitions = o.partitions ?? (await this.describeTopic(o.topic)).partitions.map((p) => p.partition);
    const offsets = await Promise.all(
      partitions.map(async (partition) => {
        if (o.to === "offset") return { topic: o.topic, partition, offset: BigInt(o.offset!) };
        const b = await partitionBounds(this.ctx, rpc, o.topic, partition);
        return { topic: o.topic, partition, offset: o.to === "earliest" ? b.logStartOffset : b.highWatermark };
      }),
    );
    // Committed from outside the membership: the coordinator refuses it while the group has members.
    await groupCall(this.ctx, rpc, "commitOffsets", o.groupId, { groupId: o.groupId, offsets });
    return offsets;
  }

  private connected(what: string): Rpc {
    if (!this.rpc) throw new FlotillaError("INVALID_REQUEST", `${what}: the admin client is not connected; call connect() first`);
    return this.rpc;
  }

  private async call<K extends RequestType>(type: K, request: RequestMap[K], onRetry?: (e: FlotillaError) => void): Promise<ResponseMap[K]> {
    const rpc = this.connected(type);
    // UNKNOWN_TOPIC is retriable for producers (a topic being created); an admin asking about a
    // topic that does not exist wants to hear so at once.
    const retriable = (e: FlotillaError): boolean => e.code !== "UNKNOWN_TOPIC";
    return retry(() => rpc.call(type, rpc.adminTarget(type), request, this.ctx.requestTimeoutMs), this.ctx.retry, { onRetry, retriable }, this.ctx.env);
  }
}
