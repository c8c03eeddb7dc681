/**
 * FollowerLag: a leader's view of how far behind each follower is, and which replicas are in sync
 * (Kafka's ISR, by its rule: a follower is in sync while it has caught up with the leader's log
 * recently). Sampled from the Raft progress about once per election timeout, on the leader only:
 * - lag: the leader's last index minus the follower's match, in entries;
 * - caught up: the follower's match reached the leader's last index as of the previous sample
 *   (so under steady load a follower less than a sample interval behind counts as caught up);
 * - active: the leader heard from it since the previous sample (`heard`, for every message the
 *   leader steps; Raft's own recentActive is cleared by check-quorum on the same ticks, so it
 *   cannot be sampled reliably).
 * In sync = caught up and active within `maxLagMs`. The leader is always in sync; a new leader
 * counts a follower in sync only from the first sample that saw it caught up and heard from it
 * (its caller samples every tick for the first election timeout of a term, so followers that answer
 * the new leader's first append are in within a tick or two).
 */
import type { Status } from "../raft/index.js";

export interface FollowerLagReport {
  id: number;
  /** Entries the follower's log is behind the leader's (last index − match). */
  lagEntries: number;
  inSync: boolean;
}

interface Seen {
  caughtUpAt: number;
  activeAt: number;
  lagEntries: number;
}

export class FollowerLag {
  private readonly seen = new Map<number, Seen>();
  private readonly heardSinceSample = new Set<number>();
  private prevLastIndex = 0;

  constructor(
    private readonly self: number,
    private readonly maxLagMs: number,
  ) {}

  /** Starts over: this replica just became leader at `now` (its status then). */
  reset(now: number, status: Status): void {
    this.seen.clear();
    this.heardSinceSample.clear();
    this.prevLastIndex = status.lastIndex;
    this.sample(now, status);
  }

  /** A message from member `id` reached this leader. */
  heard(id: number): void {
    this.heardSinceSample.add(id);
  }

  /** Takes a sample of the leader's progress (a status with `progress`). */
  sample(now: number, status: Status): void {
    if (!status.progress) return;
    for (const [id, pr] of status.progress) {
      if (id === this.self) continue;
      const s = this.seen.get(id) ?? { caughtUpAt: -Infinity, activeAt: -Infinity, lagEntries: 0 };
      if (pr.match >= this.prevLastIndex) s.caughtUpAt = now;
      if (this.heardSinceSample.has(id)) s.activeAt = now;
      s.lagEntries = Math.max(0, status.lastIndex - pr.match);
      this.seen.set(id, s);
    }
    for (const id of this.seen.keys()) if (!status.progress.has(id)) this.seen.delete(id);
    this.prevLastIndex = status.lastIndex;
    this.heardSinceSample.clear();
  }

  /** Every member the last sample saw, with its lag, and whether it is in sync at `now`. */
  report(now: number): FollowerLagReport[] {
    return [...this.seen].map(([id, s]) => ({ id, lagEntries: s.lagEntries, inSync: this.isInSync(s, now) }));
  }

  /** The in-sync replicas at `now`, this leader first (every heartbeat to the controller asks, for every led partition). */
  inSync(now: number): number[] {
    const isr = [this.self];
    for (const [id, s] of this.seen) if (this.isInSync(s, now)) isr.push(id);
    return isr;
  }

  private isInSync(s: Seen, now: number): boolean {
    return now - s.caughtUpAt <= this.maxLagMs && now - s.activeAt <= this.maxLagMs;
  }
}
