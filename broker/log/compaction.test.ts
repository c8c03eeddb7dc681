import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeRecords, iterateBatches } from "../../protocol/record-batch.js";
import { capturingLogger, keyedBatch, tempDir } from "../../test/log-fixtures.js";
import { LogWorkerPool } from "./log-worker-pool.js";
import { GroupCommitter, type Syncer } from "./group-committer.js";
import { SegmentLog } from "./segment-log.js";

const instantSyncer: Syncer = { parallelism: 1, sync: async () => [], close: async () => undefined };
const DAY = 24 * 3600 * 1000;
const now = 1_800_000_000_000;

async function allRecords(log: SegmentLog): Promise<Array<[bigint, string, string | null]>> {
  const bytes = await log.read(log.logStartOffset, 1 << 24);
  const out: Array<[bigint, string, string | null]> = [];
  for (const span of iterateBatches(bytes)) {
    for (const r of decodeRecords(bytes.subarray(span.at, span.at + span.size))) {
      out.push([r.offset, Buffer.from(r.key!).toString(), r.value === null ? null : Buffer.from(r.value).toString()]);
    }
  }
  return out;
}

test("compaction - keeps the latest record per key at its offset, drops old tombstones, leaves the active segment", async (t) => {
  const dir = tempDir(t);
  const committer = new GroupCommitter(instantSyncer);
  const pool = new LogWorkerPool();
  t.after(() => pool.close());
  const log = await SegmentLog.open({ dir, committer, segmentBytes: 300, logger: capturingLogger().logger });
  const old = now - 3 * DAY;
  const plan: Array<Array<[string, string | null]>> = [
    [["a", "a1"], ["b", "b1"], ["c", "c1"]], // offsets 0-2
    [["a", "a2"], ["d", "d1"]], // 3-4
    [["b", null], ["e", "e1"]], // 5-6: b deleted long ago
    [["c", "c2"], ["a", "a3"]], // 7-8
    [["e", null]], // 9: e deleted recently
    [["d", "d2"]], // 10: stays in the active segment
  ];
  let index = 0;
  let offset = 0n;
  for (const [i, records] of plan.entries()) {
    const ts = i === 4 || i === 5 ? now - 1000 : old;
    await log.append([{ kind: "batch", index: ++index, term: i > 2 ? 2 : 1, batch: keyedBatch(offset, records, ts) }]);
    offset += BigInt(records.length);
    if (i === 2) await log.append([{ kind: "control", index: ++index, term: 2, entryType: 0, data: new Uint8Array(0) }]);
  }
  const segmentsBefore = log.segmentCount;
  assert.ok(segmentsBefore >= 3);
  const report = await log.compact({ pool, maxIndex: log.lastIndex, now, tombstoneRetentionMs: DAY });
  assert.ok(report.segmentsRewritten > 0);
  // a: a3 supersedes a1, a2. b: deleted 3 days ago, past the 1-day tombstone retention: gone.
  // c: c2. d: d2 sits in the active segment (never rewritten) but still supersedes d1.
  // e: deleted a second ago: the tombstone stays so consumers see the delete.
  assert.deepEqual(await allRecords(log), [
    [7n, "c", "c2"],
    [8n, "a", "a3"],
    [9n, "e", null],
    [10n, "d", "d2"],
  ]);
  // Raft indexes, terms and the log end are unchanged.
  assert.equal(log.lastIndex, index);
  assert.equal(log.nextOffset, 11n);
  assert.equal(log.termAt(4), 2);
  assert.deepEqual((await log.readEntries(1, index + 1, 1 << 20)).map((e) => e.index), [1, 2, 3, 4, 5, 6, 7]);
  // A read from an offset that compaction removed starts at the next surviving record.
  const [first] = await allRecordsFrom(log, 1n);
  assert.equal(first[0], 7n);
  await log.close();

  const reopened = await SegmentLog.open({ dir, committer, logger: capturingLogger().logger });
  assert.equal(reopened.lastIndex, index);
  assert.deepEqual((await allRecords(reopened)).map(([o]) => o), [7n, 8n, 9n, 10n]);
  await reopened.close();
});

async function allRecordsFrom(log: SegmentLog, offset: bigint): Promise<Array<[bigint]>> {
  const bytes = await log.read(offset, 1 << 20);
  const out: Array<[bigint]> = [];
  for (const span of iterateBatches(bytes)) for (const r of decodeRecords(bytes.subarray(span.at, span.at + span.size))) out.push([r.offset]);
  return out;
}

test("compaction - entries above maxIndex are neither compacted nor trusted as newer", async (t) => {
  const committer = new GroupCommitter(instantSyncer);
  const pool = new LogWorkerPool();
  t.after(() => pool.close());
  const log = await SegmentLog.open({ dir: tempDir(t), committer, segmentBytes: 200, logger: capturingLogger().logger });
  for (let i = 0; i < 6; i++) await log.append([{ kind: "batch", index: i + 1, term: 1, batch: keyedBatch(BigInt(i), [["k", `v${i}`]], now) }]);
  // Only entries 1..2 are covered by a snapshot: v2.. might still be truncated, so v0 and v1
  // compete only with each other.
  await log.compact({ pool, maxIndex: 2, now, tombstoneRetentionMs: DAY });
  assert.deepEqual((await allRecords(log)).map(([o]) => o), [1n, 2n, 3n, 4n, 5n]);
  await log.close();
});

test("compaction - appends go on while a compaction runs", async (t) => {
  const committer = new GroupCommitter(instantSyncer);
  const pool = new LogWorkerPool();
  t.after(() => pool.close());
  const log = await SegmentLog.open({ dir: tempDir(t), committer, segmentBytes: 4096, logger: capturingLogger().logger });
  let index = 0;
  for (let i = 0; i < 200; i++) await log.append([{ kind: "batch", index: ++index, term: 1, batch: keyedBatch(BigInt(i), [[`k${i % 10}`, `v${i}`]], now) }]);
  const compaction = log.compact({ pool, maxIndex: log.lastIndex, now, tombstoneRetentionMs: DAY });
  const appends: Array<Promise<void>> = [];
  for (let i = 200; i < 260; i++) appends.push(log.append([{ kind: "batch", index: ++index, term: 1, batch: keyedBatch(BigInt(i), [[`k${i % 10}`, `v${i}`]], now) }]));
  await Promise.all([compaction, ...appends]);
  const records = await allRecords(log);
  assert.equal(records[records.length - 1][0], 259n);
  assert.ok(records.length < 200, "older duplicates were removed");
  const offsets = records.map(([o]) => o);
  assert.deepEqual(offsets, [...offsets].sort((a, b) => (a < b ? -1 : 1)), "offsets stay in order");
  await log.close();
});
