import type { HostedPartition, MetadataImage } from "./metadata-image.js";

/**
 * What a broker should do to its local partition replicas to match the metadata image: the
 * reconciler's pure core. Run it at start-up (after loading or restoring the image), after a
 * metadata snapshot is installed, and after applying records whose events touch this broker; the
 * events say when, this says what, from the whole image, so a missed event cannot leave a replica
 * behind.
 *
 * Two kinds of going away, because deleting a replica's data is only safe once its Raft group no
 * longer counts it:
 * - `remove`: the topic is gone, or its name now belongs to another topic (a different id). The
 *   whole group is gone; delete at once.
 * - `retire`: the partition still exists but this broker no longer hosts it (a reassignment
 *   completed without it, or was cancelled after adding it). The group may still count this
 *   replica as a voter — after a cancel, until the group's leader has moved membership back — and
 *   deleting it then could cost the group its quorum. Keep it running as a follower, and delete it
 *   only once the group's applied configuration no longer lists this broker.
 */

/** A replica as the broker runs it. */
export interface LocalReplica {
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
}

export interface ReplicaChanges {
  /** Hosted here but not running: open (or create) them; `replicas` are the initial voters of a new group. */
  readonly start: HostedPartition[];
  /** Running, and the image still hosts them here: hand over the (possibly changed) replica sets. */
  readonly keep: HostedPartition[];
  readonly remove: LocalReplica[];
  readonly retire: LocalReplica[];
}

export function reconcileReplicas(image: MetadataImage, brokerId: number, running: Iterable<LocalReplica>): ReplicaChanges {
  const hosted = new Map(image.hostedPartitions(brokerId).map((h) => [key(h), h]));
  const changes: ReplicaChanges = { start: [], keep: [], remove: [], retire: [] };
  const seen = new Set<string>();
  for (const r of running) {
    const k = key(r);
    seen.add(k);
    const h = hosted.get(k);
    if (h) changes.keep.push(h);
    else if (image.topic(r.topic)?.topicId !== r.topicId) changes.remove.push(r);
    else changes.retire.push(r);
  }
  for (const [k, h] of hosted) if (!seen.has(k)) changes.start.push(h);
  return changes;
}

/** Replicas are told apart by topic id, not name: a re-created topic is another group. */
function key(r: { topicId: string; partition: number }): string {
  return `${r.topicId}/${r.partition}`;
}
