/** The public face of broker/partition: a partition replica (Raft driver, dedup, fetch) and its router. */
export { PartitionReplica, validateReplicaOptions } from "./partition-replica.js";
export type { Acks, FetchRequest, FetchResult, LeaderChange, PartitionReplicaOptions, ProduceRequest, ProduceResult } from "./partition-replica.js";
export { RaftRouter } from "./raft-router.js";
export type { GroupHandler } from "./raft-router.js";
