import { FlotillaError } from "../../protocol/errors.js";
import { topicNameProblem } from "../../protocol/subjects.js";
import type { MetadataImage, PartitionState, ReassignmentState, TopicState } from "./metadata-image.js";
import {
  METADATA_LIMITS,
  REASSIGNMENT_PHASES,
  configsProblem,
  recordShapeProblem,
  replicasProblem,
  topicIdProblem,
  type BrokerEndpoint,
  type CancelReassignmentRecord,
  type CompleteReassignmentRecord,
  type ReassignmentPhase,
  type ReassignmentProgressRecord,
  type CreateTopicRecord,
  type DeleteTopicRecord,
  type MetadataRecord,
  type RegisterBrokerRecord,
  type SetPreferredLeaderRecord,
  type StartReassignmentRecord,
  type UnregisterBrokerRecord,
} from "./metadata-records.js";
import { sameList, sameMembers } from "./lists.js";
import { brokerLoads, placeReplicas } from "./placement.js";
import { generateReassignment } from "./reassignment-plan.js";
import type { PlannedReplicas, ReassignmentPlan } from "../../protocol/reassignment-plan.js";
import { normalizeTopicConfigs, topicConfigProblems } from "./topic-configs.js";

/**
 * The controller leader's decisions: an admin or broker request and the current image in, the
 * records to propose out — or a FlotillaError with the code the client should see. Pure: the
 * caller supplies anything random (topic ids) and proposes the records itself.
 *
 * Every plan is checked against the image with the same rules `apply` uses (`image.check`), so a
 * request that would be rejected never reaches the log. The check runs against the leader's latest
 * applied image, not against proposals still in flight: two racing creates of one topic both pass
 * here, and the later one is rejected on apply. Whoever waits for the proposal must therefore
 * answer the client from the ApplyResult, not from the plan.
 */

/** Throws the FlotillaError `apply` would reject `record` with, if any. */
export function requireAccepted<R extends MetadataRecord>(image: MetadataImage, record: R): R {
  const rejected = image.check(record);
  if (rejected) throw new FlotillaError(rejected.code, rejected.reason);
  return record;
}

function requireTopicName(topic: string): void {
  const problem = topicNameProblem(topic);
  if (problem) throw new FlotillaError("INVALID_TOPIC", problem);
}

export interface CreateTopicRequest {
  readonly topic: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly configs?: Readonly<Record<string, string>>;
}

/**
 * `topic create`: validates the request, places the replicas over the unfenced brokers (starting
 * where leadership is thinnest), and returns the record. `topicId` is a fresh lower-case UUID from
 * the caller (`crypto.randomUUID()`).
 */
export function planCreateTopic(image: MetadataImage, request: CreateTopicRequest, topicId: string): CreateTopicRecord {
  const idProblem = topicIdProblem(topicId);
  if (idProblem) throw new RangeError(`planCreateTopic: ${idProblem}`);
  requireTopicName(request.topic);
  if (image.topic(request.topic)) throw new FlotillaError("TOPIC_EXISTS", `topic ${request.topic} already exists`);
  const { partitions, replicationFactor: rf } = request;
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > METADATA_LIMITS.partitionsPerTopic) {
    throw new FlotillaError("INVALID_REQUEST", `partitions must be an integer from 1 to ${METADATA_LIMITS.partitionsPerTopic}, got ${partitions}`);
  }
  const brokers = image.unfencedBrokers();
  if (!Number.isInteger(rf) || rf < 1 || rf > brokers.length) {
    throw new FlotillaError(
      "INVALID_REPLICATION_FACTOR",
      `replication factor must be an integer from 1 to the ${brokers.length} live unfenced brokers, got ${rf}`,
    );
  }
  const configs = request.configs ?? {};
  const shape = configsProblem(configs);
  const problems = shape ? [shape] : topicConfigProblems(configs, rf);
  if (problems.length > 0) throw new FlotillaError("INVALID_CONFIG", `topic ${request.topic}: ${problems.join("; ")}`);

  const replicas = placeReplicas({ brokers, partitions, replicationFactor: rf, load: brokerLoads(image) });
  return requireAccepted(image, {
    type: "createTopic",
    topic: request.topic,
    topicId,
    configs: normalizeTopicConfigs(configs),
    partitions: replicas.map((r, partition) => ({ partition, replicas: r })),
  });
}

/** `topic delete`. */
export function planDeleteTopic(image: MetadataImage, topic: string): DeleteTopicRecord {
  requireTopicName(topic);
  const t = image.topic(topic);
  if (!t) throw new FlotillaError("UNKNOWN_TOPIC", `topic ${topic} does not exist`);
  return requireAccepted(image, { type: "deleteTopic", topic, topicId: t.topicId });
}

export interface RegisterBrokerRequest {
  readonly brokerId: number;
  readonly incarnation: string;
  readonly rack?: string;
  readonly endpoints?: readonly BrokerEndpoint[];
}

/**
 * A broker process announcing itself at start-up. Null when this very process is registered
 * already (a retried request): nothing to propose, its epoch is in the image.
 */
