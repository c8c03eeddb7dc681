/** What the crash test's child appends at each Raft index: deterministic, varied in size and kind. */
import type { AppendEntry } from "../broker/log/segment-log.js";
import { makeBatch } from "./log-fixtures.js";

export type ExpectedEntry = { kind: "batch"; records: number; entry: AppendEntry } | { kind: "control"; entry: AppendEntry };

export function expectedEntry(index: number, offset: bigint): ExpectedEntry {
  if (index % 10 === 0) {
    return { kind: "control", entry: { kind: "control", index, term: 1 + Math.floor(index / 100), entryType: 0, data: Buffer.from(`noop-${index}`) } };
  }
  const records = 1 + (index % 7);
  const batch = makeBatch(offset, records, { tag: `i${index}`, valueSize: (index * 977) % 6000 });
  const batchId = Buffer.alloc(16);
  batchId.writeUInt32BE(index, 0);
  return { kind: "batch", records, entry: { kind: "batch", index, term: 1 + Math.floor(index / 100), batch, batchId } };
}
