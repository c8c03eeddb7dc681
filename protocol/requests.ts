import { DecodeError } from "./decode-error.js";
import { FlotillaError, type ErrorCodeName, type WireError } from "./errors.js";
import { MsgpackReader } from "./msgpack.js";
import { RECORD_BATCH_HEADER_SIZE } from "./record-batch.js";
import {
  DEFAULT_REQUEST_LIMITS,
  bool,
  bytes,
  encodeBounded,
  int64,
  list,
  oneOf,
  opt,
  str,
  stringMap,
  struct,
  topic,
  uint,
  type Kind,
  type RequestLimits,
  type StructKind,
} from "./requests-schema.js";

export { DEFAULT_REQUEST_LIMITS, requestLimits, type RequestLimits } from "./requests-schema.js";

/**
 * The client ↔ broker messages: produce, fetch, metadata, admin and consumer groups, and their codecs.
 *
 * Envelope. Every message is a MessagePack array `[version, type, body]`. The version comes first
 * and is per message type (`REQUEST_SPECS[type].version`); a receiver that does not speak it answers
 * UNSUPPORTED_VERSION before reading anything else, and every later version must keep the version
 * as the first element of an array. `type` is the message's stable id (below); a response carries
 * its request's id, or 0 for an error reply (`encodeErrorResponse`) that a broker sends when it
 * could not tell what was asked. The body is the message's fields as a positional array (see
 * `requests-schema.ts`): absent optional fields are nil, offsets and producer ids are always int64.
 *
 * Responses. Every response may carry `error` (a WireError). Without one, every field the response
 * type declares required is present; with one, fields are present only where the broker had
 * something to say (a fetch's OFFSET_OUT_OF_RANGE still carries the offsets). `Reply<T>` expresses
 * this: test `res.error === undefined` and TypeScript knows the rest is there.
 *
 * Trust boundary. Decoders check everything: the whole message against `RequestLimits`, every
 * length before allocating, every number's type and range (partitions are int32 ≥ 0, offsets in
 * [0, 2^63 - 1], maxBytes > 0, timeouts bounded), topic names by Kafka's rules, rules that span
 * fields (producerId with sequence, minBytes ≤ maxBytes). Every failure is a FlotillaError that
 * names the message and field ("produce request: partition: -1 is not in [0, 2147483647]"):
 * UNSUPPORTED_VERSION for a version or type this side does not know, INVALID_TOPIC for a bad topic
 * name, BATCH_TOO_LARGE for a produce batch over the limit, INVALID_CONFIG for a bad topic config,
 * CORRUPT_BATCH for a batch shorter than its header, INVALID_REQUEST for everything else; the
 * broker can answer `e.toWire()` as it is. Anything else thrown is a bug. Encoders run the same
 * checks, so a client with a bug fails before it sends.
 *
 * Copies. A decoded produce `batch` and fetch `batches` are views into the input (no copy): the
 * caller must not reuse the input buffer while it keeps them. Encoding copies them once, into the
 * message. The batch is carried as Kafka RecordBatch v2 bytes, never re-encoded; its header and
 * CRC are the broker's to check (`validateProducedBatch`), off this path.
 */

// ---------------------------------------------------------------------------------------------
// Messages

export type Acks = "all" | "leader" | "none";

/**
 * How a fetch reads: `leader` serves up to the high watermark the leader has applied, with no
 * quorum round (a deposed leader may serve a stale tail for a moment); `linearizable` first
 * confirms leadership by ReadIndex (or the lease, when the broker enables lease reads).
 */
export type ReadConsistency = "leader" | "linearizable";

export interface ProduceRequest {
  topic: string;
  partition: number;
  /** all: committed by the Raft group; leader: on the leader's disk; none: no response is sent. */
  acks: Acks;
  /** How long the broker may wait for `acks` before answering TIMEOUT. */
  timeoutMs: number;
  /** The batch's idempotence id (a UUID, 16 bytes), the same on every retry of this batch. */
  batchId: Uint8Array;
  /** The idempotent producer's id and this batch's first sequence: both or neither. */
  producerId?: bigint;
  sequence?: number;
  /** One Kafka RecordBatch v2, exactly as it will be stored. A view into the input when decoded. */
  batch: Uint8Array;
}

export interface ProduceResponse {
  /** Offset of the batch's first record. */
  baseOffset: bigint;
  /** When the broker appended the batch (ms since the epoch), for LogAppendTime topics. */
  logAppendTimeMs?: number;
}

export interface FetchRequest {
  topic: string;
  partition: number;
  /** First offset wanted. */
  offset: bigint;
  /** At most this many bytes of batches (at least one whole batch is returned if there is one). */
  maxBytes: number;
  /** Answer once this many bytes are there, or after `maxWaitMs`; at most `maxBytes`. */
  minBytes: number;
  maxWaitMs: number;
  consistency: ReadConsistency;
}

