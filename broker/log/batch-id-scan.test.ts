import { test } from "node:test";
import assert from "node:assert/strict";
import { capturingLogger, keyedBatch, tempDir } from "../../test/log-fixtures.js";
import { GroupCommitter, type Syncer } from "./group-committer.js";
import { LogWorkerPool } from "./log-worker-pool.js";
import { SegmentLog } from "./segment-log.js";

const instantSyncer: Syncer = { parallelism: 1, sync: async () => [], close: async () => undefined };

test("batch-id scan - lists data entries' batch ids and offsets from an index on, in the worker pool", async (t) => {
  const committer = new GroupCommitter(instantSyncer);
  const pool = new LogWorkerPool();
  t.after(() => pool.close());
  const log = await SegmentLog.open({ dir: tempDir(t), committer, segmentBytes: 300, logger: capturingLogger().logger });
  let offset = 0n;
  for (let i = 1; i <= 12; i++) {
    if (i % 4 === 0) {
      await log.append([{ kind: "control", index: i, term: 1, entryType: 0, data: new Uint8Array(0) }]);
      continue;
    }
    const id = i === 5 ? undefined : Buffer.alloc(16, i);
    await log.append([{ kind: "batch", index: i, term: 1, batch: keyedBatch(offset, [[`k${i}`, "v"], [`j${i}`, "w"]], Date.now()), batchId: id }]);
    offset += 2n;
  }
  assert.ok(log.segmentCount > 2);
  const ids = await log.scanBatchIds(pool, 3);
  // Index 4, 8 and 12 are control entries; 5 has no batch id.
  assert.deepEqual(
    ids.map((e) => [e.index, e.offset, e.nextOffset, e.batchId[0]]),
    [
      [3, 4n, 6n, 3],
      [6, 8n, 10n, 6],
      [7, 10n, 12n, 7],
      [9, 12n, 14n, 9],
      [10, 14n, 16n, 10],
      [11, 16n, 18n, 11],
    ],
  );
  await log.close();
});