export function planRegisterBroker(image: MetadataImage, request: RegisterBrokerRequest): RegisterBrokerRecord | null {
  if (image.broker(request.brokerId)?.incarnation === request.incarnation) return null;
  const record: RegisterBrokerRecord = {
    type: "registerBroker",
    brokerId: request.brokerId,
    incarnation: request.incarnation,
    ...(request.rack !== undefined && { rack: request.rack }),
    endpoints: request.endpoints ?? [],
  };
  const problem = recordShapeProblem(record);
  if (problem) throw new FlotillaError("INVALID_REQUEST", `broker registration: ${problem}`);
  return requireAccepted(image, record);
}

/**
 * The last step of decommissioning a broker: after its replicas were reassigned away and it was
 * stopped (so fenced), forget it. Refused while it runs or still hosts a partition.
 */
export function planUnregisterBroker(image: MetadataImage, brokerId: number): UnregisterBrokerRecord {
  const b = image.broker(brokerId);
  if (!b) throw new FlotillaError("INVALID_REQUEST", `broker ${brokerId} is not registered`);
  return requireAccepted(image, { type: "unregisterBroker", brokerId, brokerEpoch: b.epoch });
}

/**
 * `reassign generate --topics ... --brokers ...`: a plan that spreads the topics' replicas evenly
 * over the given brokers with as few moves as possible (see reassignment-plan.ts).
 */
export function planGenerateReassignment(image: MetadataImage, topics: readonly string[], brokerIds: readonly number[]): ReassignmentPlan {
  const brokers = brokerIds.map((id) => {
    const b = image.broker(id);
    if (!b) throw new FlotillaError("INVALID_REQUEST", `broker ${id} is not registered`);
    // New replicas can only go to unfenced brokers: a plan naming a fenced one could not execute.
    if (b.fenced) throw new FlotillaError("INVALID_REQUEST", `broker ${id} is fenced`);
    return b;
  });
  const current: PlannedReplicas[] = [];
  for (const name of [...new Set(topics)]) {
    requireTopicName(name);
    const t = image.topic(name);
    if (!t) throw new FlotillaError("UNKNOWN_TOPIC", `topic ${name} does not exist`);
    t.partitions.forEach((p, partition) => current.push({ topic: name, partition, replicas: p.reassignment?.target ?? p.replicas }));
  }
  return generateReassignment(current, brokers);
}

/**
 * `reassign execute`: one startReassignment per partition the plan moves. Partitions already where
 * the plan puts them, or already moving there, are skipped, so executing a plan again (after a
 * timeout, say) proposes nothing new. A partition moving somewhere else must be cancelled first.
 */
export function planExecuteReassignment(image: MetadataImage, plan: ReassignmentPlan): StartReassignmentRecord[] {
  const seen = new Set<string>();
  const records: StartReassignmentRecord[] = [];
  for (const entry of plan.partitions) {
    const key = `${entry.topic}\u0000${entry.partition}`;
    if (seen.has(key)) throw new FlotillaError("INVALID_REQUEST", `the plan names ${entry.topic}-${entry.partition} twice`);
    seen.add(key);
    const { topic, state } = requirePartition(image, entry.topic, entry.partition);
    const problem = replicasProblem(entry.replicas);
    if (problem) throw new FlotillaError("INVALID_REQUEST", `${entry.topic}-${entry.partition}: ${problem}`);
    if (state.reassignment) {
      if (sameList(state.reassignment.target, entry.replicas)) continue;
      throw new FlotillaError("INVALID_REQUEST", `${entry.topic}-${entry.partition} is already moving to [${state.reassignment.target.join(",")}]; cancel that first`);
    }
    if (sameList(state.replicas, entry.replicas)) continue;
    records.push(requireAccepted(image, { type: "startReassignment", topic: entry.topic, topicId: topic.topicId, partition: entry.partition, target: [...entry.replicas] }));
  }
  return records;
}

export type PartitionReassignmentStatus =
  | { readonly topic: string; readonly partition: number; readonly status: "complete" }
  | { readonly topic: string; readonly partition: number; readonly status: "inProgress"; readonly reassignment: ReassignmentState }
  /** Not moving, and not where the plan says: never executed, cancelled, or moved elsewhere since. */
  | { readonly topic: string; readonly partition: number; readonly status: "notStarted"; readonly replicas: readonly number[] };

/** `reassign verify` and the progress `execute` shows. `complete` only when every partition is. */
export function verifyReassignment(image: MetadataImage, plan: ReassignmentPlan): { complete: boolean; partitions: PartitionReassignmentStatus[] } {
  const partitions = plan.partitions.map((entry): PartitionReassignmentStatus => {
    const { state } = requirePartition(image, entry.topic, entry.partition);
    const at = { topic: entry.topic, partition: entry.partition };
    if (state.reassignment && sameList(state.reassignment.target, entry.replicas)) return { ...at, status: "inProgress", reassignment: state.reassignment };
    // The same brokers in another order is done: a later leader transfer or rebalance changes the
    // preferred leader (the first replica), which moves no data.
    if (!state.reassignment && sameMembers(state.replicas, entry.replicas)) return { ...at, status: "complete" };
    return { ...at, status: "notStarted", replicas: state.reassignment?.target ?? state.replicas };
  });
  return { complete: partitions.every((p) => p.status === "complete"), partitions };
}