export interface FetchResponse {
  /** Offset after the last committed record. Invariant: logStartOffset ≤ highWatermark. */
  highWatermark: bigint;
  /** First offset still in the log. */
  logStartOffset: bigint;
  /** Whole record batches, back to back (possibly none). A view into the input when decoded. */
  batches: Uint8Array;
}

export interface MetadataRequest {
  /** The topics to describe; absent means every topic. */
  topics?: string[];
}

export interface BrokerMetadata {
  id: number;
  /** Heartbeating to the controller. */
  alive: boolean;
  /** Fenced by the controller: hosts no leaders until it registers again. */
  fenced: boolean;
}

export interface PartitionMetadata {
  partition: number;
  /** Absent while the partition has no leader (an election is under way). */
  leader?: number;
  replicas: number[];
  /** Replicas caught up with the leader, when the broker knows. */
  isr?: number[];
  highWatermark?: bigint;
  logStartOffset?: bigint;
}

export interface TopicMetadata {
  topic: string;
  /** UNKNOWN_TOPIC for a requested topic that does not exist; then `partitions` is empty. */
  error?: WireError;
  partitions: PartitionMetadata[];
}

export interface MetadataResponse {
  /** Absent while the metadata group has no leader. */
  controllerLeader?: number;
  brokers: BrokerMetadata[];
  topics: TopicMetadata[];
}

export interface CreateTopicRequest {
  topic: string;
  partitions: number;
  replicationFactor: number;
  /** Topic configs ("retention.ms" → "604800000"); keys are [a-zA-Z0-9._-]. */
  configs: Record<string, string>;
}

export interface TopicRequest {
  topic: string;
}

/** A response that carries nothing but its possible error. */
export type EmptyResponse = Record<never, never>;

export interface TopicDescription {
  topic: string;
  partitions: PartitionMetadata[];
  configs: Record<string, string>;
}

export interface DescribeTopicResponse {
  description: TopicDescription;
}

export interface ListTopicsResponse {
  topics: string[];
}

export interface ClusterBroker extends BrokerMetadata {
  /** Partitions this broker leads. */
  leaders: number;
  /** Partition replicas this broker hosts. */
  replicas: number;
}

export interface DescribeClusterResponse {
  controllerLeader?: number;
  brokers: ClusterBroker[];
  /** Partitions in the cluster, and how many of them have fewer in-sync replicas than replicas. */
  partitions: number;
  underReplicated: number;
}

export interface TopicPartitions {
  topic: string;
  partitions: number[];
}

export interface PartitionOffset {
  topic: string;
  partition: number;
  offset: bigint;
}

/**
 * Consumer groups are assigned on the server side and rebalance incrementally, so there is no
 * SyncGroup round: the coordinator answers JoinGroup and every Heartbeat with the member's current
 * assignment. A member consumes what it is assigned; a partition it holds that is no longer
 * assigned it stops consuming, commits, and then leaves out of `owned` in its next heartbeat. The
 * coordinator hands a partition to its new owner only once the old one has stopped reporting it
 * (or its session expired), so the other partitions keep being consumed throughout.
 */
export interface JoinGroupRequest {
  groupId: string;
  /** Absent on a member's first join; its id from then on (a rejoin keeps the member). */
  memberId?: string;
  clientId: string;
  /** Topics the member subscribes to. */
  topics: string[];
  /** The member is removed when it has not heartbeated for this long. */
  sessionTimeoutMs: number;
  /** How long the member may take to give up partitions during a rebalance. */
  rebalanceTimeoutMs: number;
}

export interface GroupAssignment {
  /** The group's generation; it moves on every change of membership or assignment. */
  generation: number;
  /** How often the member should heartbeat (shorter while a rebalance is under way). */
  heartbeatIntervalMs: number;
  /** What the member may consume now. */
  assignment: TopicPartitions[];
}

export interface JoinGroupResponse extends GroupAssignment {
  memberId: string;
}

export interface HeartbeatRequest {
  groupId: string;
  memberId: string;
  generation: number;
  /** Partitions the member still consumes (so the coordinator knows what it has given up). */
  owned: TopicPartitions[];
}

export interface MemberRequest {
  groupId: string;
  memberId: string;
}

export interface CommitOffsetsRequest {
  groupId: string;
  /** The committing member and its generation; absent for a consumer outside any group's membership. */
  memberId?: string;
  generation?: number;
  /** The next offset to consume, per partition. */
  offsets: PartitionOffset[];
}

export interface FetchOffsetsRequest {
  groupId: string;
  /** Absent means every partition the group has committed. */
  partitions?: TopicPartitions[];
}

export interface OffsetsResponse {
  /** Committed offsets (partitions with none are left out). */
  offsets: PartitionOffset[];
}

export type GroupState = "empty" | "stable" | "rebalancing" | "dead";

export interface GroupSummary {
  groupId: string;
  state: GroupState;
  members: number;
}

export interface ListGroupsResponse {
  groups: GroupSummary[];
}

