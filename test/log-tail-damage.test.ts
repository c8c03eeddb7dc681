/**
 * Storage - tail damage: the last segment is cut at every byte of its last frame, and every byte
 * of that frame has a bit flipped. Recovery must keep exactly the entries before the damage, never
 * serve the damaged one, and say in the log what it cut.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Syncer } from "../broker/log/group-committer.js";
import { GroupCommitter } from "../broker/log/group-committer.js";
import { SegmentLog } from "../broker/log/segment-log.js";
import { capturingLogger, makeBatch, tempDir } from "./log-fixtures.js";

/** In-process damage tests need no real fsync: the page cache is what the next open reads. */
const instantSyncer: Syncer = { parallelism: 1, sync: async () => [], close: async () => undefined };

interface Built {
  dir: string;
  lastSegment: string;
  original: Buffer;
  lastFrameStart: number;
  keptBytes: Buffer;
  keptIndex: number;
}

/** A log of `n` batches; the last one small so that every byte can be damaged quickly. */
async function build(dir: string, n: number, segmentBytes: number, lastIsControl = false): Promise<Built> {
  const committer = new GroupCommitter(instantSyncer);
  const log = await SegmentLog.open({ dir, committer, segmentBytes, logger: capturingLogger().logger });
  for (let i = 1; i < n; i++) {
    await log.append([{ kind: "batch", index: i, term: 1, batch: makeBatch(BigInt((i - 1) * 3), 3, { valueSize: 40 }) }]);
  }
  const keptBytes = await log.read(0n, 1 << 20);
  const before = readdirSync(dir).filter((f) => f.endsWith(".log")).sort();
  const lastBefore = readFileSync(join(dir, before[before.length - 1])).length;
  if (lastIsControl) await log.append([{ kind: "control", index: n, term: 2, entryType: 1, data: Buffer.from("conf-change") }]);
  else await log.append([{ kind: "batch", index: n, term: 2, batch: makeBatch(BigInt((n - 1) * 3), 1) }]);
  await log.close();
  const files = readdirSync(dir).filter((f) => f.endsWith(".log")).sort();
  const lastSegment = join(dir, files[files.length - 1]);
  const original = readFileSync(lastSegment);
  // The last frame either went to the segment that was last before it, or started a new one.
  const lastFrameStart = files.length === before.length ? lastBefore : 0;
  return { dir, lastSegment, original, lastFrameStart, keptBytes, keptIndex: n - 1 };
}

async function reopenAndCheck(b: Built, what: string, expectCut: boolean): Promise<void> {
  const committer = new GroupCommitter(instantSyncer);
  const { logger, lines } = capturingLogger();
  const log = await SegmentLog.open({ dir: b.dir, committer, logger });
  try {
    assert.equal(log.lastIndex, b.keptIndex, `${what}: last index`);
    assert.deepEqual(await log.read(0n, 1 << 20), b.keptBytes, `${what}: the entries before the damage, byte for byte`);
    const cut = lines.find((l) => l.msg === "cut a torn or corrupt log tail");
    if (expectCut) {
      assert.ok(cut, `${what}: recovery logs what it cut`);
      assert.equal(cut.position, b.lastFrameStart, `${what}: cut position`);
    }
    // The log goes on from the cut.
    await log.append([{ kind: "control", index: b.keptIndex + 1, term: 3, entryType: 0, data: new Uint8Array(0) }]);
    assert.equal(log.lastIndex, b.keptIndex + 1);
  } finally {
    await log.close();
  }
}

for (const [name, segmentBytes, lastIsControl] of [
  ["in the middle of a segment", 1 << 20, false],
  ["alone in the last segment", 700, false],
  ["a control entry", 1 << 20, true],
] as const) {
  test(`storage - tail cut at every byte of the last frame (${name})`, async (t) => {
    const b = await build(tempDir(t), 6, segmentBytes, lastIsControl);
    const frameLength = b.original.length - b.lastFrameStart;
    assert.ok(frameLength > 52);
    for (let p = b.lastFrameStart + 1; p < b.original.length; p++) {
      writeFileSync(b.lastSegment, b.original.subarray(0, p));
      await reopenAndCheck(b, `cut at ${p}`, true);
    }
  });

  test(`storage - a bit flipped in every byte of the last frame (${name})`, async (t) => {
    const b = await build(tempDir(t), 6, segmentBytes, lastIsControl);
    for (let p = b.lastFrameStart; p < b.original.length; p++) {
      const damaged = Buffer.from(b.original);
      damaged[p] ^= 1 << (p % 8);
      writeFileSync(b.lastSegment, damaged);
      await reopenAndCheck(b, `bit ${p % 8} of byte ${p}`, true);
    }
  });
}

/** A closed log of 12 entries of ~100 bytes over several 600-byte segments (oldest first). */
async function twelveEntriesInSegments(dir: string): Promise<{ dir: string; committer: GroupCommitter; segments: string[] }> {
  const committer = new GroupCommitter(instantSyncer);
  const log = await SegmentLog.open({ dir, committer, segmentBytes: 600, logger: capturingLogger().logger });
  for (let i = 1; i <= 12; i++) await log.append([{ kind: "batch", index: i, term: 1, batch: makeBatch(BigInt(i - 1), 1, { valueSize: 100 }) }]);
  await log.close();
  return { dir, committer, segments: readdirSync(dir).filter((f) => f.endsWith(".log")).sort() };
}

test("storage - damage inside a sealed segment without its index cuts the log there", async (t) => {
  const { dir, committer, segments } = await twelveEntriesInSegments(tempDir(t));
  assert.ok(segments.length >= 3);
  // Damage the second segment's second frame and remove its index, as after a crash mid-seal.
  const second = join(dir, segments[1]);
  const bytes = readFileSync(second);
  const firstFrameLength = bytes.readUInt32LE(4);
  bytes[firstFrameLength + 60] ^= 0x10;
  writeFileSync(second, bytes);
  writeFileSync(second.replace(/\.log$/, ".index"), Buffer.alloc(0));
  const { logger, lines } = capturingLogger();
  const reopened = await SegmentLog.open({ dir, committer, logger });
  assert.equal(reopened.segmentCount, 2);
  const kept = await reopened.readEntries(1, 100, 1 << 20);
  assert.equal(kept[kept.length - 1].index, kept.length);
  assert.equal(reopened.lastIndex, kept.length);
  assert.ok(lines.some((l) => l.msg === "deleted a segment that follows a corrupt one"));
  assert.equal(readdirSync(dir).filter((f) => f.endsWith(".log")).length, 2);
  await reopened.close();
});

test("storage - a sealed segment whose index is valid but whose last frame is damaged is rescanned and cut", async (t) => {
  const { dir, committer, segments } = await twelveEntriesInSegments(tempDir(t));
  const first = join(dir, segments[0]);
  const bytes = readFileSync(first);
  bytes[bytes.length - 5] ^= 0x01; // inside the last frame's batch
  writeFileSync(first, bytes);
  const { logger, lines } = capturingLogger();
  const reopened = await SegmentLog.open({ dir, committer, logger });
  assert.ok(reopened.lastIndex >= 1 && reopened.lastIndex < 12);
  assert.equal(reopened.segmentCount, 1);
  assert.ok(lines.some((l) => l.msg === "cut a torn or corrupt log tail"));
  assert.deepEqual((await reopened.readEntries(1, 100, 1 << 20)).map((e) => e.index), Array.from({ length: reopened.lastIndex }, (_, i) => i + 1));
  await reopened.close();
});