/**
 * Cancel a reassignment in progress: the partition goes back to its replicas before it. Refused
 * once its group is switching voters (a joint configuration can only be left forwards; going back
 * from there would be a second full move): let it finish, then reassign it back.
 */
export function planCancelReassignment(image: MetadataImage, topic: string, partition: number): CancelReassignmentRecord {
  const found = requirePartition(image, topic, partition);
  if (found.state.reassignment?.phase === "votersSwitched") {
    throw new FlotillaError("INVALID_REQUEST", `${topic}-${partition} is switching its voters already; let it finish, then reassign it back`);
  }
  return requireAccepted(image, { type: "cancelReassignment", topic, topicId: found.topic.topicId, partition });
}

/** Where a partition's leader says its reassignment is: a phase reached, or "done" (voters are the target). */
export interface ReassignmentReport {
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
  readonly step: ReassignmentPhase | "done";
}

/**
 * A partition leader reporting reassignment progress. Null when the image already says as much (a
 * retried report, or one from a leader that took over mid-way and repeats a step): nothing to
 * propose. A phase reported for a reassignment no longer in progress (cancelled, say) is refused
 * with INVALID_REQUEST, and "done" for one is null: either way the partition leader must steer its
 * group to what the image now says (`reassignment?.target ?? replicas`).
 */
export function planReassignmentReport(image: MetadataImage, report: ReassignmentReport): ReassignmentProgressRecord | CompleteReassignmentRecord | null {
  const { topic, state } = requirePartition(image, report.topic, report.partition);
  if (topic.topicId !== report.topicId) throw new FlotillaError("UNKNOWN_TOPIC", `topic ${report.topic} is now another topic (id ${topic.topicId})`);
  const ref = { topic: report.topic, topicId: report.topicId, partition: report.partition };
  if (report.step === "done") {
    // Already completed (a retry), or cancelled: either way the image says where the group belongs.
    if (!state.reassignment) return null;
    return requireAccepted(image, { type: "completeReassignment", ...ref, replicas: state.reassignment.target });
  }
  const recorded = state.reassignment ? REASSIGNMENT_PHASES.indexOf(state.reassignment.phase) : -1;
  if (recorded >= REASSIGNMENT_PHASES.indexOf(report.step)) return null;
  return requireAccepted(image, { type: "reassignmentProgress", ...ref, phase: report.step });
}

/** Makes `brokerId` the partition's preferred leader (first replica) without moving any data. */
export function planPreferredLeader(image: MetadataImage, topic: string, partition: number, brokerId: number): SetPreferredLeaderRecord {
  const found = requirePartition(image, topic, partition);
  return requireAccepted(image, { type: "setPreferredLeader", topic, topicId: found.topic.topicId, partition, brokerId });
}

/** A leadership move `leader rebalance` should ask a partition for. */
export interface LeaderMove {
  readonly topic: string;
  readonly partition: number;
  /** The current leader; undefined when the partition has none. */
  readonly from?: number;
  readonly to: number;
}

/**
 * `leader rebalance`: partitions not being reassigned, led by someone other than their preferred
 * leader, where the preferred leader is unfenced and (per `isr`, when the caller knows it) caught up. Leaders come
 * from the partitions at runtime, so the caller passes them in.
 */
export function preferredLeaderMoves(
  image: MetadataImage,
  runtime: (topic: string, partition: number) => { readonly leader?: number; readonly isr?: readonly number[] },
): LeaderMove[] {
  const moves: LeaderMove[] = [];
  for (const t of image.topics()) {
    t.partitions.forEach((p, partition) => {
      // A partition that is moving gets its leader from the reassignment, not from a rebalance.
      if (p.reassignment) return;
      const preferred = p.replicas[0];
      const { leader, isr } = runtime(t.name, partition);
      if (leader === preferred || image.broker(preferred)?.fenced !== false) return;
      if (isr && !isr.includes(preferred)) return;
      moves.push({ topic: t.name, partition, ...(leader !== undefined && { from: leader }), to: preferred });
    });
  }
  return moves;
}

function requirePartition(image: MetadataImage, topic: string, partition: number): { topic: TopicState; state: PartitionState } {
  requireTopicName(topic);
  const t = image.topic(topic);
  if (!t) throw new FlotillaError("UNKNOWN_TOPIC", `topic ${topic} does not exist`);
  const state = Number.isInteger(partition) ? t.partitions[partition] : undefined;
  if (!state) throw new FlotillaError("INVALID_PARTITION", `topic ${topic} has partitions 0 to ${t.partitions.length - 1}, not ${partition}`);
  return { topic: t, state };
}
