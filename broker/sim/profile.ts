import type { BugName } from "../raft/types.js";
import type { NetworkFaults } from "./network.js";
import type { Rng } from "./rng.js";

/** What the user chose: cluster size, run length, an injected bug, and which faults are allowed. */
export interface SimOptions {
  nodes: number;
  /** Ticks of fault phases per seed (each seed also runs heal phases until it recovers). */
  steps: number;
  bug?: BugName;
  loss: boolean;
  dup: boolean;
  reorder: boolean;
  partition: boolean;
  crash: boolean;
  conf: boolean;
  transfer: boolean;
  snapshot: boolean;
  reads: boolean;
}

export const DEFAULT_STEPS = 400;

/** The faults and activities that `--no-NAME` switches off. */
export const FAULT_FLAGS = ["loss", "dup", "reorder", "partition", "crash", "conf", "transfer", "snapshot", "reads"] as const;

export function defaultOptions(): SimOptions {
  return {
    nodes: 3,
    steps: DEFAULT_STEPS,
    loss: true,
    dup: true,
    reorder: true,
    partition: true,
    crash: true,
    conf: true,
    transfer: true,
    snapshot: true,
    reads: true,
  };
}

/** The command that reruns exactly one seed with the same settings. */
export function replayCommand(seed: number, o: SimOptions): string {
  const defaults = defaultOptions();
  let cmd = `npm run sim -- --seeds 1 --from ${seed}`;
  if (o.nodes !== defaults.nodes) cmd += ` --nodes ${o.nodes}`;
  if (o.steps !== defaults.steps) cmd += ` --steps ${o.steps}`;
  if (o.bug !== undefined) cmd += ` --bug ${o.bug}`;
  for (const f of FAULT_FLAGS) if (!o[f]) cmd += ` --no-${f}`;
  return cmd;
}

/**
 * One seed's personality. Seeds differ in how hostile the world is and how the core is tuned, so
 * that a few thousand seeds cover both gentle runs (long stable leaderships, deep pipelines) and the
 * narrow shapes the known bugs need (see FLAVORS).
 */
export interface Profile {
  flavor: Flavor;
  electionTick: number;
  heartbeatTick: number;
  preVote: boolean;
  checkQuorum: boolean;
  leaseRead: boolean;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  maxUncommittedEntriesSize: number;
  snapshotChunkSize: number;
  net: NetworkFaults;
  maxFsyncDelay: number;
  /** Per-tick probabilities of each kind of event during a fault phase. */
  crashRate: number;
  /** Probability that a node crashes within a few ticks of becoming leader. */
  freshLeaderCrash: number;
  /** Probability that a leader crashes right after its first commit in its term. */
  firstCommitCrash: number;
  /** Probability that a node crashes in the tick it grants a vote. */
  voterCrash: number;
  maxDownTicks: number;
  partitionRate: number;
  /** Probability that a new leader, or a leader at its first commit, is cut off from everyone. */
  freshLeaderIsolate: number;
  /** Probability of a random split when a membership change is first applied. */
  confPartition: number;
  maxPartitionTicks: number;
  proposeRate: number;
  readRate: number;
  confRate: number;
  /** Probability that a new leader is asked for a membership change as soon as it is elected. */
  confOnElection: number;
  transferRate: number;
  snapshotRate: number;
  /** Length of one fault phase in ticks. */
  faultTicks: number;
  /** Nodes apply committed entries before their own write is durable (RaftConfig.applyBeforePersist). */
  applyBeforePersist: boolean;
  /** Followers learn a commit from the next App or heartbeat (RaftConfig.lazyCommitPropagation). */
  lazyCommitPropagation: boolean;
}

export const ELECTION_TICK = 10;

/**
 * What a seed's faults aim at. Every flavor runs every fault; each also sharpens the few that
 * build one family of dangerous states, so that a few thousand seeds reach all of them:
 * - churn: a fixed membership whose new leaders are cut off at election or die at their first
 *   commit, so terms pile up with entries stranded on one node each (the logs of Raft's
 *   Figure 8, the only place where committing an old term's entry by counting replicas loses it);
 * - membership: frequent changes, retried on every new leader, with partitions as they apply;
 * - votes: nodes that crash right after granting a vote, and more clusters without pre-vote.
 */
export const FLAVORS = ["mixed", "churn", "membership", "votes"] as const;
export type Flavor = (typeof FLAVORS)[number];

