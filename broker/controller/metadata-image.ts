import type { ErrorCodeName } from "../../protocol/errors.js";
import {
  recordShapeProblem,
  type BrokerEndpoint,
  type CancelReassignmentRecord,
  type CompleteReassignmentRecord,
  type CreateTopicRecord,
  type DecommissionBrokerRecord,
  type SetReassignmentThrottleRecord,
  type DeleteTopicRecord,
  type FenceBrokerRecord,
  type MetadataRecord,
  type ReassignmentPhase,
  type ReassignmentProgressRecord,
  type RegisterBrokerRecord,
  type SetPreferredLeaderRecord,
  type StartReassignmentRecord,
  type UnfenceBrokerRecord,
  type UnregisterBrokerRecord,
  REASSIGNMENT_PHASES,
} from "./metadata-records.js";
import { sameList } from "./lists.js";
import { decodeImageParts, encodeImageParts } from "./image-snapshot.js";
import { normalizeTopicConfigs, topicConfigProblems } from "./topic-configs.js";

/**
 * The cluster metadata as of one index of the metadata log: the state machine of the metadata Raft
 * group. Every broker holds one, applies each committed record to it, and reconciles its local
 * partition replicas from the events that come out.
 *
 * Immutable. `apply` returns a new image that shares everything the record did not touch: the
 * broker and topic maps are copied (one entry per broker / topic, not per partition), and only the
 * touched topic's partition array is copied. So a reassignment step in a cluster of thousands of
 * partitions costs one topic's array, and a reader (a describe request, the reconciler) can keep an
 * image while newer ones are built.
 *
 * Deterministic. `apply` reads nothing but the image, the record and the index: no clock, no
 * randomness, no iteration order that differs between replicas. A record that would break an
 * invariant is rejected — the image stays as it was, bar the applied index — with the same reason
 * on every broker, so rejections never make replicas diverge. The controller leader checks
 * requests against its image before proposing, but two proposals can race (two creates of one
 * topic); the loser is refused here, and whoever waits on the proposal reads the reason.
 *
 * Invariants (each enforced by the record that could break it):
 * - a topic's partitions are 0..n-1, each with 1..64 distinct registered brokers, all the topic's
 *   partitions with the same replication factor (so a broker hosting anything cannot unregister);
 * - new replicas (a created topic's, a reassignment's target) go only to unfenced brokers;
 * - topic names and topic ids are unique; configs are known and valid for the topic;
 * - at most one reassignment per partition, whose phases only move forward.
 */

export interface BrokerState {
  readonly id: number;
  readonly incarnation: string;
  /** The metadata log index of the registration: grows with every restart of the broker. */
  readonly epoch: number;
  readonly rack?: string;
  readonly endpoints: readonly BrokerEndpoint[];
  /** A fenced broker gets no new replicas and should lead none; a new registration starts fenced. */
  readonly fenced: boolean;
  /** Fenced for good (decommissioned) until it registers again: liveness never unfences it. */
  readonly decommissioned?: true;
}

export interface ReassignmentState {
  readonly target: readonly number[];
  readonly phase: ReassignmentPhase;
}

export interface PartitionState {
  /** The settled replica set, preferred leader first. */
  readonly replicas: readonly number[];
  /** Present while the partition moves to `target`. */
  readonly reassignment?: ReassignmentState;
}

export interface TopicState {
  readonly name: string;
  readonly topicId: string;
  readonly configs: Readonly<Record<string, string>>;
  /** `partitions[p]` is partition p. */
  readonly partitions: readonly PartitionState[];
}

/**
 * What a change means for the brokers: the reconciler's input. Partition events carry the topic id
 * so a broker can tell a partition of a re-created topic from the old one's leftover directory.
 */
