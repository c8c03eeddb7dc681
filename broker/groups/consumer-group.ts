/**
 * One consumer group's membership and assignment, as its coordinator keeps them in memory. Pure:
 * the caller passes the time in.
 *
 * Each member has a `target` (what the sticky assignor wants it to consume) and `owned` (what it
 * may be consuming: partitions handed to it in an answer and not yet reported given up). A
 * partition moving from A to B leaves A's target first; A's next answer no longer lists it, A
 * stops consuming it, commits, and reports `owned` without it; only then does B's next answer
 * list it. So no two members ever consume one partition at once, and each member's offsets are
 * committed before the next owner reads them. A member that does not give up a partition within
 * its rebalance timeout, or does not heartbeat within its session timeout, is removed and its
 * partitions are free at once.
 *
 * Invariant: the `owned` sets of the members are disjoint.
 *
 * A group restored by a new coordinator (from its last members record) knows its members but not
 * what each consumes: until each has reported its `owned` set in a heartbeat, or been removed at its
 * session timeout, the group hands nothing out and takes nothing away, so members go on consuming
 * through a coordinator change. Then the sticky assignor starts from what they reported.
 */
import { FlotillaError } from "../../protocol/errors.js";
import type { GroupState, TopicPartitions } from "../../protocol/requests.js";
import { toTopicPartitions, type PartitionKey } from "./partition-key.js";
import { stickyAssignment, type PartitionCount } from "./sticky-assignor.js";

export interface MemberJoin {
  memberId: string;
  clientId: string;
  topics: string[];
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
}

interface Member extends MemberJoin {
  lastSeen: number;
  owned: Set<PartitionKey>;
  /** Restored by a new coordinator and not heard from since: `owned` is not known yet. */
  unconfirmed: boolean;
  /** When it began to hold a partition its target no longer lists (0: it holds none). */
  revokingSince: number;
}

export interface MemberView {
  memberId: string;
  clientId: string;
  assignment: TopicPartitions[];
}

export class ConsumerGroup {
  /** Moves on every change of membership or target assignment. */
  generation = 0;
  private readonly members = new Map<string, Member>();
  private target = new Map<string, Set<PartitionKey>>();
  /** The partition counts the target was computed with, to notice a topic created or grown. */
  private countsSeen = "";

  constructor(
    readonly groupId: string,
    private readonly partitionsOf: PartitionCount,
  ) {}

  /** The group as its members record left it, each member's session starting now. */
  static restore(groupId: string, partitionsOf: PartitionCount, generation: number, members: readonly MemberJoin[], now: number): ConsumerGroup {
    const g = new ConsumerGroup(groupId, partitionsOf);
    g.generation = generation;
    for (const m of members) g.members.set(m.memberId, { ...m, topics: [...m.topics], lastSeen: now, owned: new Set(), unconfirmed: true, revokingSince: 0 });
    return g;
  }

  /** The members as a members record keeps them. */
  memberJoins(): MemberJoin[] {
    return [...this.members.values()].map(({ memberId, clientId, topics, sessionTimeoutMs, rebalanceTimeoutMs }) => ({ memberId, clientId, topics, sessionTimeoutMs, rebalanceTimeoutMs }));
  }

  get size(): number {
    return this.members.size;
  }

  has(memberId: string): boolean {
    return this.members.has(memberId);
  }

  /** The member that may be consuming the partition, if any. */
  holderOf(key: PartitionKey): string | undefined {
    for (const m of this.members.values()) if (m.owned.has(key)) return m.memberId;
    return undefined;
  }

  /** Adds a member, or updates a known one (a rejoin keeps what it owns). Returns whether its record changed. */
  join(m: MemberJoin, now: number): boolean {
    const known = this.members.get(m.memberId);
    const sameTopics = known !== undefined && known.topics.length === m.topics.length && known.topics.every((t, i) => t === m.topics[i]);
    this.members.set(m.memberId, { ...m, lastSeen: now, owned: known?.owned ?? new Set(), unconfirmed: known?.unconfirmed ?? false, revokingSince: known?.revokingSince ?? 0 });
    if (!sameTopics) this.rebalance();
    return known === undefined || !sameTopics || known.sessionTimeoutMs !== m.sessionTimeoutMs || known.rebalanceTimeoutMs !== m.rebalanceTimeoutMs || known.clientId !== m.clientId;
  }

  /**
   * A member's heartbeat: `reported` is what it still consumes. Returns what it may consume now;
   * with `mayGrant` false (a coordinator that just took over) nothing new is handed out.
   */
  heartbeat(memberId: string, reported: ReadonlySet<PartitionKey>, now: number, mayGrant: boolean): TopicPartitions[] {
    const m = this.member(memberId);
    m.lastSeen = now;
    if (m.unconfirmed) this.confirm(m, reported);
    for (const k of m.owned) if (!reported.has(k)) m.owned.delete(k);
    if (this.countsChanged()) this.rebalance();
    return this.grant(m, now, mayGrant);
  }

