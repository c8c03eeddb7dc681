import { DecodeError } from "./decode-error.js";
import { FlotillaError } from "./errors.js";

/**
 * The one place NATS subjects are built. Everything lives under `flotilla.<cluster>.`:
 *
 *   raft.<brokerId>                     Raft traffic to one broker, all groups coalesced (broker-only)
 *   raft.m.<id>.<id>[.<id>…]            Raft traffic for several brokers in one publish, ids ascending
 *                                       (a leader's appends of the same entries to its followers;
 *                                       each broker takes the messages addressed to it) (broker-only)
 *   p.<topic>.<partition>.produce       produce to a partition; only its leader subscribes (queue group)
 *   p.<topic>.<partition>.fetch         fetch from a partition; same
 *   p.<topic>.<partition>.fetch.<id>    fetch served by the partition's replica on broker <id>, leader
 *                                       or follower (follower fetch, with a read index from the leader)
 *   metadata                            cluster metadata; every broker answers (queue group)
 *   admin                               admin requests from clients; every broker answers and forwards
 *                                       what needs the controller
 *   group.<n>                           consumer-group requests for the groups that hash to partition n
 *                                       of __consumer_offsets; only that partition's leader (the groups'
 *                                       coordinator) subscribes (queue group)
 *   controller                          the controller leader only: broker registration, heartbeats,
 *                                       forwarded admin changes (broker-only)
 *   faults.<brokerId>                   test-only fault injection into one broker's Raft transport,
 *                                       served only by a broker started with --fault-control (broker-only)
 *
 * Names. A cluster name is one subject token: 1-64 of [a-zA-Z0-9_-]. A topic name follows Kafka:
 * 1-249 of [a-zA-Z0-9._-], and not "." or "..". A NATS token cannot hold '.', so a topic is written
 * into its token with every '.' replaced by '~'. '~' is never legal in a topic, so the mapping is
 * one-to-one and readable ("orders.eu" → "orders~eu"), and '~' is a legal subject character (NATS
 * ADR-6: a token is printable ASCII except '.', '*' and '>').
 */

export const SUBJECT_ROOT = "flotilla";
export const MAX_TOPIC_LENGTH = 249;
export const MAX_CLUSTER_LENGTH = 64;
const MAX_INT32 = 2 ** 31 - 1;

const CLUSTER_NAME = /^[a-zA-Z0-9_-]+$/;
const TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;
const TOPIC_TOKEN = /^[a-zA-Z0-9~_-]+$/;
const DECIMAL = /^(0|[1-9][0-9]*)$/;
/** The most brokers one multicast Raft subject names (a replication factor of 5 has 4 followers). */
export const MAX_RAFT_MULTICAST = 4;

/** What is wrong with a cluster name, or undefined when it is fine. */
export function clusterNameProblem(name: string): string | undefined {
  if (name.length === 0) return "cluster name is empty";
  if (name.length > MAX_CLUSTER_LENGTH) return `cluster name is ${name.length} characters, at most ${MAX_CLUSTER_LENGTH}`;
  if (!CLUSTER_NAME.test(name)) return `cluster name "${name}" may contain only letters, digits, '_' and '-'`;
  return undefined;
}

/** What is wrong with a topic name, or undefined when it is fine (Kafka's rules). */
export function topicNameProblem(name: string): string | undefined {
  if (name.length === 0) return "topic name is empty";
  if (name.length > MAX_TOPIC_LENGTH) return `topic name is ${name.length} characters, at most ${MAX_TOPIC_LENGTH}`;
  if (name === "." || name === "..") return `topic name "${name}" is not allowed`;
  if (!TOPIC_NAME.test(name)) return `topic name "${name}" may contain only letters, digits, '.', '_' and '-'`;
  return undefined;
}

function checkCluster(cluster: string): void {
  const problem = clusterNameProblem(cluster);
  if (problem) throw new FlotillaError("INVALID_CONFIG", problem);
}

function checkTopic(topic: string): void {
  const problem = topicNameProblem(topic);
  if (problem) throw new FlotillaError("INVALID_TOPIC", problem);
}

function checkPartition(partition: number): void {
  if (!Number.isInteger(partition) || partition < 0 || partition > MAX_INT32) {
    throw new FlotillaError("INVALID_PARTITION", `partition ${partition} is not an integer in [0, ${MAX_INT32}]`);
  }
}

function checkBrokerId(id: number): void {
  if (!Number.isInteger(id) || id < 1 || id > MAX_INT32) throw new RangeError(`broker id ${id} is not an integer in [1, ${MAX_INT32}]`);
}

/** A legal topic name as one subject token. */
export function encodeTopicToken(topic: string): string {
  checkTopic(topic);
  return topic.replaceAll(".", "~");
}

/** The topic a subject token names. Throws DecodeError when the token is not one we build. */
export function decodeTopicToken(token: string): string {
  if (!TOPIC_TOKEN.test(token)) throw new DecodeError(`subject token "${token}" is not an encoded topic name`);
  const topic = token.replaceAll("~", ".");
  const problem = topicNameProblem(topic);
  if (problem) throw new DecodeError(`subject token "${token}": ${problem}`);
  return topic;
}

function root(cluster: string): string {
  checkCluster(cluster);
  return `${SUBJECT_ROOT}.${cluster}`;
}

export type PartitionOp = "produce" | "fetch";

