import { DecodeError } from "../../protocol/decode-error.js";
import { topicNameProblem } from "../../protocol/subjects.js";
import { MsgpackReader, encodeMsgpack, type MsgpackWriter } from "../../protocol/msgpack.js";

/**
 * The records of the metadata log: the only way cluster metadata changes. The controller leader
 * proposes them to the metadata Raft group; every broker applies the committed ones, in log order,
 * to its `MetadataImage`.
 *
 * What is *not* here, on purpose:
 * - Heartbeats. Kafka's KRaft keeps them out of the log too: a heartbeat every few seconds per
 *   broker would grow the log forever and make every broker apply records that change nothing. The
 *   controller leader keeps heartbeat times in memory (`BrokerLiveness`) and writes a record only
 *   when that changes something: `fenceBroker` / `unfenceBroker`.
 * - Partition leaders, high watermarks, in-sync sets. Each partition's own Raft group decides its
 *   leader; the metadata log records only the replica sets (and their order: the first replica is
 *   the preferred leader).
 *
 * Broker epochs. A broker's epoch is the metadata log index of its `registerBroker` record, so it is
 * unique, grows with every restart, and needs no counter. Fence and unfence name the epoch they were
 * decided for, so a decision about a broker's previous incarnation cannot touch its new one.
 *
 * Topic ids. Records about a topic carry its id as well as its name: a topic deleted and created
 * again under the same name is another topic, and a stale reassignment or delete must not touch it.
 */

/** The wire version this code writes. Decoding accepts versions 1..METADATA_RECORD_VERSION. */
export const METADATA_RECORD_VERSION = 1;

export const METADATA_LIMITS = {
  partitionsPerTopic: 100_000,
  replicasPerPartition: 64,
  configsPerTopic: 128,
  configKeyBytes: 255,
  configValueBytes: 4096,
  endpointsPerBroker: 16,
  endpointNameBytes: 64,
  endpointUrlBytes: 1024,
  rackBytes: 255,
  incarnationBytes: 64,
} as const;

const MAX_BROKER_ID = 2 ** 31 - 1;
const MAX_PARTITION = 2 ** 31 - 1;

/** Where a broker can be reached besides NATS (metrics port, say). */
export interface BrokerEndpoint {
  readonly name: string;
  readonly url: string;
}

/**
 * The steps of a reassignment, as the partition's leader reports them. Phases only move forward;
 * they are progress for people (`reassign execute`) and for a new partition leader deciding where to
 * resume — the partition's own Raft log is the truth about its membership.
 */
export const REASSIGNMENT_PHASES = ["started", "learnersAdded", "caughtUp", "votersSwitched"] as const;
export type ReassignmentPhase = (typeof REASSIGNMENT_PHASES)[number];

export interface RegisterBrokerRecord {
  readonly type: "registerBroker";
  readonly brokerId: number;
  /** Chosen by the broker process at start-up (a UUID): tells a restart from a retried registration. */
  readonly incarnation: string;
  readonly rack?: string;
  readonly endpoints: readonly BrokerEndpoint[];
}

export interface FenceBrokerRecord {
  readonly type: "fenceBroker";
  readonly brokerId: number;
  readonly brokerEpoch: number;
}

export interface UnfenceBrokerRecord {
  readonly type: "unfenceBroker";
  readonly brokerId: number;
  readonly brokerEpoch: number;
}

/** Removes a fenced broker that hosts nothing (decommissioned); its id may register again later. */
export interface UnregisterBrokerRecord {
  readonly type: "unregisterBroker";
  readonly brokerId: number;
  readonly brokerEpoch: number;
}

/**
 * The last step of moving everything off a broker: fenced for good. It hosts nothing (refused
 * otherwise), gets no replicas and leads nothing, and liveness does not unfence it while it keeps
 * heartbeating; a restart (a new registration) brings it back.
 */
export interface DecommissionBrokerRecord {
  readonly type: "decommissionBroker";
  readonly brokerId: number;
  readonly brokerEpoch: number;
}

