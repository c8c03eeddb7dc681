/**
 * The public face of `protocol/`: everything on the wire. Other folders import from here
 * (or from a file below, for a single module); `msgpack.ts` and `test-util.ts` are internal.
 */
export { DecodeError } from "./decode-error.js";

export {
  MessageType,
  EntryType,
  ConfChangeType,
  emptyMessage,
  emptyConfState,
  type Entry,
  type HardState,
  type ConfState,
  type ConfChangeSingle,
  type ConfChange,
  type SnapshotMeta,
  type Snapshot,
  type Message,
  type SnapshotChunk,
} from "./raft.js";

export { encodeConfChange, decodeConfChange } from "./conf-change.js";

export { RAFT_WIRE_VERSION, RAFT_LIMITS, encodeRaftBatch, decodeRaftBatch } from "./raft-codec.js";

export {
  RECORD_BATCH_HEADER_SIZE,
  RECORD_BATCH_MAGIC,
  BATCH_LENGTH_PREFIX,
  BatchAttributes,
  batchSizeAt,
  readBatchHeader,
  verifyBatchCrc,
  stampBatch,
  iterateBatches,
  validateProducedBatch,
  encodeRecordBatch,
  decodeRecords,
  type BatchHeader,
  type RecordHeader,
  type RecordInput,
  type EncodeBatchOptions,
  type DecodedRecord,
  type BatchSpan,
} from "./record-batch.js";

export {
  ErrorCode,
  FlotillaError,
  errorCodeById,
  isRetriable,
  type ErrorSpec,
  type ErrorCodeName,
  type WireError,
  type FlotillaErrorOptions,
} from "./errors.js";

export {
  SUBJECT_ROOT,
  MAX_TOPIC_LENGTH,
  MAX_CLUSTER_LENGTH,
  subjects,
  clusterNameProblem,
  topicNameProblem,
  encodeTopicToken,
  decodeTopicToken,
  clientPublishSubjects,
  brokerOnlySubjects,
  parseSubject,
  type PartitionOp,
  type ParsedSubject,
} from "./subjects.js";
