import { FlotillaError } from "../../protocol/errors.js";
import type { MetadataImage, ReassignmentState } from "./metadata-image.js";

/**
 * The answers to `topic describe --json` and `cluster describe --json`, shaped as CONTRACTS.md
 * fixes them (more fields are allowed there, and added here). The metadata image knows replica
 * sets; leaders, high watermarks and in-sync sets live in the partitions' own Raft groups, so the
 * caller looks them up and passes them in. Offsets are bigint here and decimal strings in the
 * output, as JSON cannot hold 64-bit integers.
 */

/** A partition as its Raft group sees it right now. */
export interface PartitionRuntime {
  /** Null while there is no leader (an election is under way, or no replica is reachable). */
  readonly leader: number | null;
  readonly highWatermark: bigint;
  readonly logStartOffset: bigint;
  /** Replicas caught up with the leader, when known; otherwise replicas on live brokers count as in sync. */
  readonly inSync?: readonly number[];
}

export type RuntimeLookup = (topic: string, partition: number) => PartitionRuntime;

export interface PartitionDescription {
  readonly partition: number;
  readonly replicas: readonly number[];
  readonly leader: number | null;
  readonly highWatermark: string;
  readonly logStartOffset: string;
  readonly inSync: readonly number[];
  /** Present while the partition moves. */
  readonly reassignment?: ReassignmentState;
}

export interface TopicDescription {
  readonly topic: string;
  readonly topicId: string;
  readonly configs: Readonly<Record<string, string>>;
  readonly partitions: readonly PartitionDescription[];
}

export interface BrokerDescription {
  readonly id: number;
  /** Heartbeating within the session timeout. */
  readonly alive: boolean;
  readonly fenced: boolean;
  readonly epoch: number;
  readonly rack?: string;
  readonly replicas: number;
  /** Partitions this broker leads right now. */
  readonly leaders: number;
  /** Partitions whose first replica it is. */
  readonly preferredLeaders: number;
}

export interface ClusterDescription {
  readonly controllerLeader: number | null;
  readonly brokers: readonly BrokerDescription[];
  readonly topics: number;
  readonly partitions: number;
  /** Partitions with a replica that is not in sync. */
  readonly underReplicated: number;
  /** Partitions with no leader. */
  readonly offline: number;
}

export interface ClusterRuntime {
  readonly controllerLeader: number | null;
  readonly isAlive: (brokerId: number) => boolean;
  readonly partition: RuntimeLookup;
}

export function describeTopic(image: MetadataImage, topic: string, runtime: Pick<ClusterRuntime, "partition" | "isAlive">): TopicDescription {
  const t = image.topic(topic);
  if (!t) throw new FlotillaError("UNKNOWN_TOPIC", `topic ${topic} does not exist`);
  return {
    topic: t.name,
    topicId: t.topicId,
    configs: t.configs,
    partitions: t.partitions.map((p, partition) => {
      const rt = runtime.partition(t.name, partition);
      return {
        partition,
        replicas: p.replicas,
        leader: rt.leader,
        highWatermark: rt.highWatermark.toString(),
        logStartOffset: rt.logStartOffset.toString(),
        inSync: inSyncReplicas(p.replicas, rt, runtime.isAlive),
        ...(p.reassignment && { reassignment: p.reassignment }),
      };
    }),
  };
}

export function describeCluster(image: MetadataImage, runtime: ClusterRuntime): ClusterDescription {
  const replicas = new Map<number, number>();
  const leaders = new Map<number, number>();
  const preferred = new Map<number, number>();
  const bump = (m: Map<number, number>, id: number): void => {
    m.set(id, (m.get(id) ?? 0) + 1);
  };
  let partitions = 0;
  let underReplicated = 0;
  let offline = 0;
  const topics = image.topics();
  for (const t of topics) {
    t.partitions.forEach((p, partition) => {
      const rt = runtime.partition(t.name, partition);
      partitions++;
      bump(preferred, p.replicas[0]);
      for (const id of p.replicas) bump(replicas, id);
      if (rt.leader === null) offline++;
      else bump(leaders, rt.leader);
      if (inSyncReplicas(p.replicas, rt, runtime.isAlive).length < p.replicas.length) underReplicated++;
    });
  }
  return {
    controllerLeader: runtime.controllerLeader,
    brokers: image.brokers().map((b) => ({
      id: b.id,
      alive: runtime.isAlive(b.id),
      fenced: b.fenced,
      epoch: b.epoch,
      ...(b.rack !== undefined && { rack: b.rack }),
      replicas: replicas.get(b.id) ?? 0,
      leaders: leaders.get(b.id) ?? 0,
      preferredLeaders: preferred.get(b.id) ?? 0,
    })),
    topics: topics.length,
    partitions,
    underReplicated,
    offline,
  };
}

/** The partition's in-sync replicas: as reported, or else the replicas on live brokers. */
function inSyncReplicas(replicas: readonly number[], rt: PartitionRuntime, isAlive: (brokerId: number) => boolean): readonly number[] {
  return rt.inSync ? replicas.filter((id) => rt.inSync?.includes(id)) : replicas.filter(isAlive);
}
