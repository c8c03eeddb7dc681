/**
 * The public face of `broker/controller/`: the KRaft metadata controller's pure parts. No I/O, no
 * timers, no randomness; the broker process runs them over the metadata Raft group:
 *
 * - Every broker (controller or not) follows the metadata log: for each committed Normal entry with
 *   data, `decodeMetadataRecord(entry.data)` then `image.apply(record, entry.index)`; empty and
 *   configuration entries only move the index (apply accepts gaps). A record that does not decode
 *   is a newer version than this broker: stop applying and say "upgrade", never skip it. Rejected
 *   records are normal (the same on every broker) and change nothing. After applying, if any event
 *   names this broker or its partitions, `reconcileReplicas(image, self, running)` says what to
 *   start, update, remove, and retire (delete only once the partition's group has dropped us).
 * - Snapshots of the metadata group are `image.snapshot()`; installing one is `MetadataImage.restore`
 *   then a full reconcile. The same bytes in LMDB let a broker start without replaying the log.
 * - The controller leader answers admin requests with `plan*` functions (records to propose, or a
 *   FlotillaError to answer with) and, after the proposal commits, answers from the ApplyResult's
 *   `rejected` (a racing proposal may have won). It keeps a `BrokerLiveness` (new one per term of
 *   leadership), feeds it heartbeats, and proposes `decide(image, now)` on a timer.
 * - Describe requests: `describeTopic` / `describeCluster`, with leaders, high watermarks and
 *   in-sync sets from the partitions.
 */
export {
  METADATA_RECORD_VERSION,
  METADATA_LIMITS,
  REASSIGNMENT_PHASES,
  encodeMetadataRecord,
  decodeMetadataRecord,
  type MetadataRecord,
  type MetadataRecordType,
  type BrokerEndpoint,
  type PartitionAssignment,
  type ReassignmentPhase,
  type RegisterBrokerRecord,
  type FenceBrokerRecord,
  type UnfenceBrokerRecord,
  type UnregisterBrokerRecord,
  type CreateTopicRecord,
  type DeleteTopicRecord,
  type StartReassignmentRecord,
  type ReassignmentProgressRecord,
  type CompleteReassignmentRecord,
  type CancelReassignmentRecord,
  type SetPreferredLeaderRecord,
} from "./metadata-records.js";

export {
  MetadataImage,
  type ApplyResult,
  type BrokerState,
  type HostedPartition,
  type MetadataEvent,
  type PartitionState,
  type ReassignmentState,
  type Rejection,
  type TopicState,
} from "./metadata-image.js";

export { IMAGE_SNAPSHOT_VERSION } from "./image-snapshot.js";

export { KNOWN_TOPIC_CONFIGS, CLEANUP_POLICIES, parseTopicConfig, type CleanupPolicy, type TopicConfig } from "./topic-configs.js";

export { placeReplicas, brokerLoads, type PlacementBroker, type PlacementRequest, type BrokerLoad } from "./placement.js";

export { generateReassignment } from "./reassignment-plan.js";
export { REASSIGNMENT_PLAN_VERSION, type ReassignmentPlan, type PlannedReplicas } from "../../protocol/reassignment-plan.js";

export {
  requireAccepted,
  planCreateTopic,
  planDeleteTopic,
  planRegisterBroker,
  planUnregisterBroker,
  planGenerateReassignment,
  planExecuteReassignment,
  verifyReassignment,
  planCancelReassignment,
  planReassignmentReport,
  planPreferredLeader,
  preferredLeaderMoves,
  type CreateTopicRequest,
  type RegisterBrokerRequest,
  type PartitionReassignmentStatus,
  type LeaderMove,
  type ReassignmentReport,
} from "./controller.js";

export { reconcileReplicas, type LocalReplica, type ReplicaChanges } from "./reconcile.js";

export { sameMembers } from "./lists.js";

export { CATCH_UP_SLACK, nextReassignmentStep, type GroupView, type MoveAction, type MoveDecision } from "./reassignment-step.js";

export { BrokerLiveness, type Heartbeat, type HeartbeatReply } from "./liveness.js";

export {
  describeTopic,
  describeCluster,
  type PartitionRuntime,
  type ClusterRuntime,
  type TopicDescription,
  type PartitionDescription,
  type ClusterDescription,
  type BrokerDescription,
} from "./describe.js";