export interface GroupRequest {
  groupId: string;
}

export interface GroupMember {
  memberId: string;
  clientId: string;
  assignment: TopicPartitions[];
}

export interface DescribeGroupResponse {
  groupId: string;
  state: GroupState;
  generation: number;
  members: GroupMember[];
}

export type ResetTarget = "earliest" | "latest" | "offset";

export interface ResetOffsetsRequest {
  groupId: string;
  topic: string;
  /** Absent means every partition of the topic. */
  partitions?: number[];
  to: ResetTarget;
  /** Exactly when `to` is "offset". */
  offset?: bigint;
}

/** One partition's replica set, preferred leader first: an entry of a reassignment plan (Kafka's JSON). */
export interface PartitionReplicas {
  topic: string;
  partition: number;
  replicas: number[];
}

export interface ReassignPartitionsRequest {
  /** Where each partition should go; partitions already there (or on their way) are left alone. */
  partitions: PartitionReplicas[];
  /** Cap on the bytes per second each broker sends to replicas catching up; absent: no cap. */
  throttleBytesPerSec?: number;
}

export interface PartitionsReplicasRequest {
  partitions: PartitionReplicas[];
}

export interface PartitionsRequest {
  partitions: TopicPartitions[];
}

/** Steps of a reassignment in progress, in order (the partition's leader reports them). */
export const REASSIGNMENT_STEPS = ["started", "learnersAdded", "caughtUp", "votersSwitched"] as const;
export type ReassignmentStep = (typeof REASSIGNMENT_STEPS)[number];

/**
 * Where a partition stands against a plan: `complete` (it has the plan's replicas), `inProgress`
 * (moving to them: `target`, `step`), or `notStarted` (elsewhere: never executed, cancelled, or
 * moving somewhere else — then `target` says where).
 */
export interface PartitionReassignment {
  topic: string;
  partition: number;
  status: "complete" | "inProgress" | "notStarted";
  /** The settled replica set now. */
  replicas: number[];
  target?: number[];
  step?: ReassignmentStep;
}

export interface ReassignmentStatusResponse {
  partitions: PartitionReassignment[];
}

export interface GenerateReassignmentRequest {
  topics: string[];
  /** The brokers to spread the topics' replicas over. */
  brokers: number[];
}

export interface ReassignmentPlanResponse {
  partitions: PartitionReplicas[];
}

export interface TransferLeaderRequest {
  topic: string;
  partition: number;
  /** The replica to lead; it also becomes the preferred leader, so leadership stays there. */
  to: number;
}

export interface LeaderMove {
  topic: string;
  partition: number;
  /** Absent when the partition had no leader. */
  from?: number;
  to: number;
}

export interface RebalanceLeadersResponse {
  /** The partitions asked to move to their preferred leader. */
  moves: LeaderMove[];
}

export interface DecommissionBrokerRequest {
  brokerId: number;
}

export interface DecommissionBrokerResponse {
  /** The moves off the broker that are under way (empty once it hosts nothing). */
  partitions: PartitionReplicas[];
  /** True once the broker hosts nothing and is fenced for good (until it registers again). */
  fenced: boolean;
}

/** Request type → request body. */
export interface RequestMap {
  produce: ProduceRequest;
  fetch: FetchRequest;
  metadata: MetadataRequest;
  createTopic: CreateTopicRequest;
  deleteTopic: TopicRequest;
  describeTopic: TopicRequest;
  listTopics: EmptyResponse;
  describeCluster: EmptyResponse;
  joinGroup: JoinGroupRequest;
  heartbeat: HeartbeatRequest;
  leaveGroup: MemberRequest;
  commitOffsets: CommitOffsetsRequest;
  fetchOffsets: FetchOffsetsRequest;
  listGroups: EmptyResponse;
  describeGroup: GroupRequest;
  resetOffsets: ResetOffsetsRequest;
  reassignPartitions: ReassignPartitionsRequest;
  reassignmentStatus: PartitionsReplicasRequest;
  cancelReassignment: PartitionsRequest;
  generateReassignment: GenerateReassignmentRequest;
  transferLeader: TransferLeaderRequest;
  rebalanceLeaders: EmptyResponse;
  decommissionBroker: DecommissionBrokerRequest;
}

/** Request type → response body on success. */
export interface ResponseMap {
  produce: ProduceResponse;
  fetch: FetchResponse;
  metadata: MetadataResponse;
  createTopic: EmptyResponse;
  deleteTopic: EmptyResponse;
  describeTopic: DescribeTopicResponse;
  listTopics: ListTopicsResponse;
  describeCluster: DescribeClusterResponse;
  joinGroup: JoinGroupResponse;
  heartbeat: GroupAssignment;
  leaveGroup: EmptyResponse;
  commitOffsets: EmptyResponse;
  fetchOffsets: OffsetsResponse;
  listGroups: ListGroupsResponse;
  describeGroup: DescribeGroupResponse;
  resetOffsets: OffsetsResponse;
  reassignPartitions: EmptyResponse;
  reassignmentStatus: ReassignmentStatusResponse;
  cancelReassignment: EmptyResponse;
  generateReassignment: ReassignmentPlanResponse;
  transferLeader: EmptyResponse;
  rebalanceLeaders: RebalanceLeadersResponse;
  decommissionBroker: DecommissionBrokerResponse;
}

