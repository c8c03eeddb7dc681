/**
 * The coordinator of the groups that hash to one `__consumer_offsets` partition, held by that
 * partition's leader: every group's membership and assignment (ConsumerGroup), and every group's
 * committed offsets. Both are records of the partition (group-records.ts), appended before the
 * request that changed them is answered (a member's session running out is recorded without
 * waiting), and replayed by `apply` when a coordinator takes over. Pure apart from `append`: the
 * clock and ids are injected.
 *
 * A new coordinator (after a leader change) knows the members, not what each consumes: members
 * keep consuming, and their next heartbeats tell it (ConsumerGroup.restore). Should a member be
 * missing from the records it replayed (it joined just as leadership moved), that member gets
 * UNKNOWN_MEMBER, stops, commits what it finished and joins again; so for `takeoverGraceMs` the new
 * coordinator hands out no partition, and takes such a member's commits for partitions nobody
 * owns: they record only what it finished, and spare the next owner a re-read.
 */
import { FlotillaError } from "../../protocol/errors.js";
import type {
  CommitOffsetsRequest,
  DescribeGroupResponse,
  FetchOffsetsRequest,
  GroupAssignment,
  GroupSummary,
  HeartbeatRequest,
  JoinGroupRequest,
  JoinGroupResponse,
  MemberRequest,
  PartitionOffset,
} from "../../protocol/requests.js";
import { ConsumerGroup, unknownMember } from "./consumer-group.js";
import { encodeMembersBatch, encodeOffsetBatch, type GroupRecord } from "./group-records.js";
import { fromTopicPartitions, partitionKey, splitKey, type PartitionKey } from "./partition-key.js";
import type { PartitionCount } from "./sticky-assignor.js";

/** How often members heartbeat while nothing moves, and while partitions are moving. */
export const HEARTBEAT_INTERVAL_MS = { steady: 3000, rebalancing: 200 } as const;

export interface GroupCoordinatorOptions {
  now(): number;
  partitionsOf: PartitionCount;
  /** Appends a batch of group records to the offsets partition; resolves once its Raft group has committed it. */
  append(batch: Uint8Array): Promise<void>;
  newMemberId(clientId: string): string;
  takeoverGraceMs: number;
}

export class GroupCoordinator {
  private readonly startedAt: number;
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly offsets = new Map<string, Map<PartitionKey, bigint>>();

  constructor(private readonly o: GroupCoordinatorOptions) {
    this.startedAt = o.now();
  }

  /** Records read back from the offsets partition, in log order (or just appended to it). */
  apply(records: readonly GroupRecord[]): void {
    for (const r of records) {
      if (r.kind === "members") {
        if (r.members.length === 0) this.groups.delete(r.groupId);
        else this.groups.set(r.groupId, ConsumerGroup.restore(r.groupId, this.o.partitionsOf, r.generation, r.members, this.o.now()));
        continue;
      }
      let group = this.offsets.get(r.groupId);
      if (!group) {
        group = new Map();
        this.offsets.set(r.groupId, group);
      }
      group.set(partitionKey(r.topic, r.partition), r.offset);
    }
  }

  /** Answered once a new member (or a changed one) is in the offsets partition, so a successor knows it. */
  async join(req: JoinGroupRequest): Promise<JoinGroupResponse> {
    const now = this.o.now();
    let group = this.groups.get(req.groupId);
    if (req.memberId !== undefined && !group?.has(req.memberId)) throw unknownMember(req.groupId, req.memberId);
    if (!group) {
      group = new ConsumerGroup(req.groupId, this.o.partitionsOf);
      this.groups.set(req.groupId, group);
    }
    const memberId = req.memberId ?? this.o.newMemberId(req.clientId);
    const changed = group.join({ memberId, clientId: req.clientId, topics: [...new Set(req.topics)].sort(), sessionTimeoutMs: req.sessionTimeoutMs, rebalanceTimeoutMs: req.rebalanceTimeoutMs }, now);
    if (changed) await this.recordMembers(group);
    const assignment = group.assignmentOf(memberId, this.o.now(), this.mayGrant(this.o.now()));
    return { memberId, generation: group.generation, heartbeatIntervalMs: this.interval(group, req.sessionTimeoutMs), assignment };
  }

  heartbeat(req: HeartbeatRequest): GroupAssignment {
    const now = this.o.now();
    const group = this.group(req.groupId, req.memberId);
    const assignment = group.heartbeat(req.memberId, fromTopicPartitions(req.owned), now, this.mayGrant(now));
    return { generation: group.generation, heartbeatIntervalMs: this.interval(group, group.sessionTimeoutOf(req.memberId)), assignment };
  }

