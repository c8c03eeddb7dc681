/**
 * The public face of `protocol/`: everything on the wire. Other folders import from here
 * (or from a file below, for a single module); `msgpack.ts`, `test-util.ts` and
 * `requests-schema.ts` (the field kinds behind `requests.ts`) are internal.
 */
export { DecodeError } from "./decode-error.js";

export {
  MessageType,
  EntryType,
  ConfChangeType,
  emptyMessage,
  emptyConfState,
  type Entry,
  type HardState,
  type ConfState,
  type ConfChangeSingle,
  type ConfChange,
  type SnapshotMeta,
  type Snapshot,
  type Message,
  type SnapshotChunk,
} from "./raft.js";

export { encodeConfChange, decodeConfChange } from "./conf-change.js";

export { RAFT_WIRE_VERSION, RAFT_LIMITS, encodeRaftBatch, decodeRaftBatch } from "./raft-codec.js";

export {
  RECORD_BATCH_HEADER_SIZE,
  RECORD_BATCH_MAGIC,
  BATCH_LENGTH_PREFIX,
  BatchAttributes,
  batchSizeAt,
  readBatchHeader,
  verifyBatchCrc,
  stampBatch,
  iterateBatches,
  validateProducedBatch,
  encodeRecordBatch,
  decodeRecords,
  type BatchHeader,
  type RecordHeader,
  type RecordInput,
  type EncodeBatchOptions,
  type DecodedRecord,
  type BatchSpan,
} from "./record-batch.js";

export {
  ErrorCode,
  FlotillaError,
  errorCodeById,
  isRetriable,
  type ErrorSpec,
  type ErrorCodeName,
  type WireError,
  type FlotillaErrorOptions,
} from "./errors.js";

export {
  SUBJECT_ROOT,
  MAX_TOPIC_LENGTH,
  MAX_CLUSTER_LENGTH,
  subjects,
  clusterNameProblem,
  topicNameProblem,
  encodeTopicToken,
  decodeTopicToken,
  clientPublishSubjects,
  brokerOnlySubjects,
  parseSubject,
  type PartitionOp,
  type ParsedSubject,
} from "./subjects.js";

export {
  REQUEST_BOUNDS,
  MESSAGE_OVERHEAD_BYTES,
  REQUEST_SPECS,
  REQUEST_TYPES,
  encodeRequest,
  decodeRequest,
  decodeRequestOf,
  encodeResponse,
  decodeResponse,
  encodeErrorResponse,
  type Acks,
  type ReadConsistency,
  type ProduceRequest,
  type ProduceResponse,
  type FetchRequest,
  type FetchResponse,
  type MetadataRequest,
  type MetadataResponse,
  type BrokerMetadata,
  type PartitionMetadata,
  type TopicMetadata,
  type CreateTopicRequest,
  type TopicRequest,
  type EmptyResponse,
  type TopicDescription,
  type DescribeTopicResponse,
  type ListTopicsResponse,
  type ClusterBroker,
  type DescribeClusterResponse,
  type TopicPartitions,
  type PartitionOffset,
  type JoinGroupRequest,
  type JoinGroupResponse,
  type GroupAssignment,
  type HeartbeatRequest,
  type MemberRequest,
  type CommitOffsetsRequest,
  type FetchOffsetsRequest,
  type OffsetsResponse,
  type GroupState,
  type GroupSummary,
  type ListGroupsResponse,
  type GroupRequest,
  type GroupMember,
  type DescribeGroupResponse,
  type ResetTarget,
  type ResetOffsetsRequest,
  type RequestMap,
  type ResponseMap,
  type RequestType,
  type Reply,
  type ResponseOf,
  type AnyRequest,
  type RequestSpec,
  DEFAULT_REQUEST_LIMITS,
  requestLimits,
  type RequestLimits,
} from "./requests.js";

export {
  CONSUMER_OFFSETS_TOPIC,
  CONSUMER_OFFSETS_PARTITIONS,
  CONSUMER_OFFSETS_REPLICATION,
  groupPartition,
} from "./groups.js";