export type RequestType = keyof RequestMap;

/** A response as received: the success shape, or an error with whatever else the broker sent. */
export type Reply<T> = (T & { error?: undefined }) | (Partial<T> & { error: WireError });

export type ResponseOf<K extends RequestType> = Reply<ResponseMap[K]>;

/** A decoded request of any type: switch on `type` and `request` has that type's shape. */
export type AnyRequest = { [K in RequestType]: { type: K; request: RequestMap[K] } }[RequestType];

// ---------------------------------------------------------------------------------------------
// Schemas

const INT32_MAX = 2 ** 31 - 1;

/** Bounds on counts and sizes inside messages (the byte limits are `RequestLimits`). */
export const REQUEST_BOUNDS = {
  topicsPerRequest: 10_000,
  partitionsPerTopic: 100_000,
  replicationFactor: 64,
  configs: 1_000,
  configKeyBytes: 255,
  configValueBytes: 4096,
  /** Group, member and client ids. */
  idBytes: 255,
  brokers: 10_000,
  /** Topics in one list of the whole cluster's (listTopics). */
  topicsInCluster: 100_000,
  errorMessageBytes: 16 * 1024,
  membersPerGroup: 10_000,
  groups: 100_000,
  offsetsPerRequest: 100_000,
  /** Request timeouts and fetch waits. */
  maxTimeoutMs: 300_000,
  /** Group session and rebalance timeouts (Kafka's broker-side maximum). */
  maxSessionTimeoutMs: 1_800_000,
} as const;

/**
 * Bytes a message takes beyond its batch bytes, at most: a producer keeps each batch within
 * `maxMessageBytes - produceRequest`, and a broker fills a fetch response with batches up to
 * `maxMessageBytes - fetchResponse` (a successful one; an error response carries no batches).
 */
export const MESSAGE_OVERHEAD_BYTES = {
  /** Envelope, a 249-byte topic, every field at its widest, and the batch's bin header. */
  produceRequest: 320,
  /** Envelope, no error, two int64 offsets, and the batches' bin header. */
  fetchResponse: 32,
} as const;

/** Room a broker keeps beside a produced batch so that it replicates in one Raft message (framing, headers). */
export const REPLICATION_HEADROOM_BYTES = 64 * 1024;
/** The room a NATS message keeps for the transport's own header. */
export const NATS_HEADER_ALLOWANCE_BYTES = 128;

/**
 * The largest record batch a broker on NATS accepts when the server's max payload is `maxPayload`:
 * it must forward the batch to its followers in one message with Raft framing beside it. A
 * producer that builds larger batches has every full one refused and split in two.
 */
export function maxProducedBatchBytes(maxPayload: number): number {
  return maxPayload - NATS_HEADER_ALLOWANCE_BYTES - REPLICATION_HEADROOM_BYTES;
}

const B = REQUEST_BOUNDS;
const partition = uint(0, INT32_MAX);
const nodeId = uint(1, INT32_MAX);
const count = uint(0, INT32_MAX);
const timeoutMs = uint(0, B.maxTimeoutMs);
const sessionTimeoutMs = uint(1, B.maxSessionTimeoutMs);
const id = str(1, B.idBytes);
const topics = list(topic, B.topicsPerRequest);
const nodeIds = list(nodeId, B.replicationFactor);

const wireError: Kind<WireError> = struct({ id: uint(1, INT32_MAX), message: str(0, B.errorMessageBytes), leader: opt(nodeId) });

const offsetsInOrder = (v: { logStartOffset?: bigint; highWatermark?: bigint }): string | undefined =>
  v.logStartOffset !== undefined && v.highWatermark !== undefined && v.logStartOffset > v.highWatermark
    ? `logStartOffset ${v.logStartOffset} is above highWatermark ${v.highWatermark}`
    : undefined;

