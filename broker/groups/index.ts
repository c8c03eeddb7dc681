/** Consumer groups: the coordinator's pure logic (membership, sticky assignment, offsets as records). */
export { GroupCoordinator, HEARTBEAT_INTERVAL_MS, type GroupCoordinatorOptions } from "./group-coordinator.js";
export { encodeOffsetBatch, encodeMembersBatch, decodeGroupBatch, type OffsetCommit, type GroupMembers, type GroupRecord } from "./group-records.js";
export type { PartitionCount } from "./sticky-assignor.js";
