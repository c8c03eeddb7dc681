/** Shapes the library takes and gives, KafkaJS-style. */
import type { Acks } from "../protocol/requests.js";
import type { RetryOptions } from "./retry.js";

export type { Acks, LeaderMove, PartitionReassignment } from "../protocol/requests.js";
import type { PartitionReassignment } from "../protocol/requests.js";

/** Keys, values and header values come in as Buffers or strings (UTF-8) and go out as Buffers. */
export type Bytes = Buffer | Uint8Array | string;

/** Header values; a key given an array is written once per element (Kafka allows repeats). */
export type MessageHeaders = Record<string, Bytes | null | Array<Bytes | null>>;

/** Headers as read: a key that occurs more than once in the record gets an array. */
export type RecordHeaders = Record<string, Buffer | null | Array<Buffer | null>>;

export interface Message {
  key?: Bytes | null;
  value: Bytes | null;
  headers?: MessageHeaders;
  /** Send to this partition instead of asking the partitioner. */
  partition?: number;
  /** Milliseconds since the epoch (CreateTime); default: when the batch is built. */
  timestamp?: number;
}

export interface ProducerRecord {
  topic: string;
  messages: Message[];
}

/** Where one message landed. `offset` is -1n with acks "none" (the broker does not answer). */
export interface RecordMetadata {
  topic: string;
  partition: number;
  offset: bigint;
}

export interface ProducerConfig {
  /** "all" (default): committed by the partition's Raft group; "leader": on the leader's disk; "none": sent. */
  acks?: Acks;
  /** Default true: a batch keeps its UUID across retries, so the broker never appends it twice. */
  idempotent?: boolean;
  /** How long a batch waits for more messages before it is sent. Default 5 ms. */
  lingerMs?: number;
  /** Largest batch in bytes; capped at the server's max payload less the request overhead. Default 512 KiB. */
  batchBytes?: number;
  /** Batches in flight per partition. Default 5. */
  maxInFlight?: number;
  /** Bytes of messages buffered (queued or in flight) before `send` waits for room. Default 32 MiB. */
  bufferBytes?: number;
  /**
   * How long the broker may take to meet `acks`; we wait a second more for its answer, then retry
   * (same UUID). Default 5 s: a leader that died with our request gets no other deadline.
   */
  timeoutMs?: number;
  retry?: Partial<RetryOptions>;
}

export interface FetchOptions {
  topic: string;
  partition: number;
  offset: bigint | number;
  /** Default 1 MiB (capped by the server's max payload). */
  maxBytes?: number;
  /** Long poll: wait up to this long for records at `offset`. Default 500 ms. */
  maxWaitMs?: number;
  /** Answer as soon as this many bytes are there. Default 1. */
  minBytes?: number;
  /** "leader" (default) or "linearizable" (the leader confirms it still leads first). */
  consistency?: "leader" | "linearizable";
  /**
   * Which replica serves the fetch: "leader" (default), "follower" (a follower, or the leader when
   * there is none) or "any" replica, spreading reads off the leader. A follower first gets a read
   * index from the leader, so it never answers with less than the leader had committed when the
   * fetch arrived (at the cost of that round trip).
   */
  readFrom?: "leader" | "follower" | "any";
}

export interface FetchedRecord {
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeaders;
  /** Milliseconds since the epoch. */
  timestamp: number;
}

export interface FetchResult {
  highWatermark: bigint;
  logStartOffset: bigint;
  records: FetchedRecord[];
}

export interface PartitionDescription {
  partition: number;
  replicas: number[];
  /** Undefined while the partition has no leader. */
  leader?: number;
  isr?: number[];
  highWatermark?: bigint;
  logStartOffset?: bigint;
}

export interface TopicDescription {
  topic: string;
  partitions: PartitionDescription[];
  configs: Record<string, string>;
}

export interface ClusterDescription {
  controllerLeader?: number;
  brokers: Array<{ id: number; alive: boolean; fenced: boolean; leaders: number; replicas: number }>;
  partitions: number;
  underReplicated: number;
}

export interface CreateTopicOptions {
  topic: string;
  partitions: number;
  replicationFactor: number;
  configs?: Record<string, string>;
}

export interface ConsumerConfig {
  groupId: string;
  /** The coordinator removes a member it has not heard from for this long. Default 10 s. */
  sessionTimeoutMs?: number;
  /** How long a member may take to give up a partition during a rebalance. Default 30 s. */
  rebalanceTimeoutMs?: number;
  /** Bytes per fetch of one partition. Default 1 MiB (capped by the server's max payload). */
  maxBytesPerPartition?: number;
  /** Long poll of each fetch. Default 500 ms. */
  maxWaitMs?: number;
  /** Default auto-commit interval (run's autoCommitIntervalMs overrides it). Default 5 s. */
  autoCommitIntervalMs?: number;
}

export interface ConsumerSubscribeTopics {
  topic?: string;
  topics?: string[];
  /** Where to start a partition the group has no committed offset for: its first offset (true) or its end (default). */
  fromBeginning?: boolean;
}

export interface EachMessagePayload {
  topic: string;
  partition: number;
  message: FetchedRecord;
}

export interface EachBatchPayload {
  batch: { topic: string; partition: number; highWatermark: bigint; messages: FetchedRecord[] };
  /** False once the partition is being given up or the consumer stops: finish quickly. */
  isRunning(): boolean;
  /** True once these records are no longer this consumer's to process (a seek, a revocation). */
  isStale(): boolean;
}

export interface ConsumerRunConfig {
  eachMessage?: (payload: EachMessagePayload) => Promise<void>;
  eachBatch?: (payload: EachBatchPayload) => Promise<void>;
  /** Handler calls running at once, over all partitions. Default 1. */
  partitionsConsumedConcurrently?: number;
  /** Default true: commit finished records every autoCommitIntervalMs, on revocation and on disconnect. */
  autoCommit?: boolean;
  autoCommitIntervalMs?: number;
}

/** A partition and an offset; strings as KafkaJS has them ("42"), bigints welcome. */
export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset: string | bigint;
}

export interface TopicPartitionsSelection {
  topic: string;
  /** Absent: every partition of the topic this consumer has. */
  partitions?: number[];
}

export interface ResetOffsetsOptions {
  groupId: string;
  topic: string;
  /** Absent: every partition of the topic. */
  partitions?: number[];
  to: "earliest" | "latest" | "offset";
  /** Exactly when `to` is "offset". */
  offset?: bigint | number;
}

export interface ReassignmentStatus {
  /** Every partition of the plan has its planned replicas. */
  complete: boolean;
  partitions: PartitionReassignment[];
}
