/**
 * What an operator does to a running cluster, as nemesis faults: move a partition's leader, move
 * every leader back to its preferred replica, start a partition reassignment, cancel one. A
 * reassignment is only started here; the faults that follow hit it while it runs, and `settle()`
 * at the end requires every one still open to complete.
 *
 * Each move takes its choices from draws the nemesis made whatever the cluster looks like (floats
 * in [0, 1) and a shuffled broker list), so the seed's schedule does not depend on the answers.
 */
import { REASSIGNMENT_PLAN_VERSION, type Admin, type ReassignmentPlan, type ReassignmentStatus } from "../../client/index.js";

export type OperatorMove = "transferLeader" | "rebalance" | "reassign" | "cancelReassign";

export interface MoveDraws {
  partition: number;
  replica: number;
  /** Every broker id, in a random order. */
  brokers: number[];
}

const TRANSFER_TIMEOUT_MS = 10_000;
const SETTLE_POLL_MS = 500;

/**
 * The partition's replicas are the plan's, in any order: a leader transfer after the reassignment
 * completed makes its new leader the preferred (first) replica, and the status then no longer
 * matches the plan's order.
 */
function hasPlannedSet(status: ReassignmentStatus, plan: ReassignmentPlan): boolean {
  const { replicas, status: state } = status.partitions[0];
  const planned = plan.partitions[0].replicas;
  return state !== "inProgress" && replicas.length === planned.length && planned.every((r) => replicas.includes(r));
}

export class OperatorMoves {
  /** Reassignments started and neither cancelled nor seen complete, by "topic/partition". */
  private readonly open = new Map<string, ReassignmentPlan>();
  /** Moves the cluster refused or did not finish in time: not violations, shown in the report. */
  failures = 0;

  constructor(
    private readonly admin: Admin,
    private readonly topic: string,
    private readonly replicationFactor: number,
    private readonly say: (line: string) => void,
  ) {}

  /** Carries out `move`; returns what was actually done (a cancel with nothing open starts a reassignment instead). */
  async act(move: OperatorMove, draws: MoveDraws): Promise<OperatorMove> {
    const done = move === "cancelReassign" && this.open.size === 0 ? "reassign" : move;
    try {
      await this.carryOut(done, draws);
    } catch (e) {
      this.failures++;
      this.say(`nemesis: ${done} failed: ${(e as Error).message}`);
    }
    return done;
  }

  /** Waits until every reassignment still open is complete; throws after `timeoutMs`. */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const [key, plan] of this.open) {
      for (;;) {
        const status = await this.admin.reassignmentStatus(plan).catch(() => undefined);
        if (status?.complete || (status && hasPlannedSet(status, plan))) break;
        if (Date.now() > deadline) throw new Error(`the reassignment of ${key} to ${JSON.stringify(plan.partitions[0].replicas)} did not complete after the faults: ${JSON.stringify(status?.partitions)}`);
        await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
      }
      this.open.delete(key);
    }
  }

  private async carryOut(move: OperatorMove, draws: MoveDraws): Promise<void> {
    if (move === "rebalance") {
      const moves = await this.admin.rebalanceLeaders();
      this.say(`nemesis: leader rebalance (${moves.length} moves)`);
      return;
    }
    if (move === "cancelReassign") {
      const plans = [...this.open.values()];
      const plan = plans[Math.floor(draws.partition * plans.length)];
      const { topic, partition } = plan.partitions[0];
      this.open.delete(`${topic}/${partition}`);
      const status = await this.admin.reassignmentStatus(plan);
      if (status.complete || hasPlannedSet(status, plan)) {
        this.say(`nemesis: the reassignment of ${topic}/${partition} is complete already; nothing to cancel`);
        return;
      }
      this.say(`nemesis: cancel the reassignment of ${topic}/${partition}`);
      await this.admin.cancelReassignment(plan);
      return;
    }
    const { partitions } = await this.admin.describeTopic(this.topic);
    const p = partitions[Math.floor(draws.partition * partitions.length)];
    if (move === "transferLeader") {
      const candidates = p.replicas.filter((r) => r !== p.leader);
      const to = candidates[Math.floor(draws.replica * candidates.length)];
      this.say(`nemesis: move the leader of ${this.topic}/${p.partition} from ${p.leader ?? "nobody"} to ${to}`);
      await this.admin.transferLeader({ topic: this.topic, partition: p.partition, to }, TRANSFER_TIMEOUT_MS);
      return;
    }
    if (this.open.has(`${this.topic}/${p.partition}`)) {
      this.say(`nemesis: ${this.topic}/${p.partition} is still being reassigned; left alone`);
      return;
    }
    // Replace one replica by a broker outside the set, or (no broker outside) change the preferred leader.
    const outside = draws.brokers.filter((b) => !p.replicas.includes(b));
    const target = [...p.replicas];
    if (outside.length > 0) target[Math.floor(draws.replica * target.length)] = outside[0];
    else target.push(target.shift()!);
    const plan: ReassignmentPlan = { version: REASSIGNMENT_PLAN_VERSION, partitions: [{ topic: this.topic, partition: p.partition, replicas: target.slice(0, this.replicationFactor) }] };
    this.say(`nemesis: reassign ${this.topic}/${p.partition} from ${JSON.stringify(p.replicas)} to ${JSON.stringify(target)}`);
    await this.admin.reassignPartitions(plan);
    this.open.set(`${this.topic}/${p.partition}`, plan);
  }
}
