import { DecodeError } from "../../protocol/decode-error.js";
import { MsgpackReader, encodeMsgpack } from "../../protocol/msgpack.js";
import type { BrokerState, PartitionState, TopicState } from "./metadata-image.js";
import {
  METADATA_LIMITS,
  REASSIGNMENT_PHASES,
  readBrokerId,
  readBrokerList,
  readConfigs,
  readEndpoints,
  readTopic,
  readTopicId,
  replicasProblem,
  writeBrokerList,
  writeConfigs,
  writeEndpoints,
} from "./metadata-records.js";
import { topicConfigProblems } from "./topic-configs.js";

/**
 * The whole metadata image as bytes: the metadata Raft group's snapshot, and what a broker keeps to
 * start without replaying the log. MessagePack, positional, version first:
 *
 *   image      [IMAGE_SNAPSHOT_VERSION, appliedIndex, [broker, ...], [topic, ...], reassignmentThrottle]
 *   broker     [id, incarnation, epoch, rack | nil, [[name, url], ...], fenced, decommissioned]
 *
 * (The last field of an image and of a broker came later: images without them still read, as 0
 * and false.)
 *   topic      [name, topicId, [[key, value], ...], [partition, ...]]    (partition p at position p)
 *   partition  [[replicas]] or [[replicas], [target], phase]             (the second while reassigning)
 *
 * Brokers are written by id and topics by name, so one image is one byte string.
 *
 * Decoding is strict and checks the image's invariants too (brokers and topics unique, replicas
 * registered, one replication factor per topic, valid configs): a snapshot comes from disk or from
 * a peer, and a broker must not start from a state `apply` could never have produced.
 */

export const IMAGE_SNAPSHOT_VERSION = 1;

const MAX_BROKERS = 1 << 16;
const MAX_TOPICS = 1 << 20;

export interface ImageParts {
  readonly appliedIndex: number;
  /** By id. */
  readonly brokers: readonly BrokerState[];
  /** By name. */
  readonly topics: readonly TopicState[];
  readonly reassignmentThrottle: number;
}

export function encodeImageParts(parts: ImageParts): Uint8Array {
  return encodeMsgpack((w) => {
    w.array(5);
    w.uint(IMAGE_SNAPSHOT_VERSION, "version");
    w.uint(parts.appliedIndex, "appliedIndex");
    w.array(parts.brokers.length);
    for (const b of parts.brokers) {
      w.array(7);
      w.uint(b.id, "broker id");
      w.str(b.incarnation);
      w.uint(b.epoch, "epoch");
      if (b.rack === undefined) w.nil();
      else w.str(b.rack);
      writeEndpoints(w, b.endpoints);
      w.bool(b.fenced);
      w.bool(b.decommissioned === true);
    }
    w.array(parts.topics.length);
    for (const t of parts.topics) {
      w.array(4);
      w.str(t.name);
      w.str(t.topicId);
      writeConfigs(w, t.configs);
      w.array(t.partitions.length);
      for (const p of t.partitions) {
        w.array(p.reassignment ? 3 : 1);
        writeBrokerList(w, p.replicas);
        if (p.reassignment) {
          writeBrokerList(w, p.reassignment.target);
          w.uint(REASSIGNMENT_PHASES.indexOf(p.reassignment.phase), "phase");
        }
      }
    }
    w.uint(parts.reassignmentThrottle, "reassignmentThrottle");
  });
}