  /** What a member may consume now (a join's answer). */
  assignmentOf(memberId: string, now: number, mayGrant: boolean): TopicPartitions[] {
    return this.grant(this.member(memberId), now, mayGrant);
  }

  /** A restored member's first heartbeat: it owns what it reports, unless another member reported it first. */
  private confirm(m: Member, reported: ReadonlySet<PartitionKey>): void {
    for (const k of reported) if (this.holderOf(k) === undefined) m.owned.add(k);
    m.unconfirmed = false;
    this.restored();
  }

  private restoring(): boolean {
    for (const m of this.members.values()) if (m.unconfirmed) return true;
    return false;
  }

  /** Once no member is unconfirmed, the assignor starts from what the members own. */
  private restored(): void {
    if (this.restoring() || this.target.size > 0) return;
    this.target = new Map([...this.members.values()].map((m) => [m.memberId, new Set(m.owned)]));
    this.rebalance();
  }

  /** Hands the member the target partitions nobody else holds; returns all it may consume. */
  private grant(member: Member, now: number, mayGrant: boolean): TopicPartitions[] {
    if (this.restoring()) return toTopicPartitions(member.owned);
    const target = this.target.get(member.memberId) ?? new Set<PartitionKey>();
    const mine: PartitionKey[] = [];
    for (const k of target) {
      if (member.owned.has(k)) mine.push(k);
      else if (mayGrant && this.holderOf(k) === undefined) {
        member.owned.add(k);
        mine.push(k);
      }
    }
    const revoking = [...member.owned].some((k) => !target.has(k));
    member.revokingSince = revoking ? member.revokingSince || now : 0;
    return toTopicPartitions(mine);
  }

  leave(memberId: string): boolean {
    if (!this.members.delete(memberId)) return false;
    this.rebalance();
    this.restored();
    return true;
  }

  /** Removes members past their session timeout, or past their rebalance timeout with a partition to give up; returns their ids. */
  expire(now: number): string[] {
    const gone: string[] = [];
    for (const m of this.members.values()) {
      const silent = now - m.lastSeen > m.sessionTimeoutMs;
      const holdingOn = m.revokingSince !== 0 && now - m.revokingSince > m.rebalanceTimeoutMs;
      if (silent || holdingOn) gone.push(m.memberId);
    }
    for (const id of gone) this.members.delete(id);
    if (gone.length > 0) this.rebalance();
    this.restored();
    return gone;
  }

  /** "rebalancing" while some member owns other than its target (a move under way, or not yet handed out). */
  state(): GroupState {
    if (this.members.size === 0) return "empty";
    if (this.restoring()) return "rebalancing";
    for (const m of this.members.values()) {
      const target = this.target.get(m.memberId)!;
      if (target.size !== m.owned.size || [...target].some((k) => !m.owned.has(k))) return "rebalancing";
    }
    return "stable";
  }

  describe(): MemberView[] {
    return [...this.members.values()].map((m) => ({ memberId: m.memberId, clientId: m.clientId, assignment: toTopicPartitions(m.owned) }));
  }

  sessionTimeoutOf(memberId: string): number {
    return this.member(memberId).sessionTimeoutMs;
  }

  private member(memberId: string): Member {
    const m = this.members.get(memberId);
    if (!m) throw unknownMember(this.groupId, memberId);
    return m;
  }

  private countsSignature(): string {
    const topics = new Set<string>();
    for (const m of this.members.values()) for (const t of m.topics) topics.add(t);
    return [...topics].sort().map((t) => `${t}=${this.partitionsOf(t) ?? -1}`).join(",");
  }

  private countsChanged(): boolean {
    return this.countsSignature() !== this.countsSeen;
  }

  private rebalance(): void {
    if (this.restoring()) return;
    this.countsSeen = this.countsSignature();
    const next = stickyAssignment([...this.members.values()], this.partitionsOf, this.target);
    if (!sameAssignment(next, this.target)) this.generation++;
    this.target = next;
  }
}

export function unknownMember(groupId: string, memberId: string): FlotillaError {
  return new FlotillaError("UNKNOWN_MEMBER", `group ${groupId} has no member ${memberId} (its session expired, it left, or the coordinator moved); join again without a member id`);
}

function sameAssignment(a: ReadonlyMap<string, ReadonlySet<PartitionKey>>, b: ReadonlyMap<string, ReadonlySet<PartitionKey>>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, set] of a) {
    const other = b.get(id);
    if (!other || other.size !== set.size || [...set].some((k) => !other.has(k))) return false;
  }
  return true;
}