export const subjects = {
  /** Raft messages for any group, addressed to one broker. */
  raft(cluster: string, brokerId: number): string {
    checkBrokerId(brokerId);
    return `${root(cluster)}.raft.${brokerId}`;
  },
  /** Raft messages for 2 to MAX_RAFT_MULTICAST brokers at once; `brokerIds` distinct and ascending. */
  raftMulticast(cluster: string, brokerIds: readonly number[]): string {
    if (brokerIds.length < 2 || brokerIds.length > MAX_RAFT_MULTICAST) {
      throw new RangeError(`a multicast Raft subject names 2 to ${MAX_RAFT_MULTICAST} brokers, not ${brokerIds.length}`);
    }
    brokerIds.forEach((id, i) => {
      checkBrokerId(id);
      if (i > 0 && id <= brokerIds[i - 1]) throw new RangeError(`multicast broker ids must ascend: ${brokerIds.join(",")}`);
    });
    return `${root(cluster)}.raft.m.${brokerIds.join(".")}`;
  },
  /**
   * What broker `brokerId` subscribes to for the multicast subjects that name it: one wildcard per
   * size and position, so each such subject matches exactly one of them (ids are distinct).
   */
  raftMulticastInterest(cluster: string, brokerId: number): string[] {
    checkBrokerId(brokerId);
    const out: string[] = [];
    for (let size = 2; size <= MAX_RAFT_MULTICAST; size++) {
      for (let at = 0; at < size; at++) {
        const tokens = Array.from({ length: size }, (_, i) => (i === at ? String(brokerId) : "*"));
        out.push(`${root(cluster)}.raft.m.${tokens.join(".")}`);
      }
    }
    return out;
  },
  partition(cluster: string, topic: string, partition: number, op: PartitionOp): string {
    checkPartition(partition);
    return `${root(cluster)}.p.${encodeTopicToken(topic)}.${partition}.${op}`;
  },
  produce(cluster: string, topic: string, partition: number): string {
    return subjects.partition(cluster, topic, partition, "produce");
  },
  fetch(cluster: string, topic: string, partition: number): string {
    return subjects.partition(cluster, topic, partition, "fetch");
  },
  /** Fetch from the partition's replica on one broker (follower fetch): each replica subscribes to its own. */
  replicaFetch(cluster: string, topic: string, partition: number, brokerId: number): string {
    checkBrokerId(brokerId);
    return `${subjects.partition(cluster, topic, partition, "fetch")}.${brokerId}`;
  },
  metadata(cluster: string): string {
    return `${root(cluster)}.metadata`;
  },
  admin(cluster: string): string {
    return `${root(cluster)}.admin`;
  },
  controller(cluster: string): string {
    return `${root(cluster)}.controller`;
  },
  /** The coordinator of the groups stored in partition `offsetsPartition` of __consumer_offsets. */
  group(cluster: string, offsetsPartition: number): string {
    checkPartition(offsetsPartition);
    return `${root(cluster)}.group.${offsetsPartition}`;
  },
  /** Fault-injection commands for one broker (test-only: see broker/server/fault-control.ts). */
  faultControl(cluster: string, brokerId: number): string {
    checkBrokerId(brokerId);
    return `${root(cluster)}.faults.${brokerId}`;
  },
} as const;

/**
 * Subjects a client account may publish to, for the NATS permissions `ops/` generates. Everything
 * else under the cluster (Raft traffic, the controller) is for broker accounts only.
 */
export function clientPublishSubjects(cluster: string): string[] {
  const r = root(cluster);
  return [`${r}.p.>`, `${r}.metadata`, `${r}.admin`, `${r}.group.>`];
}

/** Subjects only brokers may publish to. */
export function brokerOnlySubjects(cluster: string): string[] {
  const r = root(cluster);
  return [`${r}.raft.>`, `${r}.controller`, `${r}.faults.>`];
}

export type ParsedSubject =
  | { kind: "raft" | "faults"; cluster: string; brokerId: number }
  | { kind: PartitionOp; cluster: string; topic: string; partition: number }
  | { kind: "replicaFetch"; cluster: string; topic: string; partition: number; brokerId: number }
  | { kind: "metadata" | "admin" | "controller"; cluster: string }
  | { kind: "group"; cluster: string; offsetsPartition: number };

function parseInt32(token: string, what: string, min: number): number {
  const n = DECIMAL.test(token) ? Number(token) : NaN;
  if (!(n >= min && n <= MAX_INT32)) throw new DecodeError(`subject: ${what} "${token}" is not an integer in [${min}, ${MAX_INT32}]`);
  return n;
}

/** The inverse of the builders above, for a broker serving a wildcard subscription. */
export function parseSubject(subject: string): ParsedSubject {
  const t = subject.split(".");
  if (t[0] !== SUBJECT_ROOT || t.length < 3) throw new DecodeError(`subject "${subject}" is not a Flotilla subject`);
  const cluster = t[1];
  const problem = clusterNameProblem(cluster);
  if (problem) throw new DecodeError(`subject "${subject}": ${problem}`);
  const kind = t[2];
  if (t.length === 3 && (kind === "metadata" || kind === "admin" || kind === "controller")) return { kind, cluster };
  if (t.length === 4 && (kind === "raft" || kind === "faults")) return { kind, cluster, brokerId: parseInt32(t[3], "broker id", 1) };
  if (t.length === 4 && kind === "group") return { kind, cluster, offsetsPartition: parseInt32(t[3], "offsets partition", 0) };
  if (t.length === 6 && kind === "p" && (t[5] === "produce" || t[5] === "fetch")) {
    return { kind: t[5], cluster, topic: decodeTopicToken(t[3]), partition: parseInt32(t[4], "partition", 0) };
  }
  if (t.length === 7 && kind === "p" && t[5] === "fetch") {
    return { kind: "replicaFetch", cluster, topic: decodeTopicToken(t[3]), partition: parseInt32(t[4], "partition", 0), brokerId: parseInt32(t[6], "broker id", 1) };
  }
  throw new DecodeError(`subject "${subject}" is not a Flotilla subject`);
}
