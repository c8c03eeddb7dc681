/** The public face of broker/partition: a partition replica (Raft driver, dedup, fetch) and its router. */
export { PartitionReplica } from "./partition-replica.js";
export { validateReplicaOptions } from "./replica-options.js";
export type { PartitionReplicaOptions } from "./replica-options.js";
export type { Acks, ProduceRequest, ProduceResult } from "./produce-request.js";
export type { FetchRequest, FetchResult } from "./fetch-request.js";
export type { LeaderChange } from "./leader-events.js";
export { RaftRouter } from "./raft-router.js";
export type { GroupHandler } from "./raft-router.js";
export { LearnerThrottle, type ThrottleClock } from "./learner-throttle.js";