export function decodeImageParts(bytes: Uint8Array): ImageParts {
  const r = new MsgpackReader(bytes);
  let where = "image snapshot";
  try {
    const imageFields = r.array("image", 4, 5);
    const version = r.uint("version");
    if (version !== IMAGE_SNAPSHOT_VERSION) throw new DecodeError(`version ${version} is not one this broker reads (${IMAGE_SNAPSHOT_VERSION})`);
    const appliedIndex = r.uint("appliedIndex");

    const brokers: BrokerState[] = [];
    const brokerIds = new Set<number>();
    const nb = r.array("brokers", 0, MAX_BROKERS);
    for (let i = 0; i < nb; i++) {
      where = `image snapshot: brokers[${i}]`;
      const brokerFields = r.array("broker", 6, 7);
      const id = readBrokerId(r, "id");
      const incarnation = r.str("incarnation", METADATA_LIMITS.incarnationBytes);
      const epoch = r.uint("epoch");
      const rack = r.nil() ? undefined : r.str("rack", METADATA_LIMITS.rackBytes);
      const endpoints = readEndpoints(r);
      const fenced = r.bool("fenced");
      const decommissioned = brokerFields === 7 && r.bool("decommissioned");
      if (decommissioned && !fenced) throw new DecodeError(`broker ${id} is decommissioned but not fenced`);
      if (i > 0 && id <= brokers[i - 1].id) throw new DecodeError(`broker ${id} is out of order or repeated`);
      if (epoch < 1 || epoch > appliedIndex) throw new DecodeError(`epoch ${epoch} is not in [1, ${appliedIndex}]`);
      brokerIds.add(id);
      brokers.push({ id, incarnation, epoch, ...(rack !== undefined && { rack }), endpoints, fenced, ...(decommissioned && { decommissioned: true as const }) });
    }

    const topics: TopicState[] = [];
    const topicIds = new Set<string>();
    const nt = r.array("topics", 0, MAX_TOPICS);
    for (let i = 0; i < nt; i++) {
      where = `image snapshot: topics[${i}]`;
      r.array("topic", 4, 4);
      const name = readTopic(r);
      where = `image snapshot: topic ${name}`;
      const topicId = readTopicId(r);
      const configs = readConfigs(r);
      if (i > 0 && name <= topics[i - 1].name) throw new DecodeError("out of order or repeated");
      if (topicIds.has(topicId)) throw new DecodeError(`topic id ${topicId} is used twice`);
      topicIds.add(topicId);
      const np = r.array("partitions", 1, METADATA_LIMITS.partitionsPerTopic);
      const partitions: PartitionState[] = [];
      for (let p = 0; p < np; p++) partitions.push(readPartition(r, p, brokerIds));
      const rf = partitions[0].replicas.length;
      partitions.forEach((p, n) => {
        if (p.replicas.length !== rf || (p.reassignment && p.reassignment.target.length !== rf)) {
          throw new DecodeError(`partition ${n}: replication factor differs from partition 0's ${rf}`);
        }
      });
      const problems = topicConfigProblems(configs, rf);
      if (problems.length > 0) throw new DecodeError(`configs: ${problems.join("; ")}`);
      topics.push({ name, topicId, configs, partitions });
    }
    where = "image snapshot";
    const reassignmentThrottle = imageFields === 5 ? r.uint("reassignmentThrottle") : 0;
    r.end();
    return { appliedIndex, brokers, topics, reassignmentThrottle };
  } catch (e) {
    throw e instanceof DecodeError ? new DecodeError(`${where}: ${e.message}`) : e;
  }
}

function readPartition(r: MsgpackReader, p: number, brokerIds: ReadonlySet<number>): PartitionState {
  const fields = r.array(`partitions[${p}]`, 1, 3);
  if (fields === 2) throw new DecodeError(`partitions[${p}]: 2 fields, expected 1 or 3`);
  const replicas = readReplicas(r, `partitions[${p}].replicas`, brokerIds);
  if (fields === 1) return { replicas };
  const target = readReplicas(r, `partitions[${p}].target`, brokerIds);
  const phase = REASSIGNMENT_PHASES[r.uint(`partitions[${p}].phase`, REASSIGNMENT_PHASES.length - 1)];
  return { replicas, reassignment: { target, phase } };
}

function readReplicas(r: MsgpackReader, field: string, brokerIds: ReadonlySet<number>): number[] {
  const ids = readBrokerList(r, field);
  const problem = replicasProblem(ids);
  if (problem) throw new DecodeError(`${field}: ${problem}`);
  const unknown = ids.find((id) => !brokerIds.has(id));
  if (unknown !== undefined) throw new DecodeError(`${field}: broker ${unknown} is not registered`);
  return ids;
}
