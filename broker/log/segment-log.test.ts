import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeRecords, readBatchHeader } from "../../protocol/record-batch.js";
import { capturingLogger, makeBatch, ManualSyncer, releaseUntil, settle, tempDir } from "../../test/log-fixtures.js";
import { GroupCommitter } from "./group-committer.js";
import { LogError, LogErrorCode } from "./log-error.js";
import { SegmentLog, type AppendEntry, type SegmentLogOptions } from "./segment-log.js";

/** A log whose fsyncs complete at once (a ManualSyncer released on every request). */
async function openLog(dir: string, extra: Partial<SegmentLogOptions> = {}): Promise<{ log: SegmentLog; syncer: ManualSyncer; committer: GroupCommitter }> {
  const syncer = new ManualSyncer();
  const autoRelease = syncer.sync.bind(syncer);
  syncer.sync = (fds) => {
    const p = autoRelease(fds);
    syncer.release();
    return p;
  };
  const committer = new GroupCommitter(syncer);
  const log = await SegmentLog.open({ dir, committer, logger: capturingLogger().logger, ...extra });
  return { log, syncer, committer };
}

/** Appends `n` batches of `perBatch` records, one Raft entry each, continuing the log. */
async function appendBatches(log: SegmentLog, n: number, perBatch: number, term = 1): Promise<Buffer[]> {
  const batches: Buffer[] = [];
  const entries: AppendEntry[] = [];
  let offset = log.nextOffset;
  let index = log.lastIndex;
  for (let i = 0; i < n; i++) {
    const batch = makeBatch(offset, perBatch, { tag: `b${index + 1}` });
    batches.push(batch);
    entries.push({ kind: "batch", index: ++index, term, batch, batchId: Buffer.alloc(16, index & 0xff) });
    offset += BigInt(perBatch);
  }
  await log.append(entries);
  return batches;
}

function offsetsIn(bytes: Buffer): bigint[] {
  const out: bigint[] = [];
  for (let at = 0; at < bytes.length; ) {
    const h = readBatchHeader(bytes, at);
    out.push(h.baseOffset);
    at += h.size;
  }
  return out;
}

test("segment log - append then read returns the raw batches back to back", async (t) => {
  const { log } = await openLog(tempDir(t));
  const batches = await appendBatches(log, 5, 3);
  assert.equal(log.lastIndex, 5);
  assert.equal(log.nextOffset, 15n);
  const all = await log.read(0n, 1 << 20);
  assert.deepEqual(all, Buffer.concat(batches));
  // An offset inside a batch returns that whole batch first.
  assert.deepEqual(offsetsIn(await log.read(7n, 1 << 20)), [6n, 9n, 12n]);
  // The byte limit is honoured, but at least one batch always comes back.
  assert.deepEqual(offsetsIn(await log.read(0n, 1)), [0n]);
  assert.deepEqual(offsetsIn(await log.read(0n, batches[0].length + batches[1].length)), [0n, 3n]);
  // maxOffset (the high watermark) stops before batches that start at or after it.
  assert.deepEqual(offsetsIn(await log.read(0n, 1 << 20, 6n)), [0n, 3n]);
  assert.equal((await log.read(15n, 1 << 20)).length, 0);
  const records = decodeRecords(await log.read(4n, 1));
  assert.deepEqual(records.map((r) => r.offset), [3n, 4n, 5n]);
  await log.close();
});

test("segment log - control entries take a Raft index but no offsets", async (t) => {
  const { log } = await openLog(tempDir(t));
  await appendBatches(log, 1, 2, 1);
  await log.append([{ kind: "control", index: 2, term: 2, entryType: 0, data: new Uint8Array(0) }]);
  await log.append([{ kind: "control", index: 3, term: 2, entryType: 1, data: Buffer.from("conf") }]);
  await appendBatches(log, 1, 2, 2);
  assert.equal(log.lastIndex, 4);
  assert.equal(log.nextOffset, 4n);
  assert.deepEqual(offsetsIn(await log.read(0n, 1 << 20)), [0n, 2n]);
  const entries = await log.readEntries(1, 5, 1 << 20);
  assert.deepEqual(
    entries.map((e) => [e.kind, e.index, e.term, e.entryType, e.offset]),
    [
      ["batch", 1, 1, 0, 0n],
      ["control", 2, 2, 0, 2n],
      ["control", 3, 2, 1, 2n],
      ["batch", 4, 2, 0, 2n],
    ],
  );
  assert.equal(entries[2].payload.toString(), "conf");
  assert.deepEqual(entries[0].batchId, Buffer.alloc(16, 1));
  assert.deepEqual([log.termAt(1), log.termAt(2), log.termAt(4), log.termAt(5)], [1, 2, 2, undefined]);
  await log.close();
});