const partitionMetadata = struct(
  {
    partition,
    leader: opt(nodeId),
    replicas: nodeIds,
    isr: opt(nodeIds),
    highWatermark: opt(int64),
    logStartOffset: opt(int64),
  },
  offsetsInOrder,
);
const partitionsMetadata = list(partitionMetadata, B.partitionsPerTopic);
const brokerFields = { id: nodeId, alive: bool, fenced: bool };
const configs = stringMap(
  str(1, B.configKeyBytes, { pattern: /^[a-zA-Z0-9._-]+$/, code: "INVALID_CONFIG" }),
  str(0, B.configValueBytes, { code: "INVALID_CONFIG" }),
  B.configs,
);
const topicPartitions = list(struct({ topic, partitions: list(partition, B.partitionsPerTopic) }), B.topicsPerRequest);
const partitionOffsets = list(struct({ topic, partition, offset: int64 }), B.offsetsPerRequest);
const groupState = oneOf(["empty", "stable", "rebalancing", "dead"]);
const groupAssignment = {
  generation: count,
  heartbeatIntervalMs: uint(1, B.maxSessionTimeoutMs),
  assignment: topicPartitions,
};
const nothing = struct({});
const partitionReplicas = list(struct({ topic, partition, replicas: list(nodeId, B.replicationFactor, 1) }), B.offsetsPerRequest);
const reassignmentStatus = struct({
  topic,
  partition,
  status: oneOf(["complete", "inProgress", "notStarted"]),
  replicas: nodeIds,
  target: opt(nodeIds),
  step: opt(oneOf(REASSIGNMENT_STEPS)),
});

const bothOrNeither = (a: string, b: string) => (v: object): string | undefined => {
  const o = v as Record<string, unknown>;
  return (o[a] === undefined) !== (o[b] === undefined) ? `${a} and ${b} go together: give both or neither` : undefined;
};

/**
 * What the envelope needs of a message type. `id` is the stable wire id: never renumber, only add.
 * `tooLarge` is the error for a message over `maxMessageBytes`.
 */
export interface RequestSpec<Req, Res> {
  readonly id: number;
  readonly version: number;
  readonly request: Kind<Req>;
  readonly response: Kind<Reply<Res>>;
  readonly tooLarge: ErrorCodeName;
}

/**
 * The response struct as sent: `error` first, then every field optional on the wire, with the
 * rule that a response without an error has all its required fields (and the struct's own rule,
 * which must therefore cope with absent fields).
 */
function reply<Res>(success: StructKind<any> & Kind<Res>): Kind<Reply<Res>> {
  const fields: Record<string, Kind<any>> = { error: opt(wireError) };
  const required: string[] = [];
  for (const [key, kind] of Object.entries(success.fields as Record<string, Kind<unknown>>)) {
    fields[key] = kind.optional ? kind : opt(kind);
    if (!kind.optional) required.push(key);
  }
  return struct(fields, (v) => {
    const missing = v.error === undefined ? required.find((k) => v[k] === undefined) : undefined;
    if (missing) return `${missing} is missing (required when there is no error)`;
    return success.rule?.(v);
  }) as unknown as Kind<Reply<Res>>;
}

function spec<Req, Res>(
  id: number,
  version: number,
  request: Kind<Req>,
  response: StructKind<any> & Kind<Res>,
  tooLarge: ErrorCodeName = "INVALID_REQUEST",
): RequestSpec<Req, Res> {
  return { id, version, request, response: reply(response), tooLarge };
}

