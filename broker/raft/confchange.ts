import { ConfChangeType, type ConfChange, type ConfChangeSingle } from "../../protocol/raft.js";
import type { Progress } from "./progress.js";
import { cloneConfig, isJoint, type ProgressTracker, type TrackerConfig } from "./tracker.js";

/** A membership change that cannot be applied as asked. */
export class ConfChangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfChangeError";
  }
}

/** How a ConfChange is carried out: enter joint consensus (and whether to leave it automatically), leave it, or apply directly. */
export function confChangeMode(cc: ConfChange): { kind: "leave" } | { kind: "enter"; autoLeave: boolean } | { kind: "simple" } {
  if (cc.changes.length === 0) return { kind: "leave" };
  if (cc.transition !== "auto" || cc.changes.length > 1) {
    return { kind: "enter", autoLeave: cc.transition === "auto" || cc.transition === "joint-implicit" };
  }
  return { kind: "simple" };
}

/**
 * Computes the config and progress map that result from a change, without touching the tracker:
 * the caller swaps them in at once. `lastIndex` seeds the progress of new members.
 */
export class Changer {
  private cfg: TrackerConfig;
  private prs: Map<number, Progress>;

  constructor(
    private readonly tracker: ProgressTracker,
    private readonly lastIndex: number,
  ) {
    this.cfg = cloneConfig(tracker.config);
    this.prs = new Map(tracker.progress);
  }

  /** Enters joint consensus: the current voters become the outgoing half, `changes` shape the incoming one. */
  enterJoint(autoLeave: boolean, changes: ConfChangeSingle[]): [TrackerConfig, Map<number, Progress>] {
    if (isJoint(this.cfg)) throw new ConfChangeError("config is already joint");
    if (this.cfg.incoming.size === 0) throw new ConfChangeError("can't make a zero-voter config joint");
    this.cfg.outgoing = new Set(this.cfg.incoming);
    this.apply(changes);
    this.cfg.autoLeave = autoLeave;
    return [this.cfg, this.prs];
  }

  /** Leaves joint consensus: the outgoing half is dropped, `learnersNext` become learners. */
  leaveJoint(): [TrackerConfig, Map<number, Progress>] {
    if (!isJoint(this.cfg)) throw new ConfChangeError("can't leave a non-joint config");
    for (const id of this.cfg.learnersNext) {
      this.cfg.learners.add(id);
      this.mutable(id).isLearner = true;
    }
    this.cfg.learnersNext.clear();
    for (const id of this.cfg.outgoing) {
      if (!this.cfg.incoming.has(id) && !this.cfg.learners.has(id)) this.prs.delete(id);
    }
    this.cfg.outgoing.clear();
    this.cfg.autoLeave = false;
    return [this.cfg, this.prs];
  }

  /**
   * Applies changes directly. Safe only when at most one voter changes, because then every
   * majority of the old set intersects every majority of the new one. `allowMany` exists only to
   * inject the `single-step-joint` bug.
   */
  simple(changes: ConfChangeSingle[], allowMany = false): [TrackerConfig, Map<number, Progress>] {
    if (isJoint(this.cfg)) throw new ConfChangeError("can't apply simple config change in joint config");
    const before = new Set(this.cfg.incoming);
    this.apply(changes);
    let diff = 0;
    for (const id of before) if (!this.cfg.incoming.has(id)) diff++;
    for (const id of this.cfg.incoming) if (!before.has(id)) diff++;
    if (diff > 1 && !allowMany) throw new ConfChangeError("more than one voter changed without entering joint config");
    return [this.cfg, this.prs];
  }

  private apply(changes: ConfChangeSingle[]): void {
    for (const c of changes) {
      switch (c.type) {
        case ConfChangeType.AddNode:
          this.makeVoter(c.nodeId);
          break;
        case ConfChangeType.AddLearner:
          this.makeLearner(c.nodeId);
          break;
        case ConfChangeType.RemoveNode:
          this.remove(c.nodeId);
          break;
      }
    }
    if (this.cfg.incoming.size === 0) throw new ConfChangeError("removed all voters");
  }

  private initProgress(id: number, isLearner: boolean): void {
    if (isLearner) this.cfg.learners.add(id);
    else this.cfg.incoming.add(id);
    // Next = lastIndex so that the first App probes the new member's log.
    const pr = this.tracker.newProgress(Math.max(this.lastIndex, 1), isLearner);
    // A new member counts as active so that check-quorum does not depose the leader at once.
    pr.recentActive = true;
    this.prs.set(id, pr);
  }

  /**
   * The progress of `id` to change: a copy of the tracker's on first change, so that a change
   * refused halfway (it throws) leaves the tracker's progress untouched.
   */
  private mutable(id: number): Progress {
    const pr = this.prs.get(id)!;
    if (this.tracker.progress.get(id) !== pr) return pr;
    const copy = Object.assign(Object.create(Object.getPrototypeOf(pr) as object) as Progress, pr);
    this.prs.set(id, copy);
    return copy;
  }

  private makeVoter(id: number): void {
    const pr = this.prs.get(id);
    if (!pr) return this.initProgress(id, false);
    this.mutable(id).isLearner = false;
    this.cfg.learners.delete(id);
    this.cfg.learnersNext.delete(id);
    this.cfg.incoming.add(id);
  }

  private makeLearner(id: number): void {
    const pr = this.prs.get(id);
    if (!pr) return this.initProgress(id, true);
    if (pr.isLearner) return;
    this.remove(id);
    this.prs.set(id, pr);
    // An outgoing voter keeps voting until the joint state is left; only then is it a learner.
    if (this.cfg.outgoing.has(id)) this.cfg.learnersNext.add(id);
    else {
      this.mutable(id).isLearner = true;
      this.cfg.learners.add(id);
    }
  }

  private remove(id: number): void {
    if (!this.prs.has(id)) return;
    this.cfg.incoming.delete(id);
    this.cfg.learners.delete(id);
    this.cfg.learnersNext.delete(id);
    // An outgoing voter keeps its progress: it still votes until the joint state is left.
    if (!this.cfg.outgoing.has(id)) this.prs.delete(id);
  }
}