test("segment log - appends that do not continue the log are refused", async (t) => {
  const { log } = await openLog(tempDir(t));
  await appendBatches(log, 2, 2);
  const gap = log.append([{ kind: "batch", index: 4, term: 1, batch: makeBatch(4n, 1) }]);
  await assert.rejects(gap, (e: LogError) => e.code === LogErrorCode.NonContiguous);
  const wrongOffset = log.append([{ kind: "batch", index: 3, term: 1, batch: makeBatch(7n, 1) }]);
  await assert.rejects(wrongOffset, (e: LogError) => e.code === LogErrorCode.NonContiguous);
  const olderTerm = log.append([{ kind: "control", index: 3, term: 0, entryType: 0, data: new Uint8Array(0) }]);
  await assert.rejects(olderTerm, (e: LogError) => e.code === LogErrorCode.NonContiguous);
  await appendBatches(log, 1, 2);
  assert.equal(log.lastIndex, 3);
  await log.close();
});

test("segment log - state, offsets, terms and batch ids survive a reopen", async (t) => {
  const dir = tempDir(t);
  const first = await openLog(dir, { segmentBytes: 600 });
  const batches = [...(await appendBatches(first.log, 10, 4, 1)), ...(await appendBatches(first.log, 10, 4, 3))];
  await first.log.close();
  assert.ok(first.log.segmentCount > 3, "small segments roll");
  const { log } = await openLog(dir, { segmentBytes: 600 });
  assert.equal(log.lastIndex, 20);
  assert.equal(log.nextOffset, 80n);
  assert.equal(log.termAt(10), 1);
  assert.equal(log.termAt(11), 3);
  assert.equal(log.lastTerm, 3);
  assert.deepEqual(await log.read(0n, 1 << 20), Buffer.concat(batches));
  const e = await log.readEntries(13, 14, 1);
  assert.deepEqual(e[0].batchId, Buffer.alloc(16, 13));
  await log.close();
});

test("segment log - a missing or stale index is rebuilt from the segment", async (t) => {
  const dir = tempDir(t);
  const first = await openLog(dir, { segmentBytes: 500, indexIntervalBytes: 64 });
  const batches = await appendBatches(first.log, 20, 3);
  await first.log.close();
  const indexes = readdirSync(dir).filter((n) => n.endsWith(".index")).sort();
  assert.ok(indexes.length >= 3);
  rmSync(join(dir, indexes[0]));
  const stale = readFileSync(join(dir, indexes[1]));
  stale[stale.length - 1] ^= 0xff;
  writeFileSync(join(dir, indexes[1]), stale);
  const { log } = await openLog(dir, { segmentBytes: 500, indexIntervalBytes: 64 });
  assert.deepEqual(await log.read(0n, 1 << 20), Buffer.concat(batches));
  assert.deepEqual(offsetsIn(await log.read(31n, 1)), [30n]);
  await log.close();
  assert.equal(readdirSync(dir).filter((n) => n.endsWith(".index")).length, indexes.length, "rebuilt indexes are written back");
});

test("segment log - truncation removes a suffix within and across segments", async (t) => {
  const dir = tempDir(t);
  const { log } = await openLog(dir, { segmentBytes: 500 });
  const batches = await appendBatches(log, 20, 2);
  const segmentsBefore = log.segmentCount;
  await log.truncateFromIndex(18);
  assert.equal(log.lastIndex, 17);
  assert.equal(log.nextOffset, 34n);
  await log.truncateFromIndex(6);
  assert.equal(log.lastIndex, 5);
  assert.equal(log.nextOffset, 10n);
  assert.ok(log.segmentCount < segmentsBefore);
  assert.deepEqual(await log.read(0n, 1 << 20), Buffer.concat(batches.slice(0, 5)));
  const again = await appendBatches(log, 3, 2, 2);
  assert.equal(log.termAt(6), 2);
  await log.close();
  const reopened = (await openLog(dir, { segmentBytes: 500 })).log;
  assert.equal(reopened.lastIndex, 8);
  assert.deepEqual(await reopened.read(0n, 1 << 20), Buffer.concat([...batches.slice(0, 5), ...again]));
  await reopened.truncateFromIndex(1);
  assert.equal(reopened.lastIndex, 0);
  assert.equal(reopened.nextOffset, 0n);
  await appendBatches(reopened, 1, 1, 3);
  assert.equal(reopened.lastIndex, 1);
  await reopened.close();
});