export const REQUEST_SPECS: { readonly [K in RequestType]: RequestSpec<RequestMap[K], ResponseMap[K]> } = {
  produce: spec<ProduceRequest, ProduceResponse>(
    1,
    1,
    struct(
      {
        topic,
        partition,
        acks: oneOf(["all", "leader", "none"]),
        timeoutMs,
        batchId: bytes({ max: () => 16, min: 16 }),
        producerId: opt(int64),
        sequence: opt(uint(0, INT32_MAX)),
        batch: bytes({
          max: (l) => l.maxBatchBytes,
          tooLarge: "BATCH_TOO_LARGE",
          min: RECORD_BATCH_HEADER_SIZE,
          tooSmall: "CORRUPT_BATCH",
        }),
      },
      bothOrNeither("producerId", "sequence"),
    ),
    struct({ baseOffset: int64, logAppendTimeMs: opt(uint(0, Number.MAX_SAFE_INTEGER)) }),
    "BATCH_TOO_LARGE",
  ),
  fetch: spec<FetchRequest, FetchResponse>(
    2,
    1,
    struct(
      {
        topic,
        partition,
        offset: int64,
        maxBytes: uint(1, INT32_MAX),
        minBytes: count,
        maxWaitMs: timeoutMs,
        consistency: oneOf(["leader", "linearizable"]),
      },
      (v) => (v.minBytes > v.maxBytes ? `minBytes ${v.minBytes} is above maxBytes ${v.maxBytes}` : undefined),
    ),
    struct({ highWatermark: int64, logStartOffset: int64, batches: bytes({ max: (l) => l.maxMessageBytes }) }, offsetsInOrder),
  ),
  metadata: spec<MetadataRequest, MetadataResponse>(
    3,
    1,
    struct({ topics: opt(topics) }),
    struct({
      controllerLeader: opt(nodeId),
      brokers: list(struct(brokerFields), B.brokers),
      topics: list(struct({ topic, error: opt(wireError), partitions: partitionsMetadata }), B.topicsPerRequest),
    }),
  ),
  createTopic: spec<CreateTopicRequest, EmptyResponse>(
    10,
    1,
    struct({
      topic,
      partitions: uint(1, B.partitionsPerTopic),
      replicationFactor: uint(1, B.replicationFactor),
      configs,
    }),
    nothing,
  ),
  deleteTopic: spec<TopicRequest, EmptyResponse>(11, 1, struct({ topic }), nothing),
  describeTopic: spec<TopicRequest, DescribeTopicResponse>(
    12,
    1,
    struct({ topic }),
    struct({ description: struct({ topic, partitions: partitionsMetadata, configs }) }),
  ),
  listTopics: spec<EmptyResponse, ListTopicsResponse>(13, 1, nothing, struct({ topics: list(topic, B.topicsInCluster) })),
  describeCluster: spec<EmptyResponse, DescribeClusterResponse>(
    14,
    1,
    nothing,
    struct(
      {
        controllerLeader: opt(nodeId),
        brokers: list(struct({ ...brokerFields, leaders: count, replicas: count }), B.brokers),
        partitions: count,
        underReplicated: count,
      },
      (v) =>
        v.underReplicated !== undefined && v.partitions !== undefined && v.underReplicated > v.partitions
          ? `underReplicated ${v.underReplicated} is above partitions ${v.partitions}`
          : undefined,
    ),
  ),
  joinGroup: spec<JoinGroupRequest, JoinGroupResponse>(
    20,
    1,
    struct({
      groupId: id,
      memberId: opt(id),
      clientId: str(0, B.idBytes),
      topics: list(topic, B.topicsPerRequest, 1),
      sessionTimeoutMs,
      rebalanceTimeoutMs: sessionTimeoutMs,
    }),
    struct({ memberId: id, ...groupAssignment }),
  ),
  heartbeat: spec<HeartbeatRequest, GroupAssignment>(
    21,
    1,
    struct({ groupId: id, memberId: id, generation: count, owned: topicPartitions }),
    struct(groupAssignment),
  ),
  leaveGroup: spec<MemberRequest, EmptyResponse>(22, 1, struct({ groupId: id, memberId: id }), nothing),
  commitOffsets: spec<CommitOffsetsRequest, EmptyResponse>(
    23,
    1,
    struct({ groupId: id, memberId: opt(id), generation: opt(count), offsets: partitionOffsets }, bothOrNeither("memberId", "generation")),
    nothing,
  ),
  fetchOffsets: spec<FetchOffsetsRequest, OffsetsResponse>(
    24,
    1,
    struct({ groupId: id, partitions: opt(topicPartitions) }),
    struct({ offsets: partitionOffsets }),
  ),
  listGroups: spec<EmptyResponse, ListGroupsResponse>(
    25,
    1,
    nothing,
    struct({ groups: list(struct({ groupId: id, state: groupState, members: count }), B.groups) }),
  ),
  describeGroup: spec<GroupRequest, DescribeGroupResponse>(
    26,
    1,
    struct({ groupId: id }),
    struct({
      groupId: id,
      state: groupState,
      generation: count,
      members: list(struct({ memberId: id, clientId: str(0, B.idBytes), assignment: topicPartitions }), B.membersPerGroup),
    }),
  ),
  resetOffsets: spec<ResetOffsetsRequest, OffsetsResponse>(
    27,
    1,
    struct(
      {
        groupId: id,
        topic,
        partitions: opt(list(partition, B.partitionsPerTopic)),
        to: oneOf(["earliest", "latest", "offset"]),
        offset: opt(int64),
      },
      (v) => ((v.to === "offset") !== (v.offset !== undefined) ? `offset must be given exactly when to is "offset" (to is "${v.to}")` : undefined),
    ),
    struct({ offsets: partitionOffsets }),
  ),
  reassignPartitions: spec<ReassignPartitionsRequest, EmptyResponse>(
    40,
    1,
    struct({ partitions: partitionReplicas, throttleBytesPerSec: opt(uint(1, Number.MAX_SAFE_INTEGER)) }),
    nothing,
  ),
  reassignmentStatus: spec<PartitionsReplicasRequest, ReassignmentStatusResponse>(
    41,
    1,
    struct({ partitions: partitionReplicas }),
    struct({ partitions: list(reassignmentStatus, B.offsetsPerRequest) }),
  ),
  cancelReassignment: spec<PartitionsRequest, EmptyResponse>(42, 1, struct({ partitions: topicPartitions }), nothing),
  generateReassignment: spec<GenerateReassignmentRequest, ReassignmentPlanResponse>(
    43,
    1,
    struct({ topics: list(topic, B.topicsPerRequest, 1), brokers: list(nodeId, B.brokers, 1) }),
    struct({ partitions: partitionReplicas }),
  ),
  transferLeader: spec<TransferLeaderRequest, EmptyResponse>(44, 1, struct({ topic, partition, to: nodeId }), nothing),
  rebalanceLeaders: spec<EmptyResponse, RebalanceLeadersResponse>(
    45,
    1,
    nothing,
    struct({ moves: list(struct({ topic, partition, from: opt(nodeId), to: nodeId }), B.offsetsPerRequest) }),
  ),
  decommissionBroker: spec<DecommissionBrokerRequest, DecommissionBrokerResponse>(
    46,
    1,
    struct({ brokerId: nodeId }),
    struct({ partitions: partitionReplicas, fenced: bool }),
  ),
};