/** Caps the bytes per second each partition leader sends to replicas catching up (learners); 0: no cap. */
export interface SetReassignmentThrottleRecord {
  readonly type: "setReassignmentThrottle";
  readonly bytesPerSec: number;
}

export interface PartitionAssignment {
  readonly partition: number;
  /** Distinct broker ids; the first is the preferred leader. */
  readonly replicas: readonly number[];
}

export interface CreateTopicRecord {
  readonly type: "createTopic";
  readonly topic: string;
  readonly topicId: string;
  readonly configs: Readonly<Record<string, string>>;
  /** Partitions 0..n-1, in order. */
  readonly partitions: readonly PartitionAssignment[];
}

export interface DeleteTopicRecord {
  readonly type: "deleteTopic";
  readonly topic: string;
  readonly topicId: string;
}

/** Fields every per-partition record carries. */
interface PartitionRef {
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
}

export interface StartReassignmentRecord extends PartitionRef {
  readonly type: "startReassignment";
  /** The replica set to move to, preferred leader first. */
  readonly target: readonly number[];
}

export interface ReassignmentProgressRecord extends PartitionRef {
  readonly type: "reassignmentProgress";
  readonly phase: ReassignmentPhase;
}

export interface CompleteReassignmentRecord extends PartitionRef {
  readonly type: "completeReassignment";
  /** Must equal the target: says which reassignment the partition finished. */
  readonly replicas: readonly number[];
}

export interface CancelReassignmentRecord extends PartitionRef {
  readonly type: "cancelReassignment";
}

export interface SetPreferredLeaderRecord extends PartitionRef {
  readonly type: "setPreferredLeader";
  readonly brokerId: number;
}

export type MetadataRecord =
  | RegisterBrokerRecord
  | FenceBrokerRecord
  | UnfenceBrokerRecord
  | UnregisterBrokerRecord
  | CreateTopicRecord
  | DeleteTopicRecord
  | StartReassignmentRecord
  | ReassignmentProgressRecord
  | CompleteReassignmentRecord
  | CancelReassignmentRecord
  | SetPreferredLeaderRecord
  | DecommissionBrokerRecord
  | SetReassignmentThrottleRecord;

export type MetadataRecordType = MetadataRecord["type"];

/** Wire tags. Stable forever: never renumber, only add. */
const RECORD_TAGS = {
  registerBroker: 1,
  fenceBroker: 2,
  unfenceBroker: 3,
  createTopic: 4,
  deleteTopic: 5,
  startReassignment: 6,
  reassignmentProgress: 7,
  completeReassignment: 8,
  cancelReassignment: 9,
  setPreferredLeader: 10,
  unregisterBroker: 11,
  decommissionBroker: 12,
  setReassignmentThrottle: 13,
} as const satisfies Record<MetadataRecordType, number>;

const TYPE_BY_TAG = new Map<number, MetadataRecordType>(
  (Object.keys(RECORD_TAGS) as MetadataRecordType[]).map((t) => [RECORD_TAGS[t], t]),
);

// ---- shape rules shared by the encoder, the decoder and the snapshot codec ----