export function drawProfile(rng: Rng, o: SimOptions): Profile {
  const flavor = rng.pick<Flavor>(["mixed", "mixed", "churn", "churn", "membership", "membership", "votes"]);
  const churn = flavor === "churn";
  const membership = flavor === "membership";
  const votes = flavor === "votes";
  const preVote = rng.chance(churn || votes ? 0.5 : 0.8);
  // Without pre-vote, only leader stickiness (which comes with check-quorum) keeps a removed node
  // that never learns of its removal from deposing leader after leader (Raft thesis §4.2.3).
  const checkQuorum = !preVote || rng.chance(0.75);
  // Our payloads are a few bytes: 1 means "one entry per App", which Figure 8 needs. A window of
  // one one-entry App would make the pipe slower than the clients, so it gets a deeper window.
  const oneEntryApps = churn || rng.chance(0.5);
  return {
    flavor,
    electionTick: ELECTION_TICK,
    heartbeatTick: rng.range(1, 3),
    preVote,
    checkQuorum,
    leaseRead: checkQuorum && rng.chance(0.3),
    maxSizePerMsg: oneEntryApps ? 1 : 1024,
    maxInflightMsgs: oneEntryApps ? rng.pick([8, 32, 256]) : rng.pick([1, 2, 4, 16, 256]),
    // Flow control bounds the backlog a partitioned leader builds, which a healed cluster must drain.
    maxUncommittedEntriesSize: rng.pick([32, 128]), // payloads are 4 bytes: 8 or 32 entries
    snapshotChunkSize: rng.range(8, 40),
    // Votes seeds have a jittery network: late copies of vote requests reach rebooted voters.
    net: {
      loss: o.loss ? rng.pick([0, 0.01, 0.05, 0.1, 0.2]) : 0,
      dup: o.dup ? rng.pick(votes ? [0.1, 0.2] : [0, 0.02, 0.1]) : 0,
      reorder: o.reorder ? rng.pick(votes ? [0.1] : [0, 0.02, 0.1]) : 0,
      maxDelay: votes ? 3 : rng.range(1, 3),
      longDelay: o.reorder ? rng.pick(votes ? [0.02] : [0, 0.005, 0.02]) : 0,
      maxLongDelay: 3 * ELECTION_TICK,
    },
    maxFsyncDelay: rng.range(1, 3),
    // Churn seeds aim their faults at leaders; background faults there mostly blur the shapes.
    crashRate: o.crash ? rng.pick(churn ? [0.002] : [0.002, 0.01, 0.03]) : 0,
    // In churn seeds a leader dies at its first commit rather than at its election, so that its
    // stranded no-op survives on its disk.
    freshLeaderCrash: o.crash && !churn ? rng.pick([0, 0.2]) : 0,
    firstCommitCrash: o.crash ? rng.pick(churn ? [0.3, 0.6] : [0, 0.2]) : 0,
    voterCrash: o.crash ? rng.pick(votes ? [0.3, 0.6] : [0, 0.1]) : 0,
    maxDownTicks: rng.pick([3, 20, 60]),
    partitionRate: o.partition ? rng.pick(churn ? [0.005] : [0.005, 0.02, 0.05]) : 0,
    freshLeaderIsolate: o.partition ? rng.pick(churn ? [0.5, 0.8] : [0, 0.2]) : 0,
    confPartition: o.partition ? rng.pick(membership ? [0.3, 0.6] : [0, 0.3]) : 0,
    maxPartitionTicks: rng.pick(churn ? [40, 100] : [10, 40, 100]),
    proposeRate: rng.pick([0.3, 0.7, 1]),
    readRate: o.reads ? rng.pick([0.1, 0.3]) : 0,
    confRate: o.conf && !churn ? rng.pick(membership ? [0.05] : [0.01, 0.05]) : 0,
    confOnElection: o.conf && !churn ? rng.pick(membership ? [0.3, 0.6] : [0, 0.3]) : 0,
    transferRate: o.transfer ? rng.pick([0.002, 0.01, 0.03]) : 0,
    snapshotRate: o.snapshot ? rng.pick([0.01, 0.05]) : 0,
    // Churn shapes take a few elections to build: their fault phases are long.
    faultTicks: churn ? rng.range(150, 400) : rng.range(60, 200),
    // Drawn last, so that every earlier draw (and so each seed's other choices) stays as it was.
    applyBeforePersist: rng.chance(0.5),
    lazyCommitPropagation: rng.chance(0.5),
  };
}