export const REQUEST_TYPES = Object.keys(REQUEST_SPECS) as RequestType[];

/** The type id of an error reply, and its version. */
const ERROR_REPLY_ID = 0;
const ERROR_REPLY_VERSION = 1;

const TYPE_BY_ID = new Map<number, RequestType>(REQUEST_TYPES.map((t) => [REQUEST_SPECS[t].id, t]));

// ---------------------------------------------------------------------------------------------
// Encoding and decoding

/** Prefixes an error with the message it happened in; a DecodeError becomes INVALID_REQUEST. Bugs pass through. */
function inMessage(e: unknown, what: string): unknown {
  if (e instanceof DecodeError) return new FlotillaError("INVALID_REQUEST", `${what}: ${e.message}`, { cause: e });
  if (e instanceof FlotillaError) return new FlotillaError(e.code, `${what}: ${e.message}`, { leader: e.leader });
  return e;
}

function specOf<K extends RequestType>(type: K): RequestSpec<RequestMap[K], ResponseMap[K]> {
  if (typeof type !== "string" || !Object.hasOwn(REQUEST_SPECS, type)) {
    throw new FlotillaError("INVALID_REQUEST", `unknown request type ${JSON.stringify(type)}`);
  }
  return REQUEST_SPECS[type] as RequestSpec<RequestMap[K], ResponseMap[K]>;
}

function encodeEnvelope<T>(what: string, version: number, typeId: number, kind: Kind<T>, body: T, limits: RequestLimits, tooLarge: ErrorCodeName): Uint8Array {
  try {
    kind.check(body, "", limits);
    return encodeBounded(
      (o) => {
        o.w.array(3);
        o.w.uint(version, "version");
        o.w.uint(typeId, "type");
        kind.write(o, body);
      },
      limits.maxMessageBytes,
      tooLarge,
    );
  } catch (e) {
    throw inMessage(e, what);
  }
}

/** Reads `[version, type, body]`: the version and type first, then the size, then the body. */
function decodeEnvelope<T>(
  bytes: Uint8Array,
  side: "request" | "response",
  limits: RequestLimits,
  pick: (typeId: number, version: number) => { name: string; version: number; kind: Kind<T>; tooLarge: ErrorCodeName },
): T {
  let what: string = side;
  try {
    if (!(bytes instanceof Uint8Array)) throw new FlotillaError("INVALID_REQUEST", "not bytes");
    const r = new MsgpackReader(bytes);
    const fields = r.array("envelope", 1, 0xffff);
    const version = r.uint("version", INT32_MAX);
    const typeId = r.uint("type", INT32_MAX);
    const m = pick(typeId, version);
    what = `${m.name} ${side}`;
    if (version !== m.version) throw new FlotillaError("UNSUPPORTED_VERSION", `version ${version}; this side speaks version ${m.version}`);
    if (fields !== 3) throw new DecodeError(`envelope: array of ${fields} elements, expected 3`);
    if (bytes.length > limits.maxMessageBytes) {
      throw new FlotillaError(m.tooLarge, `${bytes.length} bytes, at most ${limits.maxMessageBytes} allowed`);
    }
    const body = m.kind.read(r, "", limits);
    r.end();
    return body;
  } catch (e) {
    throw inMessage(e, what);
  }
}

function unknownType(typeId: number, side: string): never {
  throw new FlotillaError("UNSUPPORTED_VERSION", `unknown ${side} type ${typeId} (a newer peer?)`);
}

/** Encodes a request (checking it first: a bad one throws the error the broker would have sent). */
export function encodeRequest<K extends RequestType>(type: K, request: RequestMap[K], limits = DEFAULT_REQUEST_LIMITS): Uint8Array {
  const s = specOf(type);
  return encodeEnvelope(`${type} request`, s.version, s.id, s.request, request, limits, s.tooLarge);
}

/** Decodes a request of any type, e.g. on the admin subject. Throws FlotillaError (see the top). */
export function decodeRequest(bytes: Uint8Array, limits = DEFAULT_REQUEST_LIMITS): AnyRequest {
  let type: RequestType | undefined;
  const request = decodeEnvelope<unknown>(bytes, "request", limits, (typeId) => {
    type = TYPE_BY_ID.get(typeId) ?? unknownType(typeId, "request");
    const s = REQUEST_SPECS[type];
    return { name: type, version: s.version, kind: s.request as Kind<unknown>, tooLarge: s.tooLarge };
  });
  return { type, request } as AnyRequest;
}

