/**
 * Storage - disk faults: a full disk and a read-only disk give the caller a clear error, the log
 * refuses further appends, and nothing acknowledged before is lost after a reopen.
 *
 * What is real and what is injected: ENOSPC comes from the kernel, by pointing the next segment's
 * file name at /dev/full (every write to it fails with ENOSPC). We run as root in a container that
 * cannot mount, so a read-only filesystem (EROFS) and a disk that fills half-way through a write are
 * injected through the log's one I/O seam (`LogIo.writev`); the half write really lands on disk.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readlinkSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { GroupCommitter, type Syncer } from "../broker/log/group-committer.js";
import { LogErrorCode, type LogError } from "../broker/log/log-error.js";
import { segmentPath } from "../broker/log/segment.js";
import { SegmentLog, type LogIo } from "../broker/log/segment-log.js";
import { capturingLogger, makeBatch, tempDir } from "./log-fixtures.js";

const instantSyncer: Syncer = { parallelism: 1, sync: async () => [], close: async () => undefined };

async function appendN(log: SegmentLog, from: number, n: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = from; i < from + n; i++) {
    const batch = makeBatch(log.nextOffset, 2, { valueSize: 200, tag: `b${i}` });
    out.push(batch);
    await log.append([{ kind: "batch", index: i, term: 1, batch }]);
  }
  return out;
}

async function expectIntact(dir: string, acked: Buffer[]): Promise<void> {
  const log = await SegmentLog.open({ dir, committer: new GroupCommitter(instantSyncer), logger: capturingLogger().logger });
  assert.equal(log.lastIndex, acked.length);
  assert.deepEqual(await log.read(0n, 1 << 20), Buffer.concat(acked));
  // And it takes appends again once the disk is fine.
  await appendN(log, acked.length + 1, 1);
  await log.close();
}

test("storage - a full disk (ENOSPC from /dev/full) fails the append clearly and loses nothing acknowledged", async (t) => {
  const dir = tempDir(t);
  const { logger, lines } = capturingLogger();
  const log = await SegmentLog.open({ dir, committer: new GroupCommitter(instantSyncer), segmentBytes: 100, logger });
  const acked = await appendN(log, 1, 3);
  // Every frame is bigger than a segment, so the next append rolls to a new file: /dev/full.
  const next = segmentPath(dir, Number(log.nextOffset));
  symlinkSync("/dev/full", next);
  const full = appendN(log, 4, 3);
  await assert.rejects(full, (e: LogError) => e.code === LogErrorCode.DiskFull && /ENOSPC/.test(e.message));
  await assert.rejects(appendN(log, 5, 1), (e: LogError) => e.code === LogErrorCode.LogFailed);
  assert.ok(lines.some((l) => l.level === 50));
  assert.deepEqual(await log.read(0n, 1 << 20), Buffer.concat(acked), "reads still serve what was written");
  await log.close();
  await expectIntact(dir, acked);
  assert.throws(() => readlinkSync(next), "recovery removed the empty segment (the /dev/full link)");
});

test("storage - a read-only disk (EROFS) fails the append clearly and loses nothing acknowledged", async (t) => {
  const dir = tempDir(t);
  let readOnly = false;
  const io: LogIo = {
    writev: (fd, buffers, position) => {
      if (readOnly) return Promise.reject(Object.assign(new Error("EROFS: read-only file system, write"), { code: "EROFS" }));
      let n = 0;
      for (const b of buffers) n += writeSync(fd, b, 0, b.length, position + n);
      return Promise.resolve(n);
    },
  };
  const log = await SegmentLog.open({ dir, committer: new GroupCommitter(instantSyncer), io, logger: capturingLogger().logger });
  const acked = await appendN(log, 1, 4);
  readOnly = true;
  await assert.rejects(appendN(log, 5, 1), (e: LogError) => e.code === LogErrorCode.ReadOnly && /EROFS/.test(e.message));
  await log.close();
  await expectIntact(dir, acked);
});

test("storage - a disk that fills half-way through a write leaves a torn tail that reopening cuts", async (t) => {
  const dir = tempDir(t);
  let fillAfterBytes: number | undefined;
  const io: LogIo = {
    writev: (fd, buffers, position) => {
      let n = 0;
      for (const b of buffers) {
        const room = fillAfterBytes === undefined ? b.length : Math.min(b.length, fillAfterBytes - n);
        if (room <= 0) return Promise.reject(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }));
        n += writeSync(fd, b, 0, room, position + n);
        if (room < b.length) return Promise.reject(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }));
      }
      return Promise.resolve(n);
    },
  };
  const log = await SegmentLog.open({ dir, committer: new GroupCommitter(instantSyncer), io, logger: capturingLogger().logger });
  const acked = await appendN(log, 1, 4);
  fillAfterBytes = 150;
  await assert.rejects(appendN(log, 5, 1), (e: LogError) => e.code === LogErrorCode.DiskFull);
  await log.close();
  await expectIntact(dir, acked);
});

test("storage - a log directory that cannot be created gives a clear error", async (t) => {
  const dir = tempDir(t);
  // A regular file where the log directory should be: mkdir fails as it would on a broken mount.
  const blocked = join(dir, "blocked");
  writeFileSync(blocked, "not a directory");
  await assert.rejects(
    SegmentLog.open({ dir: join(blocked, "p0"), committer: new GroupCommitter(instantSyncer), logger: capturingLogger().logger }),
    (e: LogError) => e.code === LogErrorCode.IoError && /open log .*ENOTDIR/.test(e.message),
  );
});
