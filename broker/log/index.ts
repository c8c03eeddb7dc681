/** The public face of broker/log: the partition log, its group committer, and their errors. */
export { SegmentLog } from "./segment-log.js";
export type { AppendEntry, CompactionOptions, CompactionReport, LogIo, RetentionPolicy, SegmentLogOptions, StoredEntry } from "./segment-log.js";
export { LogWorkerPool } from "./log-worker-pool.js";
export type { BatchIdEntry } from "./batch-id-scan.js";
export { GroupCommitter, ThreadPoolSyncer } from "./group-committer.js";
export type { CommitterStats, FsyncFailure, GroupCommitterOptions, Syncer } from "./group-committer.js";
export { LogError, LogErrorCode } from "./log-error.js";
export { RaftLogStorage, opaqueEntryCodec } from "./raft-storage.js";
export type { EntryCodec, PersistWork, RaftLogStorageOptions, RaftStateStore, StoredSnapshot } from "./raft-storage.js";
