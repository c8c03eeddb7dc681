import { Cluster } from "./cluster.js";
import { Violation, type Property } from "./checker.js";
import { Faults } from "./faults.js";
import { drawProfile, type SimOptions } from "./profile.js";
import { Rng } from "./rng.js";
import { Workload } from "./workload.js";

/**
 * After the faults heal, a leader must be elected and a fresh proposal committed within this many
 * ticks: twenty election timeouts, room for restarted nodes to time out, split votes between
 * candidates whose logs differ (a joint config whose new voters are still empty grants its votes
 * to whoever asks first), snapshots to reach new voters, and the backlog to drain. A cluster that
 * is really stuck never recovers, so a generous bound costs nothing in what it catches.
 */
export const LIVENESS_BOUND = 200;
/**
 * ...and every member, learners too, must have applied that proposal within this many, with no
 * proposal after it (the settle phase): a member far behind catches up one small App at a time,
 * but one that is stuck never does.
 */
export const CONVERGENCE_BOUND = 2 * LIVENESS_BOUND;

export interface SeedResult {
  seed: number;
  /** Ticks simulated. */
  steps: number;
  elections: number;
  committed: number;
  reads: number;
  confChanges: number;
  snapshots: number;
  maxRecoveryTicks: number;
  violation?: { property: Property; detail: string; trace: string[]; state: string[] };
}

function livenessViolation(cluster: Cluster, healedAt: number, freshIndex: number): Violation {
  if (freshIndex > 0) {
    return new Violation(
      "liveness",
      `members ${cluster.lagging(freshIndex).join(",")} did not apply index ${freshIndex} within ${CONVERGENCE_BOUND} ticks of healing at t=${healedAt}`,
    );
  }
  const within = `within ${LIVENESS_BOUND} ticks of healing at t=${healedAt}`;
  const leader = cluster.leader();
  return new Violation(
    "liveness",
    `no fresh proposal committed ${within} (leader: ${leader === undefined ? "none" : `${leader.id} of term ${leader.term}`}, ` +
      `members: ${cluster.members().join(",")})`,
  );
}

/**
 * Runs one seeded cluster: a heal phase (the cluster must come up), then fault phases of the
 * profile's length, each followed by a heal phase in which it must recover, until `options.steps`
 * fault ticks have run. The first violation ends the run.
 */
export function runSeed(seed: number, options: SimOptions): SeedResult {
  const rng = new Rng(seed);
  const profile = drawProfile(rng.fork(), options);
  const cluster = new Cluster(options, profile, rng.fork());
  const faults = new Faults(cluster, profile, rng.fork());
  const workload = new Workload(cluster, profile, rng.fork());
  let faultPhase = false;
  let firstFreshProposal = 1;
  /** Index of the first proposal made after healing that committed (0: none yet). */
  let freshIndex = 0;
  let maxRecoveryTicks = 0;
  cluster.onProposalCommitted = (id, index) => {
    if (!faultPhase && freshIndex === 0 && id >= firstFreshProposal) freshIndex = index;
  };
  cluster.onLeader = (n) => {
    if (!faultPhase) return;
    faults.leaderElected(n);
    workload.leaderElected(n);
  };
  cluster.onLeaderCommit = (n) => {
    if (faultPhase) faults.leaderCommitted(n);
  };
  cluster.onMembershipChange = () => {
    if (faultPhase) faults.membershipChanged();
  };
  cluster.onVote = (n) => {
    if (faultPhase) faults.voted(n);
  };
  let violation: SeedResult["violation"];
  try {
    let faultTicks = 0;
    for (;;) {
      faultPhase = false;
      faults.heal();
      const healedAt = cluster.now;
      firstFreshProposal = workload.nextProposal;
      freshIndex = 0;
      while (freshIndex === 0) {
        if (cluster.now - healedAt >= LIVENESS_BOUND) throw livenessViolation(cluster, healedAt, 0);
        cluster.step();
        workload.tick("heal");
      }
      maxRecoveryTicks = Math.max(maxRecoveryTicks, cluster.now - healedAt);
      while (cluster.lagging(freshIndex).length > 0) {
        if (cluster.now - healedAt >= CONVERGENCE_BOUND) throw livenessViolation(cluster, healedAt, freshIndex);
        cluster.step();
        workload.tick("settle");
      }
      if (faultTicks >= options.steps) break;
      faultPhase = true;
      faults.unleash();
      const len = Math.min(profile.faultTicks, options.steps - faultTicks);
      for (let i = 0; i < len; i++) {
        cluster.step();
        faults.tick();
        workload.tick("fault");
      }
      faultTicks += len;
    }
  } catch (e) {
    const v = e instanceof Violation ? e : new Violation("core-error", e instanceof Error ? (e.stack ?? e.message) : String(e));
    violation = { property: v.property, detail: v.detail, trace: cluster.trace.lines(), state: cluster.describe() };
  }
  return {
    seed,
    steps: cluster.now,
    elections: cluster.checker.elections,
    ...cluster.counters,
    maxRecoveryTicks,
    violation,
  };
}
