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
  let recoveredAt = -1;
  let maxRecoveryTicks = 0;
  cluster.onProposalCommitted = (id) => {
    if (!faultPhase && recoveredAt < 0 && id >= firstFreshProposal) recoveredAt = cluster.now;
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
      recoveredAt = -1;
      while (recoveredAt < 0) {
        if (cluster.now - healedAt >= LIVENESS_BOUND) {
          const leader = cluster.leader();
          throw new Violation(
            "liveness",
            `no fresh proposal committed within ${LIVENESS_BOUND} ticks of healing at t=${healedAt} ` +
              `(leader: ${leader === undefined ? "none" : `${leader.id} of term ${leader.term}`}, members: ${cluster.members().join(",")})`,
          );
        }
        cluster.step();
        workload.tick(false);
      }
      maxRecoveryTicks = Math.max(maxRecoveryTicks, recoveredAt - healedAt);
      if (faultTicks >= options.steps) break;
      faultPhase = true;
      faults.unleash();
      const len = Math.min(profile.faultTicks, options.steps - faultTicks);
      for (let i = 0; i < len; i++) {
        cluster.step();
        faults.tick();
        workload.tick(true);
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
