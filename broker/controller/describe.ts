import { FlotillaError } from "../../protocol/errors.js";
import type { MetadataImage, ReassignmentState } from "./metadata-image.js";

/**
 * The answers to `topic describe` and `cluster describe`. The metadata image knows replica sets;
 * leaders, high watermarks and in-sync sets live in the partitions' own Raft groups, so the caller
 * looks them up and passes them in.
 *
 * Shapes. The fields are those of CONTRACTS.md's `topic describe --json` and `cluster describe
 * --json` (with more, which the contract allows), and also exactly those of the wire responses in
 * protocol/requests.ts (`DescribeTopicResponse.description`, `DescribeClusterResponse`), so a
 * broker can answer with them as they are. Offsets are bigint, as everywhere at our APIs; the
 * command line prints them as the contract's decimal strings. A partition without a leader, or a
 * cluster whose metadata group has none, has no `leader` / `controllerLeader` field (the wire's
 * convention for "none right now").
 */

/** A partition as its Raft group sees it right now. */
export interface PartitionRuntime {
  /** Undefined while there is no leader (an election is under way, or no replica is reachable). */
  readonly leader?: number;
  readonly highWatermark: bigint;
  readonly logStartOffset: bigint;
  /** Replicas caught up with the leader, when known; otherwise replicas on live brokers count as in sync. */
  readonly isr?: readonly number[];
}

export interface ClusterRuntime {
  /** The metadata group's leader, if it has one. */
  readonly controllerLeader?: number;
  /** Heartbeating within the session timeout (`BrokerLiveness.isAlive` on the controller leader). */
  readonly isAlive: (brokerId: number) => boolean;
  readonly partition: (topic: string, partition: number) => PartitionRuntime;
}

export interface PartitionDescription {
  readonly partition: number;
  readonly leader?: number;
  /** Preferred leader first. */
  readonly replicas: number[];
  readonly isr: number[];
  readonly highWatermark: bigint;
  readonly logStartOffset: bigint;
  /** Present while the partition moves. */
  readonly reassignment?: ReassignmentState;
}

export interface TopicDescription {
  readonly topic: string;
  readonly topicId: string;
  readonly configs: Record<string, string>;
  readonly partitions: PartitionDescription[];
}

export interface BrokerDescription {
  readonly id: number;
  readonly alive: boolean;
  /** Fenced brokers get no new replicas and should lead nothing. */
  readonly fenced: boolean;
  readonly epoch: number;
  readonly rack?: string;
  /** Partition replicas it hosts (reassignment targets not yet included). */
  readonly replicas: number;
  /** Partitions it leads right now. */
  readonly leaders: number;
  /** Partitions whose first replica it is. */
  readonly preferredLeaders: number;
}

export interface ClusterDescription {
  readonly controllerLeader?: number;
  readonly brokers: BrokerDescription[];
  readonly topics: number;
  readonly partitions: number;
  /** Partitions with fewer in-sync replicas than replicas. */
  readonly underReplicated: number;
  /** Partitions with no leader. */
  readonly offline: number;
}

export function describeTopic(image: MetadataImage, topic: string, runtime: Pick<ClusterRuntime, "partition" | "isAlive">): TopicDescription {
  const t = image.topic(topic);
  if (!t) throw new FlotillaError("UNKNOWN_TOPIC", `topic ${topic} does not exist`);
  return {
    topic: t.name,
    topicId: t.topicId,
    configs: { ...t.configs },
    partitions: t.partitions.map((p, partition) => {
      const rt = runtime.partition(t.name, partition);
      return {
        partition,
        ...(rt.leader !== undefined && { leader: rt.leader }),
        replicas: [...p.replicas],
        isr: inSyncReplicas(p.replicas, rt, runtime.isAlive),
        highWatermark: rt.highWatermark,
        logStartOffset: rt.logStartOffset,
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
      if (rt.leader === undefined) offline++;
      else bump(leaders, rt.leader);
      if (inSyncReplicas(p.replicas, rt, runtime.isAlive).length < p.replicas.length) underReplicated++;
    });
  }
  return {
    ...(runtime.controllerLeader !== undefined && { controllerLeader: runtime.controllerLeader }),
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

/** The partition's in-sync replicas, in replica order: those on live brokers, and of those the ones its leader reports in sync when it does. */
function inSyncReplicas(replicas: readonly number[], rt: PartitionRuntime, isAlive: (brokerId: number) => boolean): number[] {
  const isr = rt.isr;
  return replicas.filter((id) => isAlive(id) && (!isr || isr.includes(id)));
}
