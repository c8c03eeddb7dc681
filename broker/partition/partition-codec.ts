/**
 * How a partition's Raft entries go into the SegmentLog and come back (RaftLogStorage's codec).
 * A data entry becomes a batch frame — the batch and the batch id as views of the entry, no copy —
 * and comes back (only when Raft reads below its in-memory tail: a lagging follower, or entries
 * applied again after a restart) with its 17-byte header rebuilt around the stored batch.
 */
import { EntryType, type Entry } from "../../protocol/raft.js";
import type { AppendEntry, EntryCodec, StoredEntry } from "../log/index.js";
import { encodeDataEntry, entryBatch, entryBatchId, isDataEntry } from "./entry-codec.js";

export const partitionEntryCodec: EntryCodec = {
  toLog(e: Entry): AppendEntry {
    if (isDataEntry(e)) return { kind: "batch", index: e.index, term: e.term, batch: entryBatch(e.data), batchId: entryBatchId(e.data), entryType: e.type };
    return { kind: "control", index: e.index, term: e.term, entryType: e.type, data: e.data };
  },
  fromLog(s: StoredEntry): Entry {
    if (s.kind === "batch") return { index: s.index, term: s.term, type: EntryType.Normal, data: encodeDataEntry(s.batchId ?? Buffer.alloc(16), s.payload) };
    if (s.kind === "control") return { index: s.index, term: s.term, type: s.entryType === EntryType.ConfChange ? EntryType.ConfChange : EntryType.Normal, data: s.payload };
    throw new Error(`entry ${s.index} is compacted; Raft never reads below a snapshot`);
  },
  // Partitions neither create nor install snapshots yet (the replica refuses a Ready that carries
  // one); when they do, the snapshot's data will carry {nextOffset, logStartOffset}.
  snapshotPosition: () => ({ nextOffset: 0n, logStartOffset: 0n }),
};