  async leave(req: MemberRequest): Promise<void> {
    const group = this.group(req.groupId, req.memberId);
    group.leave(req.memberId);
    if (group.size === 0) this.groups.delete(req.groupId);
    await this.recordMembers(group);
  }

  /**
   * Removes members whose session or rebalance timeout ran out; their partitions go to the others.
   * The new membership is recorded without waiting: should that fail (leadership lost), a successor
   * restores the removed members and removes them again at their session timeout.
   */
  expire(): void {
    const now = this.o.now();
    for (const [id, group] of this.groups) {
      if (group.expire(now).length === 0) continue;
      if (group.size === 0) this.groups.delete(id);
      this.recordMembers(group).catch(() => {});
    }
  }

  /**
   * A member commits no partition another member owns (so a member that lost a partition cannot
   * move the new owner's offsets back); a commit from outside the membership only for a group
   * without members. Resolves once the commit is in the offsets partition's Raft log.
   */
  async commit(req: CommitOffsetsRequest): Promise<void> {
    this.checkCommit(req);
    await this.write(req.groupId, req.offsets);
  }

  /** Sets offsets of a group without members (`group reset-offsets`). */
  async resetOffsets(groupId: string, offsets: PartitionOffset[]): Promise<void> {
    this.requireEmpty(groupId, "reset its offsets");
    await this.write(groupId, offsets);
  }

  fetchOffsets(req: FetchOffsetsRequest): PartitionOffset[] {
    const committed = this.offsets.get(req.groupId);
    if (!committed) return [];
    const keys = req.partitions === undefined ? [...committed.keys()] : [...fromTopicPartitions(req.partitions)].filter((k) => committed.has(k));
    return keys.map((k) => ({ ...splitKey(k), offset: committed.get(k)! }));
  }

  listGroups(): GroupSummary[] {
    const ids = new Set([...this.groups.keys(), ...this.offsets.keys()]);
    return [...ids].sort().map((groupId) => {
      const g = this.groups.get(groupId);
      return { groupId, state: g ? g.state() : "empty", members: g?.size ?? 0 };
    });
  }

  describeGroup(groupId: string): DescribeGroupResponse {
    const g = this.groups.get(groupId);
    if (!g) return { groupId, state: this.offsets.has(groupId) ? "empty" : "dead", generation: 0, members: [] };
    return { groupId, state: g.state(), generation: g.generation, members: g.describe() };
  }

  private async write(groupId: string, offsets: PartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    const commits = offsets.map((o) => ({ kind: "offset" as const, groupId, topic: o.topic, partition: o.partition, offset: o.offset }));
    await this.o.append(encodeOffsetBatch(commits));
    this.apply(commits);
  }

  private recordMembers(group: ConsumerGroup): Promise<void> {
    return this.o.append(encodeMembersBatch({ groupId: group.groupId, generation: group.generation, members: group.memberJoins() }));
  }

  private checkCommit(req: CommitOffsetsRequest): void {
    const { groupId, memberId } = req;
    if (memberId === undefined) return this.requireEmpty(groupId, "commit offsets from outside the group");
    const group = this.groups.get(groupId);
    // Only members commit, and during the grace period members of the previous coordinator (see the top).
    if (!group?.has(memberId) && this.mayGrant(this.o.now())) throw unknownMember(groupId, memberId);
    const taken = req.offsets.map((o) => partitionKey(o.topic, o.partition)).find((k) => (group?.holderOf(k) ?? memberId) !== memberId);
    if (taken) {
      throw new FlotillaError("ILLEGAL_GENERATION", `${taken} belongs to another member of group ${groupId} now; the records member ${memberId} did not commit will be read again by it`);
    }
  }

  private requireEmpty(groupId: string, what: string): void {
    const n = this.groups.get(groupId)?.size ?? 0;
    if (n > 0) throw new FlotillaError("INVALID_REQUEST", `group ${groupId} has ${n} active member${n === 1 ? "" : "s"}: stop them before you ${what}`);
  }

  private group(groupId: string, memberId: string): ConsumerGroup {
    const g = this.groups.get(groupId);
    if (!g?.has(memberId)) throw unknownMember(groupId, memberId);
    return g;
  }

  private mayGrant(now: number): boolean {
    return now - this.startedAt >= this.o.takeoverGraceMs;
  }

  private interval(group: ConsumerGroup, sessionTimeoutMs: number): number {
    const steady = Math.max(1, Math.min(HEARTBEAT_INTERVAL_MS.steady, Math.floor(sessionTimeoutMs / 3)));
    const moving = group.state() === "rebalancing" || !this.mayGrant(this.o.now());
    return moving ? Math.min(steady, HEARTBEAT_INTERVAL_MS.rebalancing) : steady;
  }
}