test("segment log - truncation from an offset drops the batch holding it and all after", async (t) => {
  const { log } = await openLog(tempDir(t));
  await appendBatches(log, 4, 3);
  await log.truncateFromOffset(7n);
  assert.equal(log.lastIndex, 2);
  assert.equal(log.nextOffset, 6n);
  await log.close();
});

test("segment log - retention deletes whole old segments by size and by time, never the active one", async (t) => {
  const dir = tempDir(t);
  const { log } = await openLog(dir, { segmentBytes: 400 });
  await appendBatches(log, 30, 2);
  const segments = log.segmentCount;
  assert.ok(segments >= 5);
  const size = log.sizeBytes;
  const deleted = await log.enforceRetention({ now: Date.now(), retentionBytes: Math.floor(size / 2) });
  assert.ok(deleted > 0);
  assert.ok(log.sizeBytes >= Math.floor(size / 2));
  assert.ok(log.logStartOffset > 0n);
  await assert.rejects(log.read(0n, 100), (e: LogError) => e.code === LogErrorCode.OutOfRange);
  // maxIndex keeps segments that hold entries not yet covered by a snapshot.
  assert.equal(await log.enforceRetention({ now: Date.now(), retentionMs: 0, maxIndex: log.firstIndex }), 0);
  // Batches are stamped at 1.7e12 ms: all expired, but the active segment stays.
  await log.enforceRetention({ now: Date.now(), retentionMs: 1000 });
  assert.equal(log.segmentCount, 1);
  assert.equal(log.lastIndex, 30);
  await log.close();
  const reopened = (await openLog(dir)).log;
  assert.equal(reopened.segmentCount, 1);
  assert.equal(reopened.lastIndex, 30);
  await reopened.close();
});

test("segment log - reset empties the log and starts it where a snapshot ends", async (t) => {
  const dir = tempDir(t);
  const { log } = await openLog(dir);
  await appendBatches(log, 3, 2);
  await log.reset(100, 500n);
  assert.equal(log.firstIndex, 100);
  assert.equal(log.lastIndex, 99);
  assert.equal(log.nextOffset, 500n);
  await log.close();
  // The empty log remembers where it continues.
  const reopened = (await openLog(dir)).log;
  assert.equal(reopened.firstIndex, 100);
  assert.equal(reopened.nextOffset, 500n);
  await appendBatches(reopened, 1, 2, 5);
  assert.deepEqual(offsetsIn(await reopened.read(500n, 100)), [500n]);
  await reopened.close();
});

test("group commit - an append resolves only after an fsync that started after its write", async (t) => {
  const syncer = new ManualSyncer();
  const committer = new GroupCommitter(syncer);
  const dirs = [tempDir(t), tempDir(t)];
  const logs = await Promise.all(dirs.map((dir) => SegmentLog.open({ dir, committer, logger: capturingLogger().logger })));
  let resolved = 0;
  const appends = logs.flatMap((log) =>
    [1, 2, 3].map((i) => log.append([{ kind: "batch", index: i, term: 1, batch: makeBatch(BigInt(i - 1), 1) }]).then(() => resolved++)),
  );
  while (logs.some((l) => l.lastIndex < 3)) await settle();
  await settle();
  assert.equal(resolved, 0, "nothing resolves before its fsync");
  assert.ok(syncer.pending > 0);
  await releaseUntil(syncer, Promise.all(appends));
  assert.equal(resolved, 6);
  // Every write was done before the first cycle ended: both logs' files shared few cycles.
  assert.ok(committer.stats.cycles <= 2, `cycles ${committer.stats.cycles}`);
  assert.ok(committer.stats.fsyncs <= 4, `fsyncs ${committer.stats.fsyncs}`);
  for (const l of logs) await releaseUntil(syncer, l.close());
  await committer.close();
});

