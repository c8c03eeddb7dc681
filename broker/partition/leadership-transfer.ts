/** Choosing whom to hand leadership to, and the hand-off away from a follower that lost its log. */
import type { Logger } from "pino";
import type { Message } from "../../protocol/raft.js";
import type { Status } from "../raft/index.js";

/** The most caught-up recently active voter other than `exclude` (0: none). */
export function mostCaughtUpVoter(status: Status, exclude: number[]): number {
  let target = 0;
  let best = -1;
  for (const [id, p] of status.progress ?? []) {
    if (exclude.includes(id) || p.isLearner || !p.recentActive || !status.confState.voters.includes(id)) continue;
    if (p.match > best) {
      best = p.match;
      target = id;
    }
  }
  return target;
}

/**
 * A follower that rejects an append with a hint below the match it acknowledged has lost its log.
 * The core keeps trusting the old match (it ignores such rejects: stale, by Raft's rules), so this
 * leader would never send it the missing entries. A new leader starts every follower's progress
 * afresh and probes it, so hand leadership to the most up-to-date other voter (at most once per
 * election timeout). Committed entries are safe: the new leader is elected by a majority that
 * does not need the amnesiac's vote, which it withholds while recovering.
 */
export class LostFollowerHandOff {
  private lastHandOff = 0;

  constructor(
    private readonly id: number,
    /** The election timeout: at most one hand-off per this many milliseconds. */
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  /** For a rejected AppResp seen by the leader: the voter to hand leadership to now, or 0. */
  check(m: Message, status: Status): number {
    const pr = status.progress?.get(m.from);
    if (!pr || m.term !== status.hardState.term || m.rejectHint >= pr.match) return 0;
    const now = Date.now();
    if (now - this.lastHandOff < this.intervalMs) return 0;
    const target = mostCaughtUpVoter(status, [this.id, m.from]);
    this.logger.warn({ follower: m.from, acknowledged: pr.match, hint: m.rejectHint, transferTo: target }, "a follower lost entries it had acknowledged");
    if (target === 0) return 0;
    this.lastHandOff = now;
    return target;
  }
}