export type MetadataEvent =
  | { readonly type: "brokerRegistered"; readonly brokerId: number; readonly epoch: number; readonly incarnation: string }
  | { readonly type: "brokerFenced"; readonly brokerId: number; readonly epoch: number }
  | { readonly type: "brokerUnfenced"; readonly brokerId: number; readonly epoch: number }
  | { readonly type: "brokerUnregistered"; readonly brokerId: number; readonly epoch: number }
  | { readonly type: "topicCreated"; readonly topic: string; readonly topicId: string; readonly configs: Readonly<Record<string, string>> }
  | { readonly type: "partitionAdded"; readonly topic: string; readonly topicId: string; readonly partition: number; readonly replicas: readonly number[] }
  /** `hosts`: every broker that held a replica, the targets of an unfinished reassignment included. */
  | { readonly type: "partitionRemoved"; readonly topic: string; readonly topicId: string; readonly partition: number; readonly hosts: readonly number[] }
  | { readonly type: "topicDeleted"; readonly topic: string; readonly topicId: string }
  | {
      readonly type: "reassignmentStarted";
      readonly topic: string;
      readonly topicId: string;
      readonly partition: number;
      readonly replicas: readonly number[];
      readonly target: readonly number[];
    }
  | {
      readonly type: "reassignmentProgressed";
      readonly topic: string;
      readonly topicId: string;
      readonly partition: number;
      readonly phase: ReassignmentPhase;
    }
  /**
   * Recorded once the partition's group has the target as its voters. `removed`: brokers that are
   * out of the group and should delete their replica.
   */
  | {
      readonly type: "reassignmentCompleted";
      readonly topic: string;
      readonly topicId: string;
      readonly partition: number;
      readonly replicas: readonly number[];
      readonly removed: readonly number[];
    }
  /**
   * The partition goes back to `replicas`. `abandoned` brokers were only targets: they keep their
   * replica until the group's leader has taken them out of its membership, then delete it (see
   * reconcile.ts for why not at once).
   */
  | {
      readonly type: "reassignmentCancelled";
      readonly topic: string;
      readonly topicId: string;
      readonly partition: number;
      readonly replicas: readonly number[];
      readonly abandoned: readonly number[];
    }
  | {
      readonly type: "preferredLeaderChanged";
      readonly topic: string;
      readonly topicId: string;
      readonly partition: number;
      readonly replicas: readonly number[];
    };

/** Why a record was not applied: the code a waiting client gets, and a reason for people. */
export interface Rejection {
  readonly code: ErrorCodeName;
  readonly reason: string;
}

export interface ApplyResult {
  /** The image after the record; on rejection, the same content with only the applied index moved. */
  readonly image: MetadataImage;
  readonly events: readonly MetadataEvent[];
  readonly rejected: Rejection | null;
}

/** A partition a broker should host, with what it needs to start or update its replica. */
export interface HostedPartition {
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
  readonly replicas: readonly number[];
  readonly reassignment?: ReassignmentState;
}

type Change = { brokers?: Map<number, BrokerState>; topics?: Map<string, TopicState>; throttle?: number; events: MetadataEvent[] };

class Refused extends Error {
  constructor(readonly rejection: Rejection) {
    super(rejection.reason);
  }
}

function refuse(code: ErrorCodeName, reason: string): never {
  throw new Refused({ code, reason });
}

/** Brokers in `a` but not in `b`, in `a`'s order. */
function minus(a: readonly number[], b: readonly number[]): number[] {
  return a.filter((id) => !b.includes(id));
}

export class MetadataImage {
  static readonly EMPTY = new MetadataImage(0, new Map(), new Map(), 0);

  /**
   * Internal: images come from `EMPTY`, `apply` and `restore`. The maps are never mutated after
   * construction; each `apply` builds new ones.
   */
  private constructor(
    /** The metadata log index of the last record applied (0: none). */
    readonly appliedIndex: number,
    private readonly brokerMap: ReadonlyMap<number, BrokerState>,
    private readonly topicMap: ReadonlyMap<string, TopicState>,
    /** Bytes per second each partition leader may send to replicas catching up (0: no cap). */
    readonly reassignmentThrottle: number,
  ) {}

  /** The whole image as bytes, for a Raft snapshot of the metadata group (see image-snapshot.ts). */
  snapshot(): Uint8Array {
    return encodeImageParts({ appliedIndex: this.appliedIndex, brokers: this.brokers(), topics: this.topics(), reassignmentThrottle: this.reassignmentThrottle });
  }

