export { RawNode, type RaftLogView } from "./raw-node.js";
export { MemoryStorage } from "./memory-storage.js";
export { bootstrapState } from "./bootstrap.js";
export {
  KNOWN_BUGS,
  SIMULATED_BUGS,
  ProposalDroppedError,
  StateRole,
  type BugName,
  type ProgressStatus,
  type RaftConfig,
  type ReadState,
  type Ready,
  type SoftState,
  type Status,
  type Storage,
} from "./types.js";
