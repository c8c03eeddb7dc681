/**
 * The public face of `broker/controller/`: the KRaft metadata controller's pure parts. The broker
 * process runs them over the metadata Raft group: the controller leader turns requests into records
 * (controller.ts, liveness.ts), every broker applies committed records to its MetadataImage and
 * reconciles its replicas from the events, and describe requests are answered from the image plus
 * the partitions' runtime state (describe.ts).
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

export { REASSIGNMENT_PLAN_VERSION, generateReassignment, type ReassignmentPlan, type PlannedPartition } from "./reassignment-plan.js";

export {
  requireAccepted,
  planCreateTopic,
  planDeleteTopic,
  planRegisterBroker,
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