/** Decodes a request that must be of `type` (the subject says which, as for produce and fetch). */
export function decodeRequestOf<K extends RequestType>(type: K, bytes: Uint8Array, limits = DEFAULT_REQUEST_LIMITS): RequestMap[K] {
  const decoded = decodeRequest(bytes, limits);
  if (decoded.type !== type) throw new FlotillaError("INVALID_REQUEST", `expected a ${type} request, got a ${decoded.type} request`);
  return decoded.request as RequestMap[K];
}

/** Encodes the response to a request of `type`: `{ error }` alone is always a valid one. */
export function encodeResponse<K extends RequestType>(type: K, response: ResponseOf<K>, limits = DEFAULT_REQUEST_LIMITS): Uint8Array {
  const s = specOf(type);
  return encodeEnvelope(`${type} response`, s.version, s.id, s.response, response, limits, "INVALID_REQUEST");
}

/**
 * A successful fetch response whose batches already sit at `MESSAGE_OVERHEAD_BYTES.fetchResponse`
 * in `buffer` (the broker reads them from its log straight there): the envelope and the other
 * fields are written just before them, and the message is a view of `buffer`, so the batches are
 * never copied. It decodes exactly as `encodeResponse("fetch", …)`'s bytes do; only the batches'
 * length is always a bin 32.
 */
export function fetchResponseAround(buffer: Uint8Array, offsets: { highWatermark: bigint; logStartOffset: bigint }, limits = DEFAULT_REQUEST_LIMITS): Uint8Array {
  const headroom = MESSAGE_OVERHEAD_BYTES.fetchResponse;
  const batchesLength = buffer.length - headroom;
  // The generic encoder checks the offsets and writes every field; with no batches it ends in
  // their bin 8 header (0xc4 0x00), which a bin 32 header for the real length replaces.
  const head = encodeResponse("fetch", { ...offsets, batches: new Uint8Array(0) }, limits);
  const fields = head.length - 2;
  if (batchesLength < 0 || head[fields] !== 0xc4 || head[fields + 1] !== 0 || fields + 5 > headroom) {
    throw new Error(`fetchResponseAround: a ${buffer.length}-byte buffer cannot hold ${fields + 5} header bytes before its batches`);
  }
  const at = headroom - fields - 5;
  if (buffer.length - at > limits.maxMessageBytes) {
    throw new FlotillaError("INVALID_REQUEST", `fetch response: encodes to ${buffer.length - at} bytes, at most ${limits.maxMessageBytes} allowed`);
  }
  buffer.set(head.subarray(0, fields), at);
  buffer[headroom - 5] = 0xc6;
  new DataView(buffer.buffer, buffer.byteOffset).setUint32(headroom - 4, batchesLength);
  return buffer.subarray(at);
}

/**
 * Decodes the response to a request of `type`. An error reply (`encodeErrorResponse`) comes back
 * as `{ error }`. Throws FlotillaError when the bytes are not a valid response of that type.
 */
export function decodeResponse<K extends RequestType>(type: K, bytes: Uint8Array, limits = DEFAULT_REQUEST_LIMITS): ResponseOf<K> {
  const s = specOf(type);
  return decodeEnvelope<ResponseOf<K>>(bytes, "response", limits, (typeId) => {
    if (typeId === ERROR_REPLY_ID) {
      return { name: "error", version: ERROR_REPLY_VERSION, kind: errorReply as Kind<unknown> as Kind<ResponseOf<K>>, tooLarge: "INVALID_REQUEST" };
    }
    if (typeId !== s.id) {
      const got = TYPE_BY_ID.get(typeId) ?? unknownType(typeId, "response");
      throw new FlotillaError("INVALID_REQUEST", `expected a ${type} response, got a ${got} response`);
    }
    return { name: type, version: s.version, kind: s.response, tooLarge: "INVALID_REQUEST" };
  });
}

/** An error reply's body is the bare WireError; it decodes as `{ error }`. */
const errorReply: Kind<{ error: WireError }> = {
  check: (v, path, limits) => wireError.check((v as { error: unknown }).error, path, limits),
  write: (o, v) => wireError.write(o, v.error),
  read: (r, path, limits) => ({ error: wireError.read(r, path, limits) }),
};

/**
 * A reply a broker can send to any request, even one it could not decode or whose type it does
 * not know; `decodeResponse` of any type reads it as `{ error }`. Never throws on a long message:
 * it is cut to fit.
 */
export function encodeErrorResponse(error: WireError | FlotillaError): Uint8Array {
  const w = error instanceof FlotillaError ? error.toWire() : error;
  const cut = { ...w, message: w.message.length > 4096 ? `${w.message.slice(0, 4096)}…` : w.message };
  return encodeEnvelope("error reply", ERROR_REPLY_VERSION, ERROR_REPLY_ID, errorReply, { error: cut }, DEFAULT_REQUEST_LIMITS, "INVALID_REQUEST");
}
