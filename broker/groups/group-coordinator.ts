/**
 * The coordinator of the groups that hash to one `__consumer_offsets` partition, held by that
 * partition's leader: every group's membership and assignment (ConsumerGroup, in memory only),
 * and every group's committed offsets (rebuilt from the partition by `applyCommits`, kept current
 * by appending each commit to it). Pure apart from `append`: the clock and ids are injected.
 *
 * A new coordinator (after a leader change) starts with offsets only: members of the old one get
 * UNKNOWN_MEMBER on their next heartbeat, stop consuming, commit what they finished, and join
 * again. For `takeoverGraceMs` it hands out no partition, so members still consuming under the old
 * coordinator have stopped before anyone else is given their partitions — and it takes their
 * commits though it does not know them, for partitions nobody owns yet: they record only what
 * those members finished, and spare the next owners a re-read.
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
import type { OffsetCommit } from "./offset-records.js";
import { fromTopicPartitions, partitionKey, splitKey, type PartitionKey } from "./partition-key.js";
import type { PartitionCount } from "./sticky-assignor.js";

/** How often members heartbeat while nothing moves, and while partitions are moving. */
export const HEARTBEAT_INTERVAL_MS = { steady: 3000, rebalancing: 200 } as const;

export interface GroupCoordinatorOptions {
  now(): number;
  partitionsOf: PartitionCount;
  /** Appends commits to the offsets partition; resolves once its Raft group has committed them. */
  append(commits: OffsetCommit[]): Promise<void>;
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

  /** Commits read back from the offsets partition (in log order), or just appended to it. */
  applyCommits(commits: readonly OffsetCommit[]): void {
    for (const c of commits) {
      let group = this.offsets.get(c.groupId);
      if (!group) {
        group = new Map();
        this.offsets.set(c.groupId, group);
      }
      group.set(partitionKey(c.topic, c.partition), c.offset);
    }
  }

  join(req: JoinGroupRequest): JoinGroupResponse {
    const now = this.o.now();
    let group = this.groups.get(req.groupId);
    if (req.memberId !== undefined && !group?.has(req.memberId)) throw unknownMember(req.groupId, req.memberId);
    if (!group) {
      group = new ConsumerGroup(req.groupId, this.o.partitionsOf);
      this.groups.set(req.groupId, group);
    }
    const memberId = req.memberId ?? this.o.newMemberId(req.clientId);
    group.join({ memberId, clientId: req.clientId, topics: [...new Set(req.topics)].sort(), sessionTimeoutMs: req.sessionTimeoutMs, rebalanceTimeoutMs: req.rebalanceTimeoutMs }, now);
    const assignment = group.assignmentOf(memberId, now, this.mayGrant(now));
    return { memberId, generation: group.generation, heartbeatIntervalMs: this.interval(group, req.sessionTimeoutMs), assignment };
  }

  heartbeat(req: HeartbeatRequest): GroupAssignment {
    const now = this.o.now();
    const group = this.group(req.groupId, req.memberId);
    const assignment = group.heartbeat(req.memberId, fromTopicPartitions(req.owned), now, this.mayGrant(now));
    return { generation: group.generation, heartbeatIntervalMs: this.interval(group, group.sessionTimeoutOf(req.memberId)), assignment };
  }

  leave(req: MemberRequest): void {
    const group = this.group(req.groupId, req.memberId);
    group.leave(req.memberId);
    if (group.size === 0) this.groups.delete(req.groupId);
  }

  /** Removes members whose session or rebalance timeout ran out; their partitions go to the others. */
  expire(): void {
    const now = this.o.now();
    for (const [id, group] of this.groups) {
      group.expire(now);
      if (group.size === 0) this.groups.delete(id);
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
    const commits = offsets.map((o) => ({ groupId, topic: o.topic, partition: o.partition, offset: o.offset }));
    await this.o.append(commits);
    this.applyCommits(commits);
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
