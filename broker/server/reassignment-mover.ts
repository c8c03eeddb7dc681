/**
 * The partition-leader side of reassignment: every few hundred milliseconds, for each data
 * partition this broker leads, `nextReassignmentStep` says what brings the group's membership to
 * what the image asks for, and this runs it — a membership change proposed to the group, or
 * leadership handed on — and reports the phase reached to the controller leader, which records it
 * (`reassignmentProgress`, and `completeReassignment` for "done").
 *
 * Nothing here is remembered between steps: each one starts from the group's applied configuration
 * and the image, so a new leader (after a failure or a restart of any broker, the controller
 * included) resumes from where the group actually is. A proposal made while the previous change is
 * not applied yet is refused by Raft and simply asked again on a later step.
 */
import type { Logger } from "pino";
import type { ConfState } from "../../protocol/raft.js";
import { REASSIGNMENT_PHASES, nextReassignmentStep, sameMembers, type MoveAction, type PartitionState, type ReassignmentPhase } from "../controller/index.js";
import type { LearnerThrottle } from "../partition/index.js";
import type { ControllerClient } from "./controller-client.js";
import { replyChecks } from "./controller-messages.js";
import type { LocalPartition } from "./local-partition.js";
import type { MetadataFollower } from "./metadata-follower.js";

export interface ReassignmentMoverOptions {
  brokerId: number;
  metadata: MetadataFollower;
  controller: ControllerClient;
  logger: Logger;
  /** The data partitions this broker hosts. */
  partitions: () => Iterable<LocalPartition>;
  /** The broker's learner throttle: set to the image's reassignment throttle on every step. */
  throttle: LearnerThrottle;
}

export class ReassignmentMover {
  /** Partitions (`topicId/partition`) with a report to the controller in flight. */
  private readonly reporting = new Set<string>();
  /** The last action logged per partition, so a step repeated while it waits is logged once. */
  private readonly lastLogged = new Map<string, string>();

  constructor(private readonly options: ReassignmentMoverOptions) {}

  /** One step for every partition led here. */
  step(): void {
    const { metadata, brokerId } = this.options;
    // A partial replay of the metadata log would steer groups back to where they used to be.
    if (!metadata.caughtUp) return;
    const image = metadata.image;
    this.options.throttle.setRate(image.reassignmentThrottle);
    for (const l of this.options.partitions()) {
      if (!l.replica.isLeader) continue;
      const topic = image.topic(l.topic);
      const state = topic?.topicId === l.topicId ? topic.partitions[l.partition] : undefined;
      if (!state) continue;
      // Nearly every partition is at rest: its configuration alone says so, without the group's
      // full status (a thousand of those four times a second were most of an idle broker's CPU).
      if (!state.reassignment && atRest(l.replica.appliedConfState, state.replicas)) {
        this.act(l, { type: "idle" });
        continue;
      }
      const m = l.replica.membership();
      const decision = nextReassignmentStep(
        { self: brokerId, voters: m.confState.voters, votersOutgoing: m.confState.votersOutgoing, learners: m.confState.learners, commit: m.commit, match: (id) => m.match.get(id) ?? 0 },
        state,
      );
      if (decision.reached && behind(state, decision.reached)) this.report(l, decision.reached);
      this.act(l, decision.action);
    }
  }

  private act(l: LocalPartition, action: MoveAction): void {
    if (action.type === "idle") {
      // Every partition at rest comes here four times a second: build no key when nothing is logged.
      if (this.lastLogged.size > 0) this.lastLogged.delete(`${l.topicId}/${l.partition}`);
      return;
    }
    const key = `${l.topicId}/${l.partition}`;
    const what = action.type === "propose" ? action.why : action.type === "transferLeader" ? `hand leadership to ${action.to}` : action.why;
    if (this.lastLogged.get(key) !== what) {
      this.lastLogged.set(key, what);
      this.options.logger.info({ topic: l.topic, partition: l.partition }, `reassignment: ${what}`);
    }
    try {
      if (action.type === "propose") l.replica.proposeConfChange(action.change);
      else if (action.type === "transferLeader") l.replica.transferLeader(action.to);
    } catch (err) {
      // Most often the previous change is not applied yet, or leadership just moved: try again next step.
      this.options.logger.debug({ err, topic: l.topic, partition: l.partition }, "reassignment step not taken");
    }
  }

  private report(l: LocalPartition, step: ReassignmentPhase | "done"): void {
    const key = `${l.topicId}/${l.partition}`;
    if (this.reporting.has(key)) return;
    this.reporting.add(key);
    const { controller, logger } = this.options;
    controller
      .call({ type: "reassignmentReport", topic: l.topic, topicId: l.topicId, partition: l.partition, step }, replyChecks.write, 10_000)
      .catch((err: unknown) => logger.debug({ err, topic: l.topic, partition: l.partition, step }, "reassignment report failed; reporting again next step"))
      .finally(() => this.reporting.delete(key));
  }
}

/** Whether the image has not recorded `reached` yet. */
function behind(state: PartitionState, reached: ReassignmentPhase | "done"): boolean {
  const recorded = state.reassignment;
  if (!recorded) return false;
  return reached === "done" || REASSIGNMENT_PHASES.indexOf(reached) > REASSIGNMENT_PHASES.indexOf(recorded.phase);
}

/** No reassignment to carry on: the voters are the replicas, and nothing is joining or leaving. */
function atRest(c: ConfState, replicas: readonly number[]): boolean {
  return c.votersOutgoing.length === 0 && c.learners.length === 0 && sameMembers(c.voters, replicas);
}
