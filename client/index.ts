/**
 * The client library: `import { Flotilla } from "flotilla"`. KafkaJS's shape — see
 * shared/CONTRACTS.md. Imports protocol/ only, never broker/.
 */
export { Flotilla, DEFAULT_SERVERS, DEFAULT_CLUSTER, type FlotillaConfig } from "./flotilla.js";
export { Admin } from "./admin.js";
export { REASSIGNMENT_PLAN_VERSION, parseReassignmentPlan, type ReassignmentPlan, type PlannedReplicas } from "../protocol/reassignment-plan.js";
export { Producer, PRODUCER_DEFAULTS, type ResolvedProducerConfig } from "./producer.js";
export { Consumer, CONSUMER_DEFAULTS } from "./consumer.js";
export { FETCH_DEFAULTS } from "./fetch.js";
export { FlotillaError, FlotillaConnectionError, isRetriable, ErrorCode, type ErrorCodeName } from "./errors.js";
export { DEFAULT_RETRY, type RetryOptions } from "./retry.js";
export { murmur2, toPositive, partitionForKey } from "./murmur2.js";
export type { Requester, RequesterFactory, ConnectOptions } from "./connection.js";
export type {
  Acks,
  Bytes,
  Message,
  MessageHeaders,
  RecordHeaders,
  ProducerRecord,
  RecordMetadata,
  ProducerConfig,
  FetchOptions,
  FetchedRecord,
  FetchResult,
  PartitionDescription,
  TopicDescription,
  ClusterDescription,
  CreateTopicOptions,
  ReassignmentStatus,
  LeaderMove,
  PartitionReassignment,
  ConsumerConfig,
  ConsumerSubscribeTopics,
  ConsumerRunConfig,
  EachMessagePayload,
  EachBatchPayload,
  TopicPartitionOffset,
  TopicPartitionsSelection,
  ResetOffsetsOptions,
} from "./types.js";
