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

export interface ReassignmentStatus {
  /** Every partition of the plan has its planned replicas. */
  complete: boolean;
  partitions: PartitionReassignment[];
}