test("group commit - a failed fsync fails the append and the log; reopening keeps what was acknowledged", async (t) => {
  const dir = tempDir(t);
  const syncer = new ManualSyncer();
  const committer = new GroupCommitter(syncer);
  const { logger, lines } = capturingLogger();
  const log = await SegmentLog.open({ dir, committer, logger });
  await releaseUntil(syncer, log.append([{ kind: "batch", index: 1, term: 1, batch: makeBatch(0n, 2) }]));
  syncer.failNext = "EIO";
  const lost = log.append([{ kind: "batch", index: 2, term: 1, batch: makeBatch(2n, 2) }]);
  await releaseUntil(syncer, lost).catch(() => undefined);
  await assert.rejects(lost, (e: LogError) => e.code === LogErrorCode.IoError && /EIO/.test(e.message));
  await assert.rejects(
    log.append([{ kind: "batch", index: 3, term: 1, batch: makeBatch(4n, 2) }]),
    (e: LogError) => e.code === LogErrorCode.LogFailed,
  );
  assert.ok(lines.some((l) => l.level === 50 && String(l.msg).includes("log failed")));
  await log.close();
  await committer.close();
  const reopened = (await openLog(dir)).log;
  assert.ok(reopened.lastIndex >= 1);
  assert.deepEqual(offsetsIn(await reopened.read(0n, 1)), [0n]);
  await reopened.close();
});

test("group commit - a truncation rejects removed appends that were not yet durable", async (t) => {
  const syncer = new ManualSyncer();
  const committer = new GroupCommitter(syncer);
  const log = await SegmentLog.open({ dir: tempDir(t), committer, logger: capturingLogger().logger });
  const kept = log.append([{ kind: "batch", index: 1, term: 1, batch: makeBatch(0n, 1) }]);
  const removed = log.append([{ kind: "batch", index: 2, term: 1, batch: makeBatch(1n, 1) }]);
  const refused = assert.rejects(removed, (e: LogError) => e.code === LogErrorCode.Truncated);
  await log.truncateFromIndex(2);
  await refused;
  await releaseUntil(syncer, kept);
  assert.equal(log.lastIndex, 1);
  await releaseUntil(syncer, log.close());
  await committer.close();
});

test("segment log - a read that races retention still returns whole batches it started with", async (t) => {
  const { log } = await openLog(tempDir(t), { segmentBytes: 400 });
  const batches = await appendBatches(log, 40, 2);
  const reading = log.read(0n, 1 << 20);
  const deleting = log.enforceRetention({ now: Date.now(), retentionBytes: 1 });
  const [bytes, deleted] = await Promise.all([reading, deleting]);
  assert.ok(deleted > 0);
  assert.deepEqual(bytes, Buffer.concat(batches));
  assert.ok(log.logStartOffset > 0n);
  await log.close();
});

test("segment log - reads leave the headroom asked for and match a plain model at every offset, budget and limit", async (t) => {
  const { log } = await openLog(tempDir(t), { segmentBytes: 700, indexIntervalBytes: 100 });
  // Batches of varied sizes with control entries between some of them, over several segments.
  const batches: Buffer[] = [];
  for (let i = 0; i < 12; i++) {
    const index = log.lastIndex + 1;
    const batch = makeBatch(log.nextOffset, 1 + (i % 4), { tag: `v${"x".repeat(i * 7)}` });
    const entries: AppendEntry[] = [{ kind: "batch", index, term: 1, batch }];
    if (i % 3 === 1) entries.push({ kind: "control", index: index + 1, term: 1, entryType: 0, data: Buffer.from("noop") });
    await log.append(entries);
    batches.push(batch);
  }
  assert.ok(log.segmentCount > 3);
  const starts = batches.map((b) => readBatchHeader(b, 0).baseOffset);
  /** The model: the batch holding `offset`, then whole batches below `limit` while within `maxBytes`. */
  const expected = (offset: bigint, maxBytes: number, limit: bigint): Buffer => {
    const out: Buffer[] = [];
    let total = 0;
    for (const [i, b] of batches.entries()) {
      const next = i + 1 < starts.length ? starts[i + 1] : log.nextOffset;
      if (next <= offset) continue;
      if (starts[i] >= limit || (total > 0 && total + b.length > maxBytes)) break;
      out.push(b);
      total += b.length;
      if (total >= maxBytes) break;
    }
    return Buffer.concat(out);
  };
  const headroom = 32;
  for (let offset = 0n; offset <= log.nextOffset; offset++) {
    for (const maxBytes of [1, 150, 400, 1000, 1 << 20]) {
      for (const limit of [log.nextOffset, offset + 5n]) {
        const got = await log.read(offset, maxBytes, limit, headroom);
        assert.equal(got.length >= headroom, true);
        assert.deepEqual(got.subarray(headroom), expected(offset, maxBytes, limit), `offset ${offset}, maxBytes ${maxBytes}, limit ${limit}`);
      }
    }
  }
  await log.close();
});