const TOPIC_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Config names are lower-case dotted words (Kafka's); this also keeps "__proto__" out of records. */
const CONFIG_KEY = /^[a-z][a-z0-9._-]*$/;

export function topicIdProblem(id: string): string | undefined {
  return TOPIC_ID.test(id) ? undefined : `topic id "${id}" is not a lower-case UUID`;
}

function brokerIdProblem(id: number): string | undefined {
  return Number.isInteger(id) && id >= 1 && id <= MAX_BROKER_ID ? undefined : `broker id ${id} is not an integer in [1, ${MAX_BROKER_ID}]`;
}

/** A replica list: 1..limit distinct broker ids. */
export function replicasProblem(replicas: readonly number[]): string | undefined {
  if (replicas.length === 0) return "no replicas";
  if (replicas.length > METADATA_LIMITS.replicasPerPartition) {
    return `${replicas.length} replicas, at most ${METADATA_LIMITS.replicasPerPartition}`;
  }
  for (const id of replicas) {
    const p = brokerIdProblem(id);
    if (p) return p;
  }
  if (new Set(replicas).size !== replicas.length) return `replicas [${replicas.join(",")}] name a broker twice`;
  return undefined;
}

function partitionProblem(p: number): string | undefined {
  return Number.isInteger(p) && p >= 0 && p <= MAX_PARTITION ? undefined : `partition ${p} is not an integer in [0, ${MAX_PARTITION}]`;
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

export function configsProblem(configs: Readonly<Record<string, string>>): string | undefined {
  const keys = Object.keys(configs);
  if (keys.length > METADATA_LIMITS.configsPerTopic) return `${keys.length} configs, at most ${METADATA_LIMITS.configsPerTopic}`;
  for (const k of keys) {
    if (!CONFIG_KEY.test(k) || utf8Length(k) > METADATA_LIMITS.configKeyBytes) return `config name "${k}" is not legal`;
    const v = configs[k];
    if (typeof v !== "string") return `config ${k} is not a string`;
    if (utf8Length(v) > METADATA_LIMITS.configValueBytes) return `config ${k} is longer than ${METADATA_LIMITS.configValueBytes} bytes`;
  }
  return undefined;
}

function endpointsProblem(endpoints: readonly BrokerEndpoint[]): string | undefined {
  if (endpoints.length > METADATA_LIMITS.endpointsPerBroker) return `${endpoints.length} endpoints, at most ${METADATA_LIMITS.endpointsPerBroker}`;
  const names = new Set<string>();
  for (const e of endpoints) {
    if (e.name.length === 0 || utf8Length(e.name) > METADATA_LIMITS.endpointNameBytes) return `endpoint name "${e.name}" is not legal`;
    if (utf8Length(e.url) > METADATA_LIMITS.endpointUrlBytes) return `endpoint ${e.name}: url longer than ${METADATA_LIMITS.endpointUrlBytes} bytes`;
    if (names.has(e.name)) return `endpoint ${e.name} appears twice`;
    names.add(e.name);
  }
  return undefined;
}

function partitionRefProblem(r: PartitionRef): string | undefined {
  return topicNameProblem(r.topic) ?? topicIdProblem(r.topicId) ?? partitionProblem(r.partition);
}

/**
 * What makes a record malformed regardless of cluster state, or undefined when it is well formed.
 * Whether it may be applied (the topic exists, the broker is unfenced, ...) is MetadataImage's call.
 */
export function recordShapeProblem(r: MetadataRecord): string | undefined {
  switch (r.type) {
    case "registerBroker":
      if (r.incarnation.length === 0 || utf8Length(r.incarnation) > METADATA_LIMITS.incarnationBytes) return "incarnation must be 1 to 64 bytes";
      if (r.rack !== undefined && (r.rack.length === 0 || utf8Length(r.rack) > METADATA_LIMITS.rackBytes)) return "rack must be 1 to 255 bytes";
      return brokerIdProblem(r.brokerId) ?? endpointsProblem(r.endpoints);
    case "fenceBroker":
    case "unfenceBroker":
    case "unregisterBroker":
    case "decommissionBroker":
      if (!Number.isSafeInteger(r.brokerEpoch) || r.brokerEpoch < 1) return `broker epoch ${r.brokerEpoch} is not a positive integer`;
      return brokerIdProblem(r.brokerId);
    case "createTopic": {
      const p = topicNameProblem(r.topic) ?? topicIdProblem(r.topicId) ?? configsProblem(r.configs);
      if (p) return p;
      const n = r.partitions.length;
      if (n === 0 || n > METADATA_LIMITS.partitionsPerTopic) return `${n} partitions, expected 1 to ${METADATA_LIMITS.partitionsPerTopic}`;
      for (let i = 0; i < n; i++) {
        if (r.partitions[i].partition !== i) return `partition ${r.partitions[i].partition} at position ${i}: partitions must be 0..${n - 1} in order`;
        const rp = replicasProblem(r.partitions[i].replicas);
        if (rp) return `partition ${i}: ${rp}`;
      }
      return undefined;
    }
    case "deleteTopic":
      return topicNameProblem(r.topic) ?? topicIdProblem(r.topicId);
    case "startReassignment":
      return partitionRefProblem(r) ?? replicasProblem(r.target);
    case "completeReassignment":
      return partitionRefProblem(r) ?? replicasProblem(r.replicas);
    case "reassignmentProgress":
      return partitionRefProblem(r) ?? (REASSIGNMENT_PHASES.includes(r.phase) ? undefined : `unknown phase ${String(r.phase)}`);
    case "cancelReassignment":
      return partitionRefProblem(r);
    case "setPreferredLeader":
      return partitionRefProblem(r) ?? brokerIdProblem(r.brokerId);
    case "setReassignmentThrottle":
      return Number.isSafeInteger(r.bytesPerSec) && r.bytesPerSec >= 0 ? undefined : `bytesPerSec ${r.bytesPerSec} is not an integer ≥ 0`;
  }
}

// ---- encoding ----

/**
 * One record, MessagePack, positional: `[version, tag, ...fields]`, fields per tag:
 *
 *   registerBroker        brokerId, incarnation, rack | nil, [[name, url], ...]
 *   fenceBroker           brokerId, brokerEpoch
 *   unfenceBroker         brokerId, brokerEpoch
 *   unregisterBroker      brokerId, brokerEpoch
 *   createTopic           topic, topicId, [[key, value], ...] (sorted by key), [[partition, [replicas]], ...]
 *   deleteTopic           topic, topicId
 *   startReassignment     topic, topicId, partition, [target]
 *   reassignmentProgress  topic, topicId, partition, phase (index in REASSIGNMENT_PHASES)
 *   completeReassignment  topic, topicId, partition, [replicas]
 *   cancelReassignment    topic, topicId, partition
 *   setPreferredLeader    topic, topicId, partition, brokerId
 *   decommissionBroker    brokerId, brokerEpoch
 *   setReassignmentThrottle bytesPerSec (0: no cap)
 *
 * Configs are written sorted so that equal records are equal bytes (golden tests rely on it).
 */
export function encodeMetadataRecord(r: MetadataRecord): Uint8Array {
  const problem = recordShapeProblem(r);
  if (problem) throw new RangeError(`encodeMetadataRecord: ${r.type}: ${problem}`);
  return encodeMsgpack((w) => {
    w.array(2 + FIELD_COUNTS[r.type]);
    w.uint(METADATA_RECORD_VERSION, "version");
    w.uint(RECORD_TAGS[r.type], "tag");
    writeFields(w, r);
  });
}

const FIELD_COUNTS = {
  registerBroker: 4,
  fenceBroker: 2,
  unfenceBroker: 2,
  createTopic: 4,
  deleteTopic: 2,
  startReassignment: 4,
  reassignmentProgress: 4,
  completeReassignment: 4,
  cancelReassignment: 3,
  setPreferredLeader: 4,
  unregisterBroker: 2,
  decommissionBroker: 2,
  setReassignmentThrottle: 1,
} as const satisfies Record<MetadataRecordType, number>;

const MAX_FIELDS = Math.max(...Object.values(FIELD_COUNTS));

function writeFields(w: MsgpackWriter, r: MetadataRecord): void {
  switch (r.type) {
    case "registerBroker":
      w.uint(r.brokerId, "brokerId");
      w.str(r.incarnation);
      if (r.rack === undefined) w.nil();
      else w.str(r.rack);
      writeEndpoints(w, r.endpoints);
      return;
    case "fenceBroker":
    case "unfenceBroker":
    case "unregisterBroker":
    case "decommissionBroker":
      w.uint(r.brokerId, "brokerId");
      w.uint(r.brokerEpoch, "brokerEpoch");
      return;
    case "setReassignmentThrottle":
      w.uint(r.bytesPerSec, "bytesPerSec");
      return;
    case "createTopic":
      w.str(r.topic);
      w.str(r.topicId);
      writeConfigs(w, r.configs);
      w.array(r.partitions.length);
      for (const p of r.partitions) {
        w.array(2);
        w.uint(p.partition, "partition");
        writeBrokerList(w, p.replicas);
      }
      return;
    case "deleteTopic":
      w.str(r.topic);
      w.str(r.topicId);
      return;
    default:
      writePartitionRef(w, r);
  }
  switch (r.type) {
    case "startReassignment":
      return writeBrokerList(w, r.target);
    case "reassignmentProgress":
      return w.uint(REASSIGNMENT_PHASES.indexOf(r.phase), "phase");
    case "completeReassignment":
      return writeBrokerList(w, r.replicas);
    case "cancelReassignment":
      return;
    case "setPreferredLeader":
      return w.uint(r.brokerId, "brokerId");
  }
}

function writePartitionRef(w: MsgpackWriter, r: PartitionRef): void {
  w.str(r.topic);
  w.str(r.topicId);
  w.uint(r.partition, "partition");
}

export function writeBrokerList(w: MsgpackWriter, ids: readonly number[]): void {
  w.array(ids.length);
  for (const id of ids) w.uint(id, "brokerId");
}

export function writeConfigs(w: MsgpackWriter, configs: Readonly<Record<string, string>>): void {
  const keys = Object.keys(configs).sort();
  w.array(keys.length);
  for (const k of keys) {
    w.array(2);
    w.str(k);
    w.str(configs[k]);
  }
}

export function writeEndpoints(w: MsgpackWriter, endpoints: readonly BrokerEndpoint[]): void {
  w.array(endpoints.length);
  for (const e of endpoints) {
    w.array(2);
    w.str(e.name);
    w.str(e.url);
  }
}

// ---- decoding ----

/**
 * The record in `bytes`, or a DecodeError that names the record type and the field that was wrong.
 * Strict: the whole input must be one record of a known version and tag with exactly its fields,
 * every field of the right kind and in range, and the record well formed (`recordShapeProblem`).
 * Nothing in the result is a view into `bytes`.
 */
export function decodeMetadataRecord(bytes: Uint8Array): MetadataRecord {
  const r = new MsgpackReader(bytes);
  let where = "metadata record";
  try {
    const fields = r.array("record", 2, 2 + MAX_FIELDS);
    const version = r.uint("version");
    if (version < 1 || version > METADATA_RECORD_VERSION) {
      throw new DecodeError(`version ${version} is not one this broker reads (1 to ${METADATA_RECORD_VERSION}); upgrade the broker`);
    }
    const tag = r.uint("tag");
    const type = TYPE_BY_TAG.get(tag);
    if (type === undefined) throw new DecodeError(`unknown record tag ${tag}`);
    where = type;
    if (fields !== 2 + FIELD_COUNTS[type]) throw new DecodeError(`${fields - 2} fields, expected ${FIELD_COUNTS[type]}`);
    const record = readFields(r, type);
    r.end();
    const problem = recordShapeProblem(record);
    if (problem) throw new DecodeError(problem);
    return record;
  } catch (e) {
    throw e instanceof DecodeError ? new DecodeError(`${where}: ${e.message}`) : e;
  }
}

function readFields(r: MsgpackReader, type: MetadataRecordType): MetadataRecord {
  switch (type) {
    case "registerBroker": {
      const brokerId = readBrokerId(r, "brokerId");
      const incarnation = r.str("incarnation", METADATA_LIMITS.incarnationBytes);
      const rack = r.nil() ? undefined : r.str("rack", METADATA_LIMITS.rackBytes);
      const endpoints = readEndpoints(r);
      return rack === undefined
        ? { type, brokerId, incarnation, endpoints }
        : { type, brokerId, incarnation, rack, endpoints };
    }
    case "fenceBroker":
    case "unfenceBroker":
    case "unregisterBroker":
    case "decommissionBroker":
      return { type, brokerId: readBrokerId(r, "brokerId"), brokerEpoch: r.uint("brokerEpoch") };
    case "setReassignmentThrottle":
      return { type, bytesPerSec: r.uint("bytesPerSec") };
    case "createTopic": {
      const topic = readTopic(r);
      const topicId = readTopicId(r);
      const configs = readConfigs(r);
      const n = r.array("partitions", 1, METADATA_LIMITS.partitionsPerTopic);
      const partitions: PartitionAssignment[] = [];
      for (let i = 0; i < n; i++) {
        r.array(`partitions[${i}]`, 2, 2);
        const partition = r.uint(`partitions[${i}].partition`, MAX_PARTITION);
        partitions.push({ partition, replicas: readBrokerList(r, `partitions[${i}].replicas`) });
      }
      return { type, topic, topicId, configs, partitions };
    }
    case "deleteTopic":
      return { type, topic: readTopic(r), topicId: readTopicId(r) };
    case "startReassignment":
      return { type, ...readPartitionRef(r), target: readBrokerList(r, "target") };
    case "reassignmentProgress":
      return { type, ...readPartitionRef(r), phase: REASSIGNMENT_PHASES[r.uint("phase", REASSIGNMENT_PHASES.length - 1)] };
    case "completeReassignment":
      return { type, ...readPartitionRef(r), replicas: readBrokerList(r, "replicas") };
    case "cancelReassignment":
      return { type, ...readPartitionRef(r) };
    case "setPreferredLeader":
      return { type, ...readPartitionRef(r), brokerId: readBrokerId(r, "brokerId") };
  }
}

function readPartitionRef(r: MsgpackReader): PartitionRef {
  return { topic: readTopic(r), topicId: readTopicId(r), partition: r.uint("partition", MAX_PARTITION) };
}

export function readTopic(r: MsgpackReader): string {
  const topic = r.str("topic", 1024);
  const problem = topicNameProblem(topic);
  if (problem) throw new DecodeError(`topic: ${problem}`);
  return topic;
}

export function readTopicId(r: MsgpackReader): string {
  const id = r.str("topicId", 36);
  const problem = topicIdProblem(id);
  if (problem) throw new DecodeError(`topicId: ${problem}`);
  return id;
}

export function readBrokerId(r: MsgpackReader, field: string): number {
  const id = r.uint(field, MAX_BROKER_ID);
  if (id === 0) throw new DecodeError(`${field}: 0 is not a broker id`);
  return id;
}

export function readBrokerList(r: MsgpackReader, field: string): number[] {
  const n = r.array(field, 0, METADATA_LIMITS.replicasPerPartition);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(readBrokerId(r, `${field}[${i}]`));
  return ids;
}

export function readConfigs(r: MsgpackReader): Record<string, string> {
  const n = r.array("configs", 0, METADATA_LIMITS.configsPerTopic);
  const configs: Record<string, string> = {};
  let previous = "";
  for (let i = 0; i < n; i++) {
    r.array(`configs[${i}]`, 2, 2);
    const key = r.str(`configs[${i}].key`, METADATA_LIMITS.configKeyBytes);
    if (!CONFIG_KEY.test(key)) throw new DecodeError(`configs[${i}]: config name "${key}" is not legal`);
    // Sorted and unique, as the encoder writes them: one record, one byte string.
    if (i > 0 && key <= previous) throw new DecodeError(`configs[${i}]: "${key}" is out of order or repeated`);
    previous = key;
    configs[key] = r.str(`configs[${i}].value`, METADATA_LIMITS.configValueBytes);
  }
  return configs;
}

export function readEndpoints(r: MsgpackReader): BrokerEndpoint[] {
  const n = r.array("endpoints", 0, METADATA_LIMITS.endpointsPerBroker);
  const endpoints: BrokerEndpoint[] = [];
  for (let i = 0; i < n; i++) {
    r.array(`endpoints[${i}]`, 2, 2);
    const name = r.str(`endpoints[${i}].name`, METADATA_LIMITS.endpointNameBytes);
    endpoints.push({ name, url: r.str(`endpoints[${i}].url`, METADATA_LIMITS.endpointUrlBytes) });
  }
  return endpoints;
}