  /** The image `snapshot()` wrote. Throws DecodeError for bytes that are not a valid image. */
  static restore(bytes: Uint8Array): MetadataImage {
    const parts = decodeImageParts(bytes);
    return new MetadataImage(
      parts.appliedIndex,
      new Map(parts.brokers.map((b) => [b.id, b])),
      new Map(parts.topics.map((t) => [t.name, t])),
      parts.reassignmentThrottle,
    );
  }

  broker(id: number): BrokerState | undefined {
    return this.brokerMap.get(id);
  }

  /** Every registered broker, by id. */
  brokers(): BrokerState[] {
    return [...this.brokerMap.values()].sort((a, b) => a.id - b.id);
  }

  /** Registered brokers that may take new replicas, by id. */
  unfencedBrokers(): BrokerState[] {
    return this.brokers().filter((b) => !b.fenced);
  }

  topic(name: string): TopicState | undefined {
    return this.topicMap.get(name);
  }

  /** Every topic, by name. */
  topics(): TopicState[] {
    return [...this.topicMap.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  topicById(topicId: string): TopicState | undefined {
    for (const t of this.topicMap.values()) if (t.topicId === topicId) return t;
    return undefined;
  }

  partitionCount(): number {
    let n = 0;
    for (const t of this.topicMap.values()) n += t.partitions.length;
    return n;
  }

  /**
   * Every partition `brokerId` should host a replica of: those it is a replica of, and those it is
   * a reassignment target of (it must run a replica to catch up as a learner). `reconcileReplicas`
   * diffs this against the replicas a broker runs.
   */
  hostedPartitions(brokerId: number): HostedPartition[] {
    const out: HostedPartition[] = [];
    for (const t of this.topics()) {
      t.partitions.forEach((p, partition) => {
        if (p.replicas.includes(brokerId) || p.reassignment?.target.includes(brokerId)) {
          out.push({ topic: t.name, topicId: t.topicId, partition, replicas: p.replicas, ...(p.reassignment && { reassignment: p.reassignment }) });
        }
      });
    }
    return out;
  }

  /**
   * Applies the record committed at `index`. Never throws for a bad record (that is a rejection);
   * throws only when `index` does not follow `appliedIndex`, which is the caller's bug.
   */
  apply(record: MetadataRecord, index: number): ApplyResult {
    if (!Number.isSafeInteger(index) || index <= this.appliedIndex) {
      throw new RangeError(`MetadataImage.apply: index ${index} does not follow the applied index ${this.appliedIndex}`);
    }
    let change: Change;
    try {
      const shape = recordShapeProblem(record);
      if (shape) refuse("INVALID_REQUEST", `${record.type}: ${shape}`);
      change = this.change(record, index);
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      return { image: new MetadataImage(index, this.brokerMap, this.topicMap, this.reassignmentThrottle), events: [], rejected: e.rejection };
    }
    const image = new MetadataImage(index, change.brokers ?? this.brokerMap, change.topics ?? this.topicMap, change.throttle ?? this.reassignmentThrottle);
    return { image, events: change.events, rejected: null };
  }

  /** What `apply` would refuse `record` for, without building the image (a controller's dry run). */
  check(record: MetadataRecord): Rejection | null {
    return this.apply(record, this.appliedIndex + 1).rejected;
  }

  private change(r: MetadataRecord, index: number): Change {
    switch (r.type) {
      case "registerBroker":
        return this.registerBroker(r, index);
      case "fenceBroker":
      case "unfenceBroker":
        return this.setFenced(r);
      case "unregisterBroker":
        return this.unregisterBroker(r);
      case "createTopic":
        return this.createTopic(r);
      case "deleteTopic":
        return this.deleteTopic(r);
      case "startReassignment":
        return this.startReassignment(r);
      case "reassignmentProgress":
        return this.reassignmentProgress(r);
      case "completeReassignment":
        return this.completeReassignment(r);
      case "cancelReassignment":
        return this.cancelReassignment(r);
      case "setPreferredLeader":
        return this.setPreferredLeader(r);
      case "decommissionBroker":
        return this.decommissionBroker(r);
      case "setReassignmentThrottle":
        return this.setReassignmentThrottle(r);
    }
  }

  private registerBroker(r: RegisterBrokerRecord, index: number): Change {
    const old = this.brokerMap.get(r.brokerId);
    // A retried registration of the same process changes nothing; a restart (new incarnation) does.
    if (old?.incarnation === r.incarnation) refuse("INVALID_REQUEST", `broker ${r.brokerId} is already registered with incarnation ${r.incarnation}`);
    const broker: BrokerState = {
      id: r.brokerId,
      incarnation: r.incarnation,
      epoch: index,
      ...(r.rack !== undefined && { rack: r.rack }),
      endpoints: r.endpoints,
      // Fenced until the controller sees it heartbeat with the metadata caught up: a broker that
      // just started must not be handed replicas or leadership before it can serve them.
      fenced: true,
    };
    const brokers = new Map(this.brokerMap).set(r.brokerId, broker);
    return { brokers, events: [{ type: "brokerRegistered", brokerId: r.brokerId, epoch: index, incarnation: r.incarnation }] };
  }

  private setFenced(r: FenceBrokerRecord | UnfenceBrokerRecord): Change {
    const old = this.brokerMap.get(r.brokerId);
    if (!old) refuse("INVALID_REQUEST", `${r.type}: broker ${r.brokerId} is not registered`);
    if (old.epoch !== r.brokerEpoch) refuse("INVALID_REQUEST", `${r.type}: broker ${r.brokerId} has epoch ${old.epoch}, not ${r.brokerEpoch}`);
    const fenced = r.type === "fenceBroker";
    if (old.fenced === fenced) refuse("INVALID_REQUEST", `${r.type}: broker ${r.brokerId} is already ${fenced ? "fenced" : "unfenced"}`);
    if (old.decommissioned) refuse("INVALID_REQUEST", `${r.type}: broker ${r.brokerId} is decommissioned; it comes back only by registering again (a restart)`);
    const brokers = new Map(this.brokerMap).set(r.brokerId, { ...old, fenced });
    const event: MetadataEvent = { type: fenced ? "brokerFenced" : "brokerUnfenced", brokerId: r.brokerId, epoch: old.epoch };
    return { brokers, events: [event] };
  }

  private unregisterBroker(r: UnregisterBrokerRecord): Change {
    const old = this.brokerMap.get(r.brokerId);
    if (!old) refuse("INVALID_REQUEST", `broker ${r.brokerId} is not registered`);
    if (old.epoch !== r.brokerEpoch) refuse("INVALID_REQUEST", `broker ${r.brokerId} has epoch ${old.epoch}, not ${r.brokerEpoch}`);
    // Unfenced means running: it would only register again. Stop it first.
    if (!old.fenced) refuse("INVALID_REQUEST", `broker ${r.brokerId} is unfenced; stop it before unregistering it`);
    // Replica sets may only name registered brokers.
    const hosted = this.hostedPartitions(r.brokerId).length;
    if (hosted > 0) refuse("INVALID_REQUEST", `broker ${r.brokerId} still hosts ${hosted} partitions; reassign them away first`);
    const brokers = new Map(this.brokerMap);
    brokers.delete(r.brokerId);
    return { brokers, events: [{ type: "brokerUnregistered", brokerId: r.brokerId, epoch: old.epoch }] };
  }

  private decommissionBroker(r: DecommissionBrokerRecord): Change {
    const old = this.brokerMap.get(r.brokerId);
    if (!old) refuse("INVALID_REQUEST", `broker ${r.brokerId} is not registered`);
    if (old.epoch !== r.brokerEpoch) refuse("INVALID_REQUEST", `broker ${r.brokerId} has epoch ${old.epoch}, not ${r.brokerEpoch}`);
    if (old.decommissioned) refuse("INVALID_REQUEST", `broker ${r.brokerId} is already decommissioned`);
    const hosted = this.hostedPartitions(r.brokerId).length;
    if (hosted > 0) refuse("INVALID_REQUEST", `broker ${r.brokerId} still hosts ${hosted} partitions; reassign them away first`);
    const brokers = new Map(this.brokerMap).set(r.brokerId, { ...old, fenced: true, decommissioned: true });
    return { brokers, events: old.fenced ? [] : [{ type: "brokerFenced", brokerId: r.brokerId, epoch: old.epoch }] };
  }

  private setReassignmentThrottle(r: SetReassignmentThrottleRecord): Change {
    return { throttle: r.bytesPerSec, events: [] };
  }

  /** Every id must be a registered, unfenced broker. */
  private requireUnfenced(ids: readonly number[], what: string): void {
    for (const id of ids) {
      const b = this.brokerMap.get(id);
      if (!b) refuse("INVALID_REPLICATION_FACTOR", `${what}: broker ${id} is not registered`);
      if (b.fenced) refuse("INVALID_REPLICATION_FACTOR", `${what}: broker ${id} is fenced`);
    }
  }

  private createTopic(r: CreateTopicRecord): Change {
    if (this.topicMap.has(r.topic)) refuse("TOPIC_EXISTS", `topic ${r.topic} already exists`);
    if (this.topicById(r.topicId)) refuse("TOPIC_EXISTS", `topic id ${r.topicId} is already in use`);
    const rf = r.partitions[0].replicas.length;
    const unfenced = this.unfencedBrokers().length;
    if (rf > unfenced) refuse("INVALID_REPLICATION_FACTOR", `replication factor ${rf} but only ${unfenced} unfenced brokers`);
    for (const p of r.partitions) {
      if (p.replicas.length !== rf) refuse("INVALID_REPLICATION_FACTOR", `partition ${p.partition} has ${p.replicas.length} replicas, partition 0 has ${rf}`);
      this.requireUnfenced(p.replicas, `partition ${p.partition}`);
    }
    const problems = topicConfigProblems(r.configs, rf);
    if (problems.length > 0) refuse("INVALID_CONFIG", problems.join("; "));
    const topic: TopicState = {
      name: r.topic,
      topicId: r.topicId,
      configs: normalizeTopicConfigs(r.configs),
      partitions: r.partitions.map((p) => ({ replicas: [...p.replicas] })),
    };
    const events: MetadataEvent[] = [{ type: "topicCreated", topic: r.topic, topicId: r.topicId, configs: topic.configs }];
    topic.partitions.forEach((p, partition) => {
      events.push({ type: "partitionAdded", topic: r.topic, topicId: r.topicId, partition, replicas: p.replicas });
    });
    return { topics: new Map(this.topicMap).set(r.topic, topic), events };
  }

  private requireTopic(name: string, topicId: string): TopicState {
    const t = this.topicMap.get(name);
    if (!t) refuse("UNKNOWN_TOPIC", `topic ${name} does not exist`);
    if (t.topicId !== topicId) refuse("UNKNOWN_TOPIC", `topic ${name} has id ${t.topicId}, not ${topicId} (deleted and created again?)`);
    return t;
  }

  private deleteTopic(r: DeleteTopicRecord): Change {
    const t = this.requireTopic(r.topic, r.topicId);
    const events: MetadataEvent[] = t.partitions.map((p, partition) => ({
      type: "partitionRemoved",
      topic: t.name,
      topicId: t.topicId,
      partition,
      hosts: [...p.replicas, ...minus(p.reassignment?.target ?? [], p.replicas)],
    }));
    events.push({ type: "topicDeleted", topic: t.name, topicId: t.topicId });
    const topics = new Map(this.topicMap);
    topics.delete(t.name);
    return { topics, events };
  }

  private requirePartition(r: { topic: string; topicId: string; partition: number }): { topic: TopicState; state: PartitionState } {
    const topic = this.requireTopic(r.topic, r.topicId);
    const state = topic.partitions[r.partition];
    if (!state) refuse("INVALID_PARTITION", `topic ${r.topic} has no partition ${r.partition}`);
    return { topic, state };
  }

  private requireReassignment(r: { topic: string; topicId: string; partition: number }): { topic: TopicState; state: PartitionState; reassignment: ReassignmentState } {
    const found = this.requirePartition(r);
    if (!found.state.reassignment) refuse("INVALID_REQUEST", `${r.topic}-${r.partition} has no reassignment in progress`);
    return { ...found, reassignment: found.state.reassignment };
  }

  /** The topics map with partition `partition` of `topic` replaced: copies one topic's array only. */
  private withPartition(topic: TopicState, partition: number, state: PartitionState): Map<string, TopicState> {
    const partitions = topic.partitions.slice();
    partitions[partition] = state;
    return new Map(this.topicMap).set(topic.name, { ...topic, partitions });
  }

  private startReassignment(r: StartReassignmentRecord): Change {
    const { topic, state } = this.requirePartition(r);
    if (state.reassignment) refuse("INVALID_REQUEST", `${r.topic}-${r.partition} is already being reassigned; cancel that first`);
    if (sameList(state.replicas, r.target)) refuse("INVALID_REQUEST", `${r.topic}-${r.partition} already has replicas [${r.target.join(",")}]`);
    const rf = topic.partitions[0].replicas.length;
    if (r.target.length !== rf) refuse("INVALID_REPLICATION_FACTOR", `target has ${r.target.length} replicas, the topic's replication factor is ${rf}`);
    // Brokers that already hold the partition may stay even while fenced; new ones must be able to serve.
    this.requireUnfenced(minus(r.target, state.replicas), `${r.topic}-${r.partition}`);
    const reassignment: ReassignmentState = { target: [...r.target], phase: "started" };
    return {
      topics: this.withPartition(topic, r.partition, { replicas: state.replicas, reassignment }),
      events: [{ type: "reassignmentStarted", topic: r.topic, topicId: r.topicId, partition: r.partition, replicas: state.replicas, target: reassignment.target }],
    };
  }

  private reassignmentProgress(r: ReassignmentProgressRecord): Change {
    const { topic, state, reassignment } = this.requireReassignment(r);
    if (REASSIGNMENT_PHASES.indexOf(r.phase) <= REASSIGNMENT_PHASES.indexOf(reassignment.phase)) {
      refuse("INVALID_REQUEST", `${r.topic}-${r.partition} is past ${r.phase} already (at ${reassignment.phase})`);
    }
    return {
      topics: this.withPartition(topic, r.partition, { replicas: state.replicas, reassignment: { target: reassignment.target, phase: r.phase } }),
      events: [{ type: "reassignmentProgressed", topic: r.topic, topicId: r.topicId, partition: r.partition, phase: r.phase }],
    };
  }

  private completeReassignment(r: CompleteReassignmentRecord): Change {
    const { topic, state, reassignment } = this.requireReassignment(r);
    // Naming the target guards against completing a reassignment that was cancelled and replaced.
    if (!sameList(reassignment.target, r.replicas)) {
      refuse("INVALID_REQUEST", `${r.topic}-${r.partition} is moving to [${reassignment.target.join(",")}], not [${r.replicas.join(",")}]`);
    }
    const replicas = reassignment.target;
    return {
      topics: this.withPartition(topic, r.partition, { replicas }),
      events: [{ type: "reassignmentCompleted", topic: r.topic, topicId: r.topicId, partition: r.partition, replicas, removed: minus(state.replicas, replicas) }],
    };
  }

  private cancelReassignment(r: CancelReassignmentRecord): Change {
    const { topic, state, reassignment } = this.requireReassignment(r);
    return {
      topics: this.withPartition(topic, r.partition, { replicas: state.replicas }),
      events: [
        {
          type: "reassignmentCancelled",
          topic: r.topic,
          topicId: r.topicId,
          partition: r.partition,
          replicas: state.replicas,
          abandoned: minus(reassignment.target, state.replicas),
        },
      ],
    };
  }

  private setPreferredLeader(r: SetPreferredLeaderRecord): Change {
    const { topic, state } = this.requirePartition(r);
    // Reordering while replicas move would be overwritten by the target's order on completion.
    if (state.reassignment) refuse("INVALID_REQUEST", `${r.topic}-${r.partition} is being reassigned; set the leader in the target instead`);
    if (!state.replicas.includes(r.brokerId)) refuse("INVALID_REQUEST", `broker ${r.brokerId} is not a replica of ${r.topic}-${r.partition}`);
    if (state.replicas[0] === r.brokerId) refuse("INVALID_REQUEST", `broker ${r.brokerId} is already the preferred leader of ${r.topic}-${r.partition}`);
    const replicas = [r.brokerId, ...state.replicas.filter((id) => id !== r.brokerId)];
    return {
      topics: this.withPartition(topic, r.partition, { replicas }),
      events: [{ type: "preferredLeaderChanged", topic: r.topic, topicId: r.topicId, partition: r.partition, replicas }],
    };
  }
}
