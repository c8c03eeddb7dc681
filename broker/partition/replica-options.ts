/** The options of a PartitionReplica, and their validation. */
import type { Logger } from "pino";
import type { GroupCommitter, LogIo } from "../log/index.js";
import type { StateStore } from "../state/index.js";
import type { LearnerThrottle } from "./learner-throttle.js";
import type { RaftRouter } from "./raft-router.js";

export interface PartitionReplicaOptions {
  topic: string;
  partition: number;
  /** This broker's id: the replica's Raft node id. */
  brokerId: number;
  /**
   * The voters of a new group, written into its log as committed entry 1 (`bootstrapState`) by every
   * initial member; ignored once the replica has a checkpoint, and when `join` is set.
   */
  voters: number[];
  /**
   * A replica added to an existing group (a reassignment target): it starts with an empty log and
   * no membership, and waits for the group's leader to add it as a learner and send it the log from
   * entry 1 — whose first entry tells it the original members. Default false.
   */
  join?: boolean;
  /** The replica's own directory (its log goes in `<dir>/log`). */
  dir: string;
  committer: GroupCommitter;
  stateStore: StateStore;
  router: RaftRouter;
  logger: Logger;
  /** Milliseconds per Raft tick. Default 100. */
  tickMs?: number;
  /** Replaces the timer (tests): called with the tick function, returns a stop function. */
  ticker?: (tick: () => void) => () => void;
  /** Default 10 ticks (randomized to [10, 20)). */
  electionTick?: number;
  /** Default 1 tick. */
  heartbeatTick?: number;
  /** Randomness for election timeouts. Default Math.random. */
  random?: (n: number) => number;
  /** Batches remembered by the dedup index. Default 10,000. */
  dedupWindow?: number;
  /** Entry bytes kept in memory beyond what is unapplied or not yet durable. Default 64 MiB. */
  maxTailBytes?: number;
  /** Largest batch accepted. Default: the transport's max batch less 64 KiB. */
  maxBatchBytes?: number;
  /** How long an acks=all/leader produce waits before TIMEOUT. Default 30 s. */
  produceTimeoutMs?: number;
  /** Run a ReadIndex round before every fetch (linearizable reads; followers ask the leader). Default false. */
  linearizableFetch?: boolean;
  /**
   * Followers learn a commit from the leader's next append or heartbeat, not from an append of its
   * own (RaftConfig.lazyCommitPropagation). Right for a log whose followers serve nothing from
   * their applied state without a read index through the leader. Default true.
   */
  lazyCommitPropagation?: boolean;
  /** Serve read indexes from the leader's lease (shorter than the election timeout) instead of a heartbeat round. Default false. */
  leaseRead?: boolean;
  /** The broker's reassignment throttle: appends to learners go through it. Default: none. */
  learnerThrottle?: LearnerThrottle;
  /** The caller knows this replica existed before: an empty directory and LMDB mean a lost disk. */
  expectExisting?: boolean;
  /** A follower that has not caught up with the leader (or not been heard from) for this long is out of sync. Default 10 s. */
  replicaLagMaxMs?: number;
  /** Write the applied checkpoint every this many applied entries. Default 1000. */
  checkpointEveryEntries?: number;
  /** Passed to the SegmentLog (tests). */
  segmentBytes?: number;
  /** The SegmentLog's I/O seam (tests inject disk faults). */
  logIo?: LogIo;
}

/** Validates options, reporting every problem at once. */
export function validateReplicaOptions(o: PartitionReplicaOptions): void {
  const problems: string[] = [];
  if (!o.topic) problems.push("topic is empty");
  if (!Number.isSafeInteger(o.partition) || o.partition < 0) problems.push(`partition ${o.partition} is not a non-negative integer`);
  if (!Number.isSafeInteger(o.brokerId) || o.brokerId < 1) problems.push(`brokerId ${o.brokerId} is not a positive integer`);
  if (!Array.isArray(o.voters) || o.voters.length === 0) problems.push("voters is empty");
  else if (o.voters.some((v) => !Number.isSafeInteger(v) || v < 1)) problems.push(`voters ${o.voters.join(",")} are not all positive integers`);
  if (!o.dir) problems.push("dir is empty");
  const positive: Array<[string, number | undefined]> = [
    ["tickMs", o.tickMs],
    ["electionTick", o.electionTick],
    ["heartbeatTick", o.heartbeatTick],
    ["dedupWindow", o.dedupWindow],
    ["maxTailBytes", o.maxTailBytes],
    ["maxBatchBytes", o.maxBatchBytes],
    ["produceTimeoutMs", o.produceTimeoutMs],
    ["checkpointEveryEntries", o.checkpointEveryEntries],
    ["replicaLagMaxMs", o.replicaLagMaxMs],
  ];
  for (const [name, v] of positive) if (v !== undefined && (!Number.isFinite(v) || v <= 0)) problems.push(`${name} ${v} must be > 0`);
  if ((o.heartbeatTick ?? 1) >= (o.electionTick ?? 10)) problems.push("heartbeatTick must be below electionTick");
  if (o.maxBatchBytes !== undefined && o.maxBatchBytes > o.router.transport.maxBatchBytes - 4096) {
    problems.push(`maxBatchBytes ${o.maxBatchBytes} does not fit the transport's ${o.router.transport.maxBatchBytes}-byte messages`);
  }
  if (problems.length > 0) throw new RangeError(`invalid partition replica options: ${problems.join("; ")}`);
}
