/** The public face of broker/state: the LMDB-backed store of small transactional state. */
export { StateStore } from "./state-store.js";
export type { SnapshotRecord, StateBatch, StateStoreOptions, StateValue } from "./state-store.js";
